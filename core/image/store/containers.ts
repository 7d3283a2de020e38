/**
 * Which images containers use. The containers belong to the runtime; the store only reads their
 * configurations (which survive a reboot, unlike their state), each naming the image ID it was
 * created from — or, for containers made before IDs were recorded, the name it was run by.
 */
import type { BoxPaths } from "../../paths.ts";
import { listContainers } from "../../state/containers.ts";
import type { ImageIndex } from "./images.ts";
import { findImage } from "./lookup.ts";

/** Image ID → ids of the containers that use it, in any state. */
export function containersByImage(paths: BoxPaths, index: ImageIndex, search: readonly string[]): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const { config } of listContainers(paths)) {
    let imageId = config.imageId;
    if (imageId === undefined) {
      try {
        imageId = findImage(index, config.image, search)?.id;
      } catch {
        continue;
      }
    }
    if (imageId === undefined) continue;
    used.set(imageId, [...(used.get(imageId) ?? []), config.id]);
  }
  return used;
}
