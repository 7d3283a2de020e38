/**
 * Garbage collection: whatever no image record names goes, blobs and unpacked layers alike, plus
 * the leftovers of interrupted writers in tmp/. It runs holding storage.lock exclusively, which
 * every pull holds shared for its whole length: a pull's blobs and layers exist before its record
 * does, and the lock is what keeps them from being collected in between.
 */
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { FileLock } from "../../state/atomic.ts";
import { discard, sweepTemps, type StoreLayout } from "./layout.ts";
import { type ImageIndex, readIndex } from "./images.ts";
import { listLayers, readLayerMeta, removeLayer } from "./layers.ts";
import { partialDir } from "./partial.ts";

export interface GcResult {
  blobs: number;
  layers: number;
  /** Bytes freed: blob sizes plus the unpacked content of removed layers. */
  bytes: number;
}

/** Run `fn` with the store to itself: no pull, import or other collection runs meanwhile. */
export function exclusively<T>(layout: StoreLayout, fn: () => T): T {
  using _lock = FileLock.acquire(layout.storageLock, "exclusive");
  return fn();
}

/** Run `fn` as a writer that adds to the store; collections wait until it is done. */
export async function asWriter<T>(layout: StoreLayout, fn: () => Promise<T>): Promise<T> {
  using _lock = await FileLock.acquireAsync(layout.storageLock, "shared");
  return await fn();
}

/**
 * Sweep tmp/ if no other process is writing to the store right now, so the leftovers of a killed
 * pull do not wait for the next `rmi` or prune. Never waits: if anyone holds the lock, skip.
 */
export function sweepIfIdle(layout: StoreLayout): void {
  const lock = FileLock.tryAcquire(layout.storageLock, "exclusive");
  if (lock === undefined) return;
  try {
    sweepTemps(layout);
  } finally {
    lock.release();
  }
}

function referenced(index: ImageIndex): { blobs: Set<string>; layers: Set<string> } {
  const blobs = new Set<string>();
  const layers = new Set<string>();
  for (const image of index.images) {
    blobs.add(image.manifest).add(image.id);
    for (const l of image.layers) {
      blobs.add(l.digest);
      layers.add(l.diffId);
    }
  }
  return { blobs, layers };
}

/** Collect garbage. Call inside exclusively(). */
export function collectGarbage(layout: StoreLayout): GcResult {
  const { blobs, layers } = referenced(readIndex(layout));
  const result: GcResult = { blobs: 0, layers: 0, bytes: 0 };
  if (existsSync(layout.blobs)) {
    for (const name of readdirSync(layout.blobs)) {
      if (blobs.has(`sha256:${name}`)) continue;
      const path = join(layout.blobs, name);
      result.bytes += statSync(path).size;
      discard(layout, path);
      result.blobs++;
    }
  }
  for (const diffId of listLayers(layout)) {
    if (layers.has(diffId)) continue;
    result.bytes += readLayerMeta(layout, diffId)?.size ?? 0;
    removeLayer(layout, diffId);
    result.layers++;
  }
  sweepTemps(layout);
  // Kept partial downloads are only worth something to a pull that is not coming now.
  rmSync(partialDir(layout), { recursive: true, force: true });
  // Layer locks are only held by writers, and none runs now: their files can go too.
  if (existsSync(layout.locks)) for (const name of readdirSync(layout.locks)) rmSync(join(layout.locks, name), { force: true });
  return result;
}
