/**
 * `box rmi` and `box image prune`, with docker's rules: removing a name untags it and deletes the
 * image only with its last name; removing by ID deletes the image, which needs -f when several
 * names point at it; an image a container uses is never deleted — with -f it only loses its
 * names. Blobs and layers no remaining image uses are then collected.
 */
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { parseReference } from "./reference.ts";
import { loadRegistriesConfig } from "./registries-config.ts";
import { containersByImage } from "./store/containers.ts";
import { collectGarbage, exclusively } from "./store/gc.ts";
import { type ImageIndex, type ImageRecord, updateIndex } from "./store/images.ts";
import { storeLayout } from "./store/layout.ts";
import { displayDigest, findImage, shortName, storedNames } from "./store/lookup.ts";
import { noSuchImage } from "./local.ts";

export type RemoveEvent = { type: "untagged"; name: string } | { type: "deleted"; id: string };

export interface RemoveResult {
  events: RemoveEvent[];
  /** One error per argument that could not be removed; the others still were. */
  errors: BoxError[];
  reclaimed: number;
}

function short(id: string): string {
  return id.slice(7, 19);
}

/** The stored name the argument names, if it names one rather than an ID. */
function nameIn(image: ImageRecord, query: string, search: readonly string[]): string | undefined {
  let ref;
  try {
    ref = parseReference(query);
  } catch {
    return undefined;
  }
  if (ref.digest !== undefined) return undefined;
  return storedNames(ref, search).find((n) => image.names.includes(n));
}

function removeOne(index: ImageIndex, query: string, force: boolean, used: Map<string, string[]>, search: readonly string[], events: RemoveEvent[]): void {
  const image = findImage(index, query, search);
  if (image === undefined) throw noSuchImage(query);
  const name = nameIn(image, query, search);
  const users = used.get(image.id) ?? [];
  if (name !== undefined && image.names.length > 1) {
    image.names = image.names.filter((n) => n !== name);
    events.push({ type: "untagged", name: shortName(name) });
    return;
  }
  if (users.length > 0 && !force) {
    const what = name === undefined ? short(image.id) : `repository reference "${query}"`;
    throw new BoxError("E_BAD_STATE", `conflict: unable to remove ${what} (must force) - container ${(users[0] ?? "").slice(0, 12)} is using its referenced image ${short(image.id)}`, {
      hint: "remove the container first, or use -f to untag the image and keep it for the container",
    });
  }
  if (name === undefined && image.names.length > 1 && !force) {
    throw new BoxError("E_BAD_STATE", `conflict: unable to delete ${short(image.id)} (must be forced) - image is referenced in multiple repositories`, {
      hint: "remove it by name, or use -f to remove every name",
    });
  }
  for (const n of image.names) events.push({ type: "untagged", name: shortName(n) });
  image.names = [];
  // A container still runs from these layers: the image stays, dangling, until it is gone.
  if (users.length > 0) return;
  for (const d of image.repoDigests) events.push({ type: "untagged", name: displayDigest(d) });
  index.images = index.images.filter((i) => i.id !== image.id);
  events.push({ type: "deleted", id: image.id });
}

export function removeImages(paths: BoxPaths, queries: string[], options: { force: boolean }): RemoveResult {
  const layout = storeLayout(paths.storage);
  const search = loadRegistriesConfig(paths).search;
  const events: RemoveEvent[] = [];
  const errors: BoxError[] = [];
  return exclusively(layout, () => {
    updateIndex(layout, (index) => {
      const used = containersByImage(paths, index, search);
      for (const q of queries) {
        try {
          removeOne(index, q, options.force, used, search, events);
        } catch (err) {
          if (!(err instanceof BoxError)) throw err;
          errors.push(err);
        }
      }
    });
    return { events, errors, reclaimed: collectGarbage(layout).bytes };
  });
}

/** Remove dangling images (or, with `all`, every image no container uses). */
export function pruneImages(paths: BoxPaths, options: { all: boolean }): RemoveResult {
  const layout = storeLayout(paths.storage);
  const search = loadRegistriesConfig(paths).search;
  const events: RemoveEvent[] = [];
  return exclusively(layout, () => {
    updateIndex(layout, (index) => {
      const used = containersByImage(paths, index, search);
      index.images = index.images.filter((image) => {
        if (used.has(image.id) || (!options.all && image.names.length > 0)) return true;
        for (const n of image.names) events.push({ type: "untagged", name: shortName(n) });
        events.push({ type: "deleted", id: image.id });
        return false;
      });
    });
    return { events, errors: [], reclaimed: collectGarbage(layout).bytes };
  });
}
