/**
 * FROM: the stored image a stage starts from, pulled when the store lacks it (or always with
 * --pull, except the built-in base, which has no registry), as the starting state of a stage.
 */
import type { BoxPaths } from "../paths.ts";
import { installedBase, isBaseReference } from "../image/base-config.ts";
import { loadRegistriesConfig } from "../image/registries-config.ts";
import { readBlob } from "../image/store/blobs.ts";
import { type ImageRecord, readIndex } from "../image/store/images.ts";
import type { StoreLayout } from "../image/store/layout.ts";
import { findImage } from "../image/store/lookup.ts";
import { parseImageConfig } from "../schema/oci.ts";
import { stepKey } from "./cache.ts";
import type { History, RunConfig } from "./image-config.ts";
import type { ImageState } from "./state.ts";

/** The stored image for `ref` if there is one, without pulling (for --check). */
export function localImage(paths: BoxPaths, layout: StoreLayout, ref: string): ImageRecord | undefined {
  if (isBaseReference(ref)) return installedBase(layout);
  try {
    return findImage(readIndex(layout), ref, loadRegistriesConfig(paths).search);
  } catch {
    return undefined;
  }
}

export async function resolveBase(paths: BoxPaths, layout: StoreLayout, ref: string, pull: boolean): Promise<ImageRecord> {
  if (isBaseReference(ref)) {
    return installedBase(layout) ?? (await import("../image/builtin.ts")).importBaseImage(layout, paths.rootless);
  }
  const found = pull ? undefined : localImage(paths, layout, ref);
  if (found !== undefined) return found;
  const { pullImage } = await import("../image/copy/pull.ts");
  return (await pullImage(paths, ref)).image;
}

export function stateOf(layout: StoreLayout, record: ImageRecord): ImageState {
  const cfg = parseImageConfig(readBlob(layout, record.id));
  return {
    key: stepKey("from", record.id),
    layers: record.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, mediaType: l.mediaType })),
    config: (cfg.config ?? {}) as RunConfig,
    history: (cfg.history ?? []) as History[],
    ...(cfg.author !== undefined ? { author: cfg.author } : {}),
    architecture: cfg.architecture,
    os: cfg.os,
    ...(cfg.variant !== undefined ? { variant: cfg.variant } : {}),
  };
}

export function scratchState(architecture: string, os: string): ImageState {
  return { key: stepKey("from", "scratch"), layers: [], config: {}, history: [], architecture, os };
}
