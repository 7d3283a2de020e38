/**
 * The build cache: one small JSON file per step under <storage>/build-cache/, named by the
 * step's key. A key hashes the parent's key (which covers the base image and every earlier
 * step's result), the instruction with its arguments expanded, and the content of whatever the
 * step reads (COPY/ADD sources after .dockerignore, the build args a RUN sees). An entry keeps
 * the layer it made and the history timestamp, so a rebuild with nothing changed produces the
 * very same image ID. An entry whose layer the store no longer has (after `box image prune`)
 * is a miss, never an error.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { hasBlob } from "../image/store/blobs.ts";
import { hasLayer } from "../image/store/layers.ts";
import type { StoreLayout } from "../image/store/layout.ts";
import { Digest } from "../schema/oci.ts";
import { writeJsonAtomic } from "../state/atomic.ts";
import type { LayerRef } from "./layer-writer.ts";

const Entry = v.object({
  created: v.string(),
  /** The history line, for steps whose line needs the inputs read (COPY --from's digest). */
  createdBy: v.optional(v.string()),
  layer: v.optional(v.object({ digest: Digest, diffId: Digest, size: v.number(), mediaType: v.string() })),
});
export type CacheEntry = v.InferOutput<typeof Entry>;

export function stepKey(parent: string, parts: unknown): string {
  return new Bun.CryptoHasher("sha256").update(parent).update("\0").update(JSON.stringify(parts)).digest("hex");
}

/** The key after a step: a layer step chains on what it produced, so a re-run invalidates what follows. */
export function resultKey(key: string, layer: LayerRef | undefined): string {
  return layer === undefined ? key : stepKey(key, layer.diffId);
}

export class BuildCache {
  private readonly dir: string;

  constructor(storage: string, private readonly layout: StoreLayout, readonly enabled: boolean) {
    this.dir = join(storage, "build-cache");
  }

  get(key: string): CacheEntry | undefined {
    if (!this.enabled) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(join(this.dir, `${key}.json`), "utf8"));
    } catch {
      return undefined;
    }
    const parsed = v.safeParse(Entry, raw);
    if (!parsed.success) return undefined;
    const layer = parsed.output.layer;
    if (layer !== undefined && !(hasBlob(this.layout, layer.digest) && hasLayer(this.layout, layer.diffId))) return undefined;
    return parsed.output;
  }

  /** Written even with --no-cache: the next build may use it (docker does the same). */
  put(key: string, entry: CacheEntry): void {
    mkdirSync(this.dir, { recursive: true });
    writeJsonAtomic(join(this.dir, `${key}.json`), entry, { durable: false });
  }
}
