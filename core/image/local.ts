/** Finding a stored image for the commands that need one to exist (tag, inspect, history, push). */
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { isBaseReference } from "./base-config.ts";
import { loadRegistriesConfig } from "./registries-config.ts";
import { type ImageRecord, readIndex } from "./store/images.ts";
import { storeLayout } from "./store/layout.ts";
import { findImage } from "./store/lookup.ts";

export function noSuchImage(name: string): BoxError {
  return new BoxError("E_NOT_FOUND", `No such image: ${name}`, { hint: "see 'box images' for the images in the store" });
}

/**
 * The stored image `query` names, or docker's "No such image". The built-in base is imported on
 * first mention, so `box tag base x` works in a fresh store as `box run base` does.
 */
export async function requireImage(paths: BoxPaths, query: string): Promise<ImageRecord> {
  const layout = storeLayout(paths.storage);
  const found = findImage(readIndex(layout), query, loadRegistriesConfig(paths).search);
  if (found !== undefined) return found;
  if (isBaseReference(query)) return (await import("./builtin.ts")).importBaseImage(layout, paths.rootless);
  throw noSuchImage(query);
}
