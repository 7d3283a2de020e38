/**
 * Push: store → registry. Blobs first (config and layers, each skipped when the registry has it,
 * mounted from another repository of the same registry when this image came from one, uploaded
 * otherwise), then the manifest, byte for byte as stored, so the digest the registry reports is
 * the one box already knows.
 */
import { BoxError } from "../../errors.ts";
import type { BoxPaths } from "../../paths.ts";
import { type Descriptor, parseManifest } from "../../schema/oci.ts";
import { ImageReference, parseReference } from "../reference.ts";
import { loadRegistriesConfig } from "../registries-config.ts";
import type { PushBlobResult, RegistryClient } from "../registry/client.ts";
import { blobPath, hasBlob, readBlob } from "../store/blobs.ts";
import { type ImageRecord, updateIndex } from "../store/images.ts";
import { asWriter } from "../store/gc.ts";
import { storeLayout, type StoreLayout } from "../store/layout.ts";
import { storedNames } from "../store/lookup.ts";
import { requireImage } from "../local.ts";
import { connect, type ConnectOptions } from "./connect.ts";

export type PushEvent =
  | { type: "resolved"; reference: string; layers: string[] }
  | { type: "layer"; digest: string; status: "waiting" | "uploading" | "pushed" | "exists" | "mounted"; done?: number | undefined; total?: number | undefined };

export interface PushOptions extends ConnectOptions {
  /** Upload in PATCH chunks of this many bytes instead of one PUT. */
  chunkSize?: number | undefined;
  onEvent?: ((event: PushEvent) => void) | undefined;
}

export interface PushResult {
  reference: string;
  tag: string;
  digest: string;
  size: number;
}

const PUSH_CONCURRENCY = 3;

/** Where to push: DEST when given, else the name the user typed as it is stored. */
function destination(image: ImageRecord, source: string, dest: string | undefined, search: readonly string[]): ImageReference {
  if (dest !== undefined) return parseReference(dest);
  const ref = parseReference(source);
  const stored = storedNames(ref, search).find((n) => image.names.includes(n));
  return stored === undefined ? ref : parseReference(stored);
}

/** A repository on the same registry that already holds this image's blobs. */
function mountSource(image: ImageRecord, dest: ImageReference): string | undefined {
  for (const d of image.repoDigests) {
    const name = parseReference(d);
    if (name.registry === dest.registry && name.repository !== dest.repository) return name.repository;
  }
  return undefined;
}

export async function pushImage(paths: BoxPaths, source: string, dest: string | undefined, options: PushOptions = {}): Promise<PushResult> {
  const layout = storeLayout(paths.storage);
  const registries = loadRegistriesConfig(paths);
  const image = await requireImage(paths, source);
  const target = destination(image, source, dest, registries.search);
  if (target.digest !== undefined) {
    throw new BoxError("E_INVALID_INPUT", `cannot push to ${target.familiar()}: a push destination names a tag, not a digest`, { hint: "write it as NAME[:TAG]" });
  }
  const manifestBytes = readBlob(layout, image.manifest);
  const manifest = parseManifest(manifestBytes);
  if (manifest.kind !== "manifest") throw new BoxError("E_BAD_STATE", `stored manifest ${image.manifest} is not an image manifest`);
  const client = connect(target.registry, registries, options);
  const mountFrom = mountSource(image, target);
  const blobs = [manifest.manifest.config, ...manifest.manifest.layers];
  for (const b of blobs) {
    if (!hasBlob(layout, b.digest)) {
      throw new BoxError("E_BAD_STATE", `cannot push ${source}: blob ${b.digest} is missing from the store`, { hint: "pull the image again to restore its blobs" });
    }
  }
  options.onEvent?.({ type: "resolved", reference: target.toString(), layers: manifest.manifest.layers.map((l) => l.digest) });
  // As a writer: a garbage collection must not take the blobs away while they are being sent.
  return asWriter(layout, () => sendImage(client, target, blobs, manifestBytes, manifest.mediaType, image.id, mountFrom, layout, options));
}

async function sendImage(
  client: RegistryClient,
  target: ImageReference,
  blobs: Descriptor[],
  manifestBytes: Uint8Array,
  mediaType: string,
  id: string,
  mountFrom: string | undefined,
  layout: StoreLayout,
  options: PushOptions,
): Promise<PushResult> {
  const queue = [...new Map(blobs.map((b) => [b.digest, b])).values()];
  const worker = async (): Promise<void> => {
    for (let b = queue.shift(); b !== undefined; b = queue.shift()) {
      const digest = b.digest;
      const emit = (status: "uploading" | PushBlobResult, done?: number, total?: number): void =>
        options.onEvent?.({ type: "layer", digest, status: status === "uploaded" ? "pushed" : status, done, total });
      const result = await client.pushBlob(target.repository, digest, Bun.file(blobPath(layout, digest)), {
        mountFrom,
        chunkSize: options.chunkSize,
        onProgress: (p) => emit("uploading", p.done, p.total),
      });
      emit(result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PUSH_CONCURRENCY, queue.length) }, worker));
  const tag = target.tag ?? "latest";
  const digest = await client.putManifest(target.repository, tag, manifestBytes, mediaType);
  const repoDigest = `${target.name}@${digest}`;
  updateIndex(layout, (index) => {
    const stored = index.images.find((i) => i.id === id);
    if (stored !== undefined && !stored.repoDigests.includes(repoDigest)) stored.repoDigests.push(repoDigest);
  });
  return { reference: target.toString(), tag, digest, size: manifestBytes.byteLength };
}
