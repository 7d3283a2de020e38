/**
 * Unpacked layers, one directory per diff_id (the sha256 of the layer's uncompressed tar). Each
 * holds that layer alone, unpacked in overlay mode (whiteouts as overlayfs marks), so the same
 * directory serves as a lowerdir for every image that has the layer, whatever sits below it.
 * That is why the key is the diff_id and not the chain id: nothing in an overlay-mode layer
 * depends on its parents.
 */
import { existsSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { Digest } from "../../schema/oci.ts";
import { writeJsonAtomic } from "../../state/atomic.ts";
import { discard, type StoreLayout } from "./layout.ts";

export const LayerMeta = v.object({
  diffId: Digest,
  /** The compressed blob it was unpacked from. */
  blob: Digest,
  /** Bytes of file content, what `box images` adds up as an image's size. */
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  files: v.pipe(v.number(), v.integer(), v.minValue(0)),
  created: v.string(),
});
export type LayerMeta = v.InferOutput<typeof LayerMeta>;

const hex = (digest: string): string => digest.slice("sha256:".length);

export function layerDir(layout: StoreLayout, diffId: string): string {
  return join(layout.layers, hex(diffId));
}

/** The directory given to overlayfs as a lowerdir. */
export function layerRoot(layout: StoreLayout, diffId: string): string {
  return join(layerDir(layout, diffId), "diff");
}

/** The layer's metadata, or undefined if it is absent or its record is unreadable. */
export function readLayerMeta(layout: StoreLayout, diffId: string): LayerMeta | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(layerDir(layout, diffId), "layer.json"), "utf8"));
  } catch {
    return undefined;
  }
  const parsed = v.safeParse(LayerMeta, raw);
  return parsed.success && parsed.output.diffId === diffId ? parsed.output : undefined;
}

export function hasLayer(layout: StoreLayout, diffId: string): boolean {
  return readLayerMeta(layout, diffId) !== undefined;
}

/**
 * Move an unpacked layer into place. `staging` holds `diff/`; the record is written beside it and
 * the whole directory renamed, so the layer appears complete or not at all. If another process
 * committed the same layer first, its copy wins and ours is dropped.
 */
export function commitLayer(layout: StoreLayout, staging: string, meta: LayerMeta): void {
  writeJsonAtomic(join(staging, "layer.json"), meta, { durable: false });
  const target = layerDir(layout, meta.diffId);
  if (existsSync(target) && !hasLayer(layout, meta.diffId)) discard(layout, target);
  try {
    renameSync(staging, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code !== "ENOTEMPTY" && code !== "EEXIST") || !hasLayer(layout, meta.diffId)) throw err;
    discard(layout, staging);
  }
}

export function listLayers(layout: StoreLayout): string[] {
  if (!existsSync(layout.layers)) return [];
  return readdirSync(layout.layers)
    .filter((name) => /^[a-f0-9]{64}$/.test(name))
    .map((name) => `sha256:${name}`);
}

export function removeLayer(layout: StoreLayout, diffId: string): void {
  discard(layout, layerDir(layout, diffId));
}
