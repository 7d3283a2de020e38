/** `box image inspect` (docker's JSON shape) and `box history`, both read from the stored config. */
import type { BoxPaths } from "../paths.ts";
import { type HistoryEntry, parseImageConfig } from "../schema/oci.ts";
import { readBlob } from "./store/blobs.ts";
import type { ImageRecord } from "./store/images.ts";
import { layerRoot, readLayerMeta } from "./store/layers.ts";
import { storeLayout } from "./store/layout.ts";
import { displayDigest, shortName } from "./store/lookup.ts";
import { requireImage } from "./local.ts";

/** The fields docker's `image inspect` prints, filled from what box stores. */
export async function inspectImage(paths: BoxPaths, query: string): Promise<Record<string, unknown>> {
  const layout = storeLayout(paths.storage);
  const image = await requireImage(paths, query);
  const config = parseImageConfig(readBlob(layout, image.id));
  const lowers = [...image.layers].reverse().map((l) => layerRoot(layout, l.diffId));
  return {
    Id: image.id,
    RepoTags: image.names.map(shortName),
    RepoDigests: image.repoDigests.map(displayDigest),
    Parent: "",
    Comment: config.history?.at(-1)?.comment ?? "",
    Created: config.created ?? "",
    Author: config.author ?? "",
    Config: config.config ?? {},
    Architecture: config.architecture,
    ...(config.variant === undefined ? {} : { Variant: config.variant }),
    Os: config.os,
    Size: image.size,
    GraphDriver: { Name: "overlay", Data: { LowerDir: lowers.join(":") } },
    RootFS: { Type: "layers", Layers: config.rootfs.diff_ids },
    Metadata: { LastTagTime: image.added },
    Manifest: { Digest: image.manifest, MediaType: image.manifestMediaType },
  };
}

export interface HistoryRow {
  /** The image ID on the newest entry, "<missing>" on the others (docker's convention). */
  id: string;
  created: string | undefined;
  createdBy: string;
  /** Unpacked bytes of the layer this step made; 0 for steps that made none. */
  size: number;
  comment: string;
}

/** Newest first. History entries that are not empty_layer match the layers in order. */
export async function imageHistory(paths: BoxPaths, query: string): Promise<HistoryRow[]> {
  const layout = storeLayout(paths.storage);
  const image: ImageRecord = await requireImage(paths, query);
  const config = parseImageConfig(readBlob(layout, image.id));
  const entries: HistoryEntry[] = config.history ?? image.layers.map(() => ({}));
  let layer = 0;
  const rows = entries.map((entry) => {
    const diffId = entry.empty_layer ? undefined : image.layers[layer++]?.diffId;
    return {
      id: "<missing>",
      created: entry.created,
      createdBy: entry.created_by ?? "",
      size: diffId === undefined ? 0 : (readLayerMeta(layout, diffId)?.size ?? 0),
      comment: entry.comment ?? "",
    };
  });
  rows.reverse();
  if (rows[0] !== undefined) rows[0].id = image.id;
  return rows;
}
