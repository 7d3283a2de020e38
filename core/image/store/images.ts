/**
 * The image index (images.json): one record per image, keyed by image ID (the config digest, as
 * docker does), with the names that point at it. A name is a fully qualified reference
 * ("docker.io/library/alpine:3.20"); it belongs to at most one image, so tagging or pulling a
 * name moves it, and an image left without names is dangling (<none> in `box images`).
 *
 * Reference counts are derived, not stored: what uses a blob or a layer is computed from these
 * records when garbage is collected (gc.ts), so no crash can leave a counter wrong.
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { BoxError } from "../../errors.ts";
import { Digest } from "../../schema/oci.ts";
import { FileLock, writeJsonAtomic } from "../../state/atomic.ts";
import type { StoreLayout } from "./layout.ts";

const LayerRef = v.object({
  /** The compressed blob, as the manifest names it. */
  digest: Digest,
  diffId: Digest,
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  mediaType: v.string(),
});

export const ImageRecord = v.object({
  /** The config digest: the image ID. */
  id: Digest,
  manifest: Digest,
  manifestMediaType: v.string(),
  /** Fully qualified "registry/repository:tag" names. */
  names: v.array(v.string()),
  /** "registry/repository@sha256:…": what each registry called it when it was pulled or pushed. */
  repoDigests: v.array(v.string()),
  layers: v.array(LayerRef),
  /** Unpacked bytes of every layer: the SIZE docker shows. */
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  created: v.optional(v.string()),
  architecture: v.string(),
  os: v.string(),
  /** When this store got it. */
  added: v.string(),
});
export type ImageRecord = v.InferOutput<typeof ImageRecord>;

const ImageIndex = v.object({
  version: v.literal(1),
  images: v.array(ImageRecord),
});
export type ImageIndex = v.InferOutput<typeof ImageIndex>;

export function emptyIndex(): ImageIndex {
  return { version: 1, images: [] };
}

/** The index as it is now; a store that never held an image has none. */
export function readIndex(layout: StoreLayout): ImageIndex {
  let text: string;
  try {
    text = readFileSync(layout.index, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyIndex();
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw corrupt(layout, (cause as Error).message);
  }
  const parsed = v.safeParse(ImageIndex, raw);
  if (!parsed.success) throw corrupt(layout, v.summarize(parsed.issues));
  return parsed.output;
}

function corrupt(layout: StoreLayout, why: string): BoxError {
  // Only a hand edit gets here: box replaces the file by rename, never rewrites it in place.
  return new BoxError("E_BAD_STATE", `image index \`${layout.index}\` is invalid: ${why}`, {
    hint: "restore the file, or remove it to forget every image (their blobs and layers stay until `box image prune`)",
  });
}

/**
 * Read, change and write the index under its lock. `change` must be synchronous: the lock is an
 * flock held by this thread, and a second waiter in the same process would block it forever.
 */
export function updateIndex<T>(layout: StoreLayout, change: (index: ImageIndex) => T): T {
  using _lock = FileLock.acquire(layout.indexLock);
  const index = readIndex(layout);
  const result = change(index);
  writeJsonAtomic(layout.index, index);
  return result;
}

/** Add or refresh an image and point its names at it, taking each name away from any other image. */
export function putImage(index: ImageIndex, record: ImageRecord): void {
  for (const other of index.images) {
    if (other.id === record.id) continue;
    other.names = other.names.filter((n) => !record.names.includes(n));
  }
  const existing = index.images.find((i) => i.id === record.id);
  if (existing === undefined) {
    index.images.push(record);
    return;
  }
  existing.names = [...new Set([...existing.names, ...record.names])];
  existing.repoDigests = [...new Set([...existing.repoDigests, ...record.repoDigests])];
}

/** Point `name` at the image `id`, moving it off whichever image had it. */
export function addName(index: ImageIndex, id: string, name: string): void {
  for (const image of index.images) {
    if (image.id === id) {
      if (!image.names.includes(name)) image.names.push(name);
    } else {
      image.names = image.names.filter((n) => n !== name);
    }
  }
}
