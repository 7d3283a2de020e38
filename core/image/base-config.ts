/**
 * What every run of the built-in `base` needs without loading the importer (builtin.ts pulls in
 * the tar reader and decompressors): its name, its environment, and whether this binary's base
 * is already in the store. `box run base` checks this on every start.
 */
import baseInfo from "../../build/base.json";
import { hasBlob } from "./store/blobs.ts";
import { type ImageRecord, readIndex } from "./store/images.ts";
import { hasLayer } from "./store/layers.ts";
import type { StoreLayout } from "./store/layout.ts";

export const BASE_NAME = "localhost/base:latest";

/** `base` is the built-in image whatever the search registries say. */
export function isBaseReference(ref: string): boolean {
  return ref === "base" || ref === "base:latest" || ref === "localhost/base" || ref === "localhost/base:latest";
}

/** The environment every image without its own PATH gets, as docker sets it. */
export const BASE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

/** The embedded layer blob's digest and size, written by scripts/build.ts. */
export const BASE_BLOB = { digest: baseInfo.digest, size: baseInfo.size };

/** The stored base image, if this binary's base was imported already and is intact. */
export function installedBase(layout: StoreLayout): ImageRecord | undefined {
  const record = readIndex(layout).images.find((i) => i.names.includes(BASE_NAME));
  const layer = record?.layers[0];
  if (record === undefined || layer?.digest !== BASE_BLOB.digest) return undefined;
  return hasBlob(layout, record.manifest) && hasLayer(layout, layer.diffId) ? record : undefined;
}
