/**
 * Where the image store keeps things, under the storage root:
 *
 *   oci-layout, blobs/sha256/<hex>   the OCI image layout: manifests, configs, compressed layers
 *   layers/<diff-id hex>/diff        one unpacked layer, an overlay lowerdir shared by every image
 *   layers/<diff-id hex>/layer.json  written before the directory is renamed into place
 *   images.json                      names → manifests, one record per image (images.ts)
 *   tmp/                             everything half-made: downloads, unpacks, removals
 *   storage.lock                     shared by pulls and imports, exclusive for garbage collection
 *   images.lock                      exclusive around each read-modify-write of images.json
 *
 * Every entry appears at its final name by one rename(2) from tmp/, so a kill -9 at any moment
 * leaves either the whole entry or nothing at its name; leftovers in tmp/ are swept by the next
 * garbage collection, which holds storage.lock exclusively and so knows no writer is alive.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../state/atomic.ts";
import { removeTree } from "../../state/remove.ts";

export interface StoreLayout {
  root: string;
  blobs: string;
  layers: string;
  tmp: string;
  index: string;
  indexLock: string;
  storageLock: string;
  /** Per-layer locks, so parallel pulls of one layer download and unpack it once. */
  locks: string;
}

export function storeLayout(storage: string): StoreLayout {
  return {
    root: storage,
    blobs: join(storage, "blobs", "sha256"),
    layers: join(storage, "layers"),
    tmp: join(storage, "tmp"),
    index: join(storage, "images.json"),
    indexLock: join(storage, "images.lock"),
    storageLock: join(storage, "storage.lock"),
    locks: join(storage, "locks"),
  };
}

/** Create the directories a writer needs, and the oci-layout marker the image-layout spec asks for. */
export function prepareStore(layout: StoreLayout): void {
  for (const dir of [layout.blobs, layout.layers, layout.tmp, layout.locks]) mkdirSync(dir, { recursive: true });
  const marker = join(layout.root, "oci-layout");
  if (!existsSync(marker)) writeFileAtomic(marker, `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
}

/** A fresh private directory under tmp/, on the same file system as its final place. */
export function makeTemp(layout: StoreLayout, prefix: string): string {
  mkdirSync(layout.tmp, { recursive: true });
  return mkdtempSync(join(layout.tmp, `${prefix}-${process.pid}-`));
}

/**
 * Take `path` out of the store: one rename makes it vanish from its name at once, then the
 * removal happens in tmp/, where a reader never looks and an interrupted removal is swept later.
 */
export function discard(layout: StoreLayout, path: string): void {
  if (!existsSync(path)) return;
  const grave = makeTemp(layout, "removed");
  const target = join(grave, "entry");
  renameSync(path, target);
  removeTree(grave);
}

/** Remove what dead writers left in tmp/. Only call with storage.lock held exclusively. */
export function sweepTemps(layout: StoreLayout): number {
  if (!existsSync(layout.tmp)) return 0;
  let n = 0;
  for (const name of readdirSync(layout.tmp)) {
    removeTree(join(layout.tmp, name));
    n++;
  }
  return n;
}
