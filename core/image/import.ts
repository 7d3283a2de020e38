/**
 * `box import`: a tar (plain, gzip or zstd) becomes a one-layer image, with a config made of the
 * `--change` instructions alone, as `docker import` makes it.
 *
 * The bytes are read once: on their way they are spooled (they become the layer blob as given,
 * so a gzip stays a gzip and the manifest says which), hashed, decompressed, hashed again (the
 * diff_id) and unpacked by the store's confined unpacker into a staging directory. Nothing is
 * renamed into the store before the last byte was read and every entry was accepted: a truncated
 * archive, a file that is no tar, or an entry that climbs out with `../` leaves no blob, no
 * layer and no image behind.
 */
import { closeSync, existsSync, openSync, renameSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { commitImage, storedTag } from "../build/commit.ts";
import type { History } from "../build/image-config.ts";
import type { LayerRef } from "../build/layer-writer.ts";
import { MediaType } from "../schema/oci.ts";
import { applyChanges, validateChanges } from "./changes.ts";
import { type Compression, decompress } from "./compression.ts";
import { applyLayer } from "./layer.ts";
import { hostPlatform } from "./registry/platform.ts";
import { blobPath } from "./store/blobs.ts";
import { asWriter } from "./store/gc.ts";
import type { ImageRecord } from "./store/images.ts";
import { commitLayer, hasLayer } from "./store/layers.ts";
import { HashTap } from "./store/hash-tap.ts";
import { discard, makeTemp, prepareStore, storeLayout, type StoreLayout } from "./store/layout.ts";

const MEDIA_TYPES: Record<Compression, string> = {
  none: MediaType.OciLayer,
  gzip: MediaType.OciLayerGzip,
  zstd: MediaType.OciLayerZstd,
};

/**
 * Store one layer from an archive stream: its bytes as the blob, its unpacked tree as the layer.
 * `action` ("import `x.tar`") names the work in errors.
 */
export async function storeLayerStream(layout: StoreLayout, raw: ReadableStream<Uint8Array>, action: string, rootless: boolean): Promise<LayerRef> {
  const spoolDir = makeTemp(layout, "import-blob");
  const staging = makeTemp(layout, "import-layer");
  const spool = join(spoolDir, "data");
  const fd = openSync(spool, "w", 0o644);
  let closed = false;
  try {
    const blob = new HashTap(true, fd);
    const { compression, stream: tar } = await decompress(raw.pipeThrough(blob.stream()));
    // An uncompressed archive is its own diff: hashing the same bytes twice would cost ~0.3 s per 100 MB.
    const diff = new HashTap(compression !== "none");
    const summary = await applyLayer(tar.pipeThrough(diff.stream()), join(staging, "diff"), { mode: "overlay", rootless });
    closeSync(fd);
    closed = true;
    if (blob.bytes === 0) throw new BoxError("E_INVALID_INPUT", "the archive is empty");
    const blobDigest = blob.digest();
    const diffId = compression === "none" ? blobDigest : diff.digest();
    if (blobDigest === undefined || diffId === undefined) throw new BoxError("E_INTERNAL", "the archive stream did not end");
    const target = blobPath(layout, blobDigest);
    if (!existsSync(target)) renameSync(spool, target);
    if (hasLayer(layout, diffId)) discard(layout, staging);
    else commitLayer(layout, staging, { diffId, blob: blobDigest, size: summary.bytes, files: summary.files, created: new Date().toISOString() });
    return { digest: blobDigest, diffId, size: blob.bytes, mediaType: MEDIA_TYPES[compression] };
  } catch (err) {
    discard(layout, staging);
    const inner = err instanceof BoxError ? err : undefined;
    throw new BoxError(inner !== undefined && inner.code !== "E_INTERNAL" ? inner.code : "E_INVALID_INPUT", `cannot ${action}`, {
      cause: err,
      ...(inner?.hint !== undefined ? { hint: inner.hint } : action.startsWith("import") ? { hint: "give a tar archive (plain, gzip or zstd) whose entries stay inside its root" } : {}),
    });
  } finally {
    if (!closed) closeSync(fd);
    discard(layout, spoolDir);
  }
}

export interface ImportOptions {
  /** Dockerfile instructions applied to the empty config (see changes.ts). */
  changes: string[];
  message?: string | undefined;
  /** REPOSITORY[:TAG]; untagged when absent, as docker allows. */
  tag?: string | undefined;
  /** The file name, or "-" for stdin: named in errors and in the default history comment. */
  source: string;
}

export async function importImage(paths: BoxPaths, input: ReadableStream<Uint8Array>, opts: ImportOptions): Promise<ImageRecord> {
  // Everything the user typed is checked before a byte is read.
  validateChanges(opts.changes);
  const names = opts.tag === undefined ? [] : [storedTag(opts.tag)];
  const layout = storeLayout(paths.storage);
  prepareStore(layout);
  return asWriter(layout, async () => {
    const what = opts.source === "-" ? "the archive on stdin" : `\`${opts.source}\``;
    const layer = await storeLayerStream(layout, input, `import ${what}`, paths.rootless);
    const created = new Date().toISOString();
    const { architecture, os, variant } = hostPlatform();
    const history: History = { created, created_by: "", comment: opts.message ?? `Imported from ${opts.source}` };
    return commitImage(layout, {
      key: "",
      layers: [layer],
      config: applyChanges({}, opts.changes),
      history: [history],
      architecture,
      os,
      ...(variant === undefined ? {} : { variant }),
    }, names, {});
  });
}
