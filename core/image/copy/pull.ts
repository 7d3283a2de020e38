/**
 * Pull: registry → store. The manifest for this platform and its config are fetched and checked,
 * then every layer streams concurrently through ingestLayer (download, verify, unpack in one pass),
 * and only then is the image's record written, so an interrupted pull leaves no image behind,
 * only blobs and layers that the next pull reuses or the next collection removes.
 */
import { BoxError } from "../../errors.ts";
import type { BoxPaths } from "../../paths.ts";
import { LAYER_MEDIA_TYPES, MediaType, parseImageConfig, type ImageConfig, type ParsedImageManifest } from "../../schema/oci.ts";
import { isBaseReference } from "../base-config.ts";
import { importBaseImage } from "../builtin.ts";
import { candidates, ImageReference, parseReference } from "../reference.ts";
import { loadRegistriesConfig, type RegistriesConfig } from "../registries-config.ts";
import type { PlatformSpec, RegistryClient } from "../registry/client.ts";
import { hasBlob, readBlob, writeBlob } from "../store/blobs.ts";
import { asWriter, sweepIfIdle } from "../store/gc.ts";
import { type ImageRecord, putImage, readIndex, updateIndex } from "../store/images.ts";
import { ingestLayer, layerSize } from "../store/ingest.ts";
import { prepareStore, storeLayout, type StoreLayout } from "../store/layout.ts";
import { connect, type ConnectOptions } from "./connect.ts";

export type LayerStatus = "exists" | "waiting" | "downloading" | "extracting" | "done";

export type PullEvent =
  | { type: "resolved"; reference: string; digest: string; layers: { digest: string; size: number }[] }
  | { type: "layer"; digest: string; status: LayerStatus; done?: number | undefined; total?: number | undefined };

export interface PullOptions extends ConnectOptions {
  platform?: PlatformSpec | undefined;
  onEvent?: ((event: PullEvent) => void) | undefined;
}

export interface PullResult {
  image: ImageRecord;
  /** The fully qualified reference pulled ("docker.io/library/alpine:3.20"). */
  reference: string;
  /** The digest the registry serves it under (the index's when it was multi-platform). */
  digest: string;
  /** False when the store already had this exact image. */
  fresh: boolean;
  /** Rootless: files whose non-root owner the user's id map lacks, now the user's. */
  ownersLost?: number;
}

/** Layers downloaded at once; podman's default is 6, and a loopback registry saturates earlier. */
const LAYER_CONCURRENCY = 4;

export async function pullImage(paths: BoxPaths, input: string, options: PullOptions = {}): Promise<PullResult> {
  const layout = storeLayout(paths.storage);
  if (isBaseReference(input)) {
    const had = readIndex(layout).images.length;
    const image = await importBaseImage(layout, paths.rootless);
    return { image, reference: "base:latest", digest: image.manifest, fresh: readIndex(layout).images.length !== had };
  }
  const config = loadRegistriesConfig(paths);
  const ref = parseReference(input);
  if (ref.shortName !== undefined && config.search.length === 0) throw noSearchRegistries(input, config);
  const tries = candidates(ref, config.search);
  let firstError: unknown;
  for (const candidate of tries) {
    try {
      return await pullFrom(layout, paths.rootless, candidate, config, options);
    } catch (err) {
      // A name another search registry may have: try the next one, report the first failure.
      const retryable = err instanceof BoxError && (err.code === "E_NOT_FOUND" || err.code === "E_PERMISSION");
      if (!retryable || tries.length === 1) throw err;
      firstError ??= err;
    }
  }
  throw firstError;
}

function noSearchRegistries(input: string, config: RegistriesConfig): BoxError {
  return new BoxError("E_NOT_FOUND", `image \`${input}\` is not known locally, and no search registries are configured to pull a short name from`, {
    hint: `write the registry into the name (e.g. docker.io/library/${input}) or list registries under "unqualified-search-registries" in ${config.path}`,
  });
}

