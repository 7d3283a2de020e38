/**
 * The built-in `base` image: a busybox userland assembled at build time (scripts/build.ts) and
 * embedded in the binary, so `box run base` works on a machine with no network at all. At first
 * use it is imported into the store as an ordinary image, `localhost/base:latest` (shown as
 * `base`): its tar.gz becomes the layer blob, and a config and manifest are synthesized around
 * it. From then on it is pushed, tagged, inspected and removed like any pulled image.
 *
 * The synthesized documents are deterministic (no wall-clock time, created at the epoch as
 * reproducible builds do), so one box binary gives one image ID on every machine of an
 * architecture, and pushing base from two machines uploads the same blobs.
 */
import { BASE_BLOB, BASE_ENV, BASE_NAME, installedBase } from "./base-config.ts";
import { BoxError } from "../errors.ts";
import { MediaType, sha256Digest } from "../schema/oci.ts";
import { hostPlatform } from "./registry/platform.ts";
import { writeBlob } from "./store/blobs.ts";
import { asWriter } from "./store/gc.ts";
import { type ImageRecord, putImage, updateIndex } from "./store/images.ts";
import { ingestLayer, layerSize } from "./store/ingest.ts";
import { prepareStore, type StoreLayout } from "./store/layout.ts";
import embeddedBase from "../../build/base.tar.gz" with { type: "file" };

const EPOCH = "1970-01-01T00:00:00Z";

async function diffIdOf(file: Blob): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  const tar = file.stream().pipeThrough(new DecompressionStream("gzip") as ReadableWritablePair<Uint8Array, Uint8Array>);
  for await (const chunk of tar) hasher.update(chunk);
  return `sha256:${hasher.digest("hex")}`;
}

/** Import the embedded base into the store (once) and return its record. */
export async function importBaseImage(layout: StoreLayout, rootless: boolean): Promise<ImageRecord> {
  const found = installedBase(layout);
  if (found !== undefined) return found;
  prepareStore(layout);
  return asWriter(layout, async () => {
    const file = Bun.file(embeddedBase as unknown as string);
    if (file.size !== BASE_BLOB.size) {
      throw new BoxError("E_INTERNAL", `the embedded base image is ${file.size} bytes, expected ${BASE_BLOB.size}`, { hint: "rebuild box" });
    }
    const diffId = await diffIdOf(file);
    await ingestLayer(layout, {
      digest: BASE_BLOB.digest,
      size: BASE_BLOB.size,
      diffId,
      open: async () => ({ stream: file.stream(), verified: false }),
    }, { rootless });
    const { architecture, os, variant } = hostPlatform();
    const config = {
      created: EPOCH,
      architecture,
      os,
      ...(variant === undefined ? {} : { variant }),
      config: { Env: BASE_ENV, Cmd: ["/bin/sh"], WorkingDir: "/" },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created: EPOCH, created_by: "box: built-in base image (busybox)" }],
    };
    const configBytes = new TextEncoder().encode(JSON.stringify(config));
    const configDigest = writeBlob(layout, configBytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: configBytes.byteLength },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: BASE_BLOB.digest, size: BASE_BLOB.size }],
    };
    const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
    const manifestDigest = writeBlob(layout, manifestBytes, sha256Digest(manifestBytes));
    const record: ImageRecord = {
      id: configDigest,
      manifest: manifestDigest,
      manifestMediaType: MediaType.OciManifest,
      names: [BASE_NAME],
      repoDigests: [],
      layers: [{ digest: BASE_BLOB.digest, diffId, size: BASE_BLOB.size, mediaType: MediaType.OciLayerGzip }],
      size: layerSize(layout, diffId),
      created: EPOCH,
      architecture,
      os,
      added: new Date().toISOString(),
    };
    updateIndex(layout, (index) => putImage(index, record));
    return record;
  });
}
