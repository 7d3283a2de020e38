/** `box images`: one row per name, dangling images as <none>, newest first, like docker. */
import type { BoxPaths } from "../paths.ts";
import { parseReference } from "./reference.ts";
import { loadRegistriesConfig } from "./registries-config.ts";
import { type ImageRecord, readIndex } from "./store/images.ts";
import { storeLayout } from "./store/layout.ts";
import { displayName, storedNames } from "./store/lookup.ts";

export interface ImageRow {
  /** Full image ID, "sha256:…". */
  id: string;
  repository: string;
  tag: string;
  /** The registry digest of this repository, "<none>" if it never came from or went to one. */
  digest: string;
  created: string | undefined;
  size: number;
}

export interface ListOptions {
  /** `box images alpine` / `alpine:3.20`: only names of this repository (and tag). */
  reference?: string | undefined;
}

function digestFor(image: ImageRecord, name: string): string {
  const repo = name.slice(0, name.lastIndexOf(":"));
  const found = image.repoDigests.find((d) => d.startsWith(`${repo}@`));
  return found === undefined ? "<none>" : found.slice(found.indexOf("@") + 1);
}

function matcher(paths: BoxPaths, reference: string | undefined): (name: string) => boolean {
  if (reference === undefined) return () => true;
  const ref = parseReference(reference);
  const tagGiven = /:[^/]*$/.test(reference);
  const wanted = storedNames(ref, loadRegistriesConfig(paths).search);
  return (name) => wanted.some((w) => (tagGiven ? name === w : name.startsWith(`${w.slice(0, w.lastIndexOf(":"))}:`)));
}

export function listImages(paths: BoxPaths, options: ListOptions = {}): ImageRow[] {
  const images = readIndex(storeLayout(paths.storage)).images;
  const keep = matcher(paths, options.reference);
  const rows: ImageRow[] = [];
  const sorted = [...images].sort((a, b) => (b.created ?? "").localeCompare(a.created ?? "") || b.added.localeCompare(a.added));
  for (const image of sorted) {
    const base = { id: image.id, created: image.created, size: image.size };
    if (image.names.length === 0) {
      if (options.reference === undefined) rows.push({ ...base, repository: "<none>", tag: "<none>", digest: image.repoDigests[0]?.split("@")[1] ?? "<none>" });
      continue;
    }
    for (const name of image.names) {
      if (!keep(name)) continue;
      rows.push({ ...base, ...displayName(name), digest: digestFor(image, name) });
    }
  }
  return rows;
}