async function fetchConfig(client: RegistryClient, layout: StoreLayout, repository: string, manifest: ParsedImageManifest): Promise<{ bytes: Uint8Array; config: ImageConfig }> {
  const desc = manifest.manifest.config;
  if (desc.mediaType !== MediaType.OciConfig && desc.mediaType !== MediaType.DockerConfig) {
    throw new BoxError("E_UNSUPPORTED", `${client.registry}/${repository}@${manifest.digest} is not a container image: its config is ${desc.mediaType}`, {
      hint: "it is probably an OCI artifact (a signature, an SBOM, a Helm chart); pull it with a tool for that artifact type",
    });
  }
  let bytes: Uint8Array;
  if (hasBlob(layout, desc.digest)) bytes = readBlob(layout, desc.digest);
  else {
    const { stream } = await client.getBlob(repository, desc.digest, { size: desc.size });
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return { bytes, config: parseImageConfig(bytes) };
}

async function pullFrom(layout: StoreLayout, rootless: boolean, ref: ImageReference, registries: RegistriesConfig, options: PullOptions): Promise<PullResult> {
  const client = connect(ref.registry, registries, options);
  const resolved = await client.getImageManifest(ref.repository, ref.manifestReference, options.platform);
  const manifest = resolved.manifest;
  const { bytes: configBytes, config } = await fetchConfig(client, layout, ref.repository, manifest);
  const layers = manifest.manifest.layers;
  const subject = `${ref.name}@${manifest.digest}`;
  if (config.rootfs.diff_ids.length !== layers.length) {
    throw new BoxError("E_INVALID_INPUT", `${subject}: the manifest lists ${layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`, {
      hint: "the image is malformed; rebuild and push it again",
    });
  }
  for (const layer of layers) {
    if (!LAYER_MEDIA_TYPES.has(layer.mediaType)) {
      throw new BoxError("E_UNSUPPORTED", `${subject}: layer ${layer.digest} has media type ${layer.mediaType}`, {
        hint: "box unpacks tar layers (plain, gzip or zstd); foreign and non-tar layers are not supported",
      });
    }
  }
  const digest = resolved.index?.digest ?? manifest.digest;
  options.onEvent?.({ type: "resolved", reference: ref.toString(), digest, layers: layers.map((l) => ({ digest: l.digest, size: l.size })) });
  prepareStore(layout);
  sweepIfIdle(layout);
  return asWriter(layout, async () => {
    writeBlob(layout, configBytes, manifest.manifest.config.digest);
    const jobs = layers.map((layer, i) => ({ layer, diffId: config.rootfs.diff_ids[i] as string }));
    // One job per distinct layer: an image may list a layer twice (empty layers often are).
    const unique = [...new Map(jobs.map((j) => [j.diffId, j])).values()];
    let ownersLost = 0;
    await runConcurrently(unique, LAYER_CONCURRENCY, async ({ layer, diffId }) => {
      const emit = (status: LayerStatus, done?: number, total?: number): void =>
        options.onEvent?.({ type: "layer", digest: layer.digest, status, done, total });
      const result = await ingestLayer(layout, {
        digest: layer.digest,
        size: layer.size,
        diffId,
        open: async () => {
          const { stream } = await client.getBlob(ref.repository, layer.digest, {
            size: layer.size,
            onProgress: (p) => emit("downloading", p.done, p.total),
          });
          return { stream, verified: true };
        },
        openFrom: (offset) => client.getBlobRange(ref.repository, layer.digest, offset),
      }, { rootless, onPhase: (phase) => emit(phase), onOwnersLost: (n) => (ownersLost += n) });
      emit(result === "present" ? "exists" : "done");
    });
    writeBlob(layout, manifest.bytes, manifest.digest);
    const record: ImageRecord = {
      id: manifest.manifest.config.digest,
      manifest: manifest.digest,
      manifestMediaType: manifest.mediaType,
      names: ref.tag === undefined ? [] : [ref.toString()],
      repoDigests: [`${ref.name}@${digest}`],
      layers: jobs.map(({ layer, diffId }) => ({ digest: layer.digest, diffId, size: layer.size, mediaType: layer.mediaType })),
      size: unique.reduce((sum, j) => sum + layerSize(layout, j.diffId), 0),
      ...(config.created === undefined ? {} : { created: config.created }),
      architecture: config.architecture,
      os: config.os,
      added: new Date().toISOString(),
    };
    const fresh = updateIndex(layout, (index) => {
      const before = index.images.find((i) => i.id === record.id);
      const isNew = before === undefined || !before.names.includes(record.names[0] ?? "");
      putImage(index, record);
      return isNew;
    });
    const image = readIndex(layout).images.find((i) => i.id === record.id) ?? record;
    return { image, reference: ref.toString(), digest, fresh, ...(ownersLost > 0 ? { ownersLost } : {}) };
  });
}

/** Run `task` over `items`, at most `limit` at a time; the first failure is thrown after all settle. */
async function runConcurrently<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.err;
}
