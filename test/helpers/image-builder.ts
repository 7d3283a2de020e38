/**
 * Test images made from bytes built here: layers are real tars (core's deterministic writer),
 * gzipped, with a config and an OCI manifest around them. The same image can be served by a
 * fault server, written as an OCI layout for skopeo, or pushed with the registry client.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MediaType, sha256Digest } from "../../core/schema/oci.ts";
import { tarBytes, type TarWriterEntry } from "../../core/image/tar-writer.ts";
import { REPO } from "./box.ts";

export interface BuiltImage {
  manifest: Uint8Array;
  manifestDigest: string;
  config: Uint8Array;
  configDigest: string;
  /** digest → bytes, config and layers. */
  blobs: Map<string, Uint8Array>;
  layerDigests: string[];
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export interface ImageSpec {
  /** Layers as tar entries, bottom first; `base: true` puts box's busybox base underneath. */
  layers: TarWriterEntry[][];
  base?: boolean;
  cmd?: string[];
  architecture?: string;
  /** Corrupt the config's diff_ids (a lie the store must catch). */
  wrongDiffId?: boolean;
}

export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const blobs = new Map<string, Uint8Array>();
  const layers: { digest: string; size: number; diffId: string }[] = [];
  if (spec.base) {
    const gz = new Uint8Array(await Bun.file(join(REPO, "build/base.tar.gz")).arrayBuffer());
    const digest = sha256Digest(gz);
    blobs.set(digest, gz);
    layers.push({ digest, size: gz.byteLength, diffId: sha256Digest(Bun.gunzipSync(gz)) });
  }
  for (const entries of spec.layers) {
    const tar = await tarBytes(entries);
    const gz = Bun.gzipSync(tar);
    const digest = sha256Digest(gz);
    blobs.set(digest, gz);
    layers.push({ digest, size: gz.byteLength, diffId: spec.wrongDiffId ? sha256Digest(utf8("lie")) : sha256Digest(tar) });
  }
  const config = utf8(JSON.stringify({
    architecture: spec.architecture ?? "amd64",
    os: "linux",
    created: "2024-01-02T03:04:05Z",
    config: { Env: ["PATH=/usr/bin:/bin", "FROM_TEST=1"], Cmd: spec.cmd ?? ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: "2024-01-02T03:04:05Z", created_by: `test layer ${i}` })),
  }));
  const configDigest = sha256Digest(config);
  blobs.set(configDigest, config);
  const manifest = utf8(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.byteLength },
    layers: layers.map((l) => ({ mediaType: MediaType.OciLayerGzip, digest: l.digest, size: l.size })),
  }));
  return { manifest, manifestDigest: sha256Digest(manifest), config, configDigest, blobs, layerDigests: layers.map((l) => l.digest) };
}

/** Write the image as an OCI image layout (`oci:DIR:TAG` for skopeo). */
export function writeOciLayout(dir: string, image: BuiltImage, tag: string): void {
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  for (const [digest, bytes] of [...image.blobs, [image.manifestDigest, image.manifest] as const]) {
    writeFileSync(join(dir, "blobs/sha256", digest.slice(7)), bytes);
  }
  writeFileSync(join(dir, "index.json"), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: MediaType.OciManifest,
      digest: image.manifestDigest,
      size: image.manifest.byteLength,
      annotations: { "org.opencontainers.image.ref.name": tag },
    }],
  }));
}

/** A small file entry. */
export function file(name: string, content: string, mode = 0o644): TarWriterEntry {
  return { name, type: "file", mode, body: content };
}

/** Upload a built image to a registry with box's client (what `docker push` of it would do). */
export async function pushBuilt(host: string, repository: string, tag: string, image: BuiltImage): Promise<void> {
  const { RegistryClient } = await import("../../core/image/registry/client.ts");
  const client = new RegistryClient({ registry: host });
  for (const [digest, bytes] of image.blobs) await client.pushBlob(repository, digest, bytes);
  await client.putManifest(repository, tag, image.manifest);
}

/** Incompressible bytes, so a layer's size on the wire is what the test asks for. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
}
