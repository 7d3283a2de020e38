/**
 * Where a container's checkpoint lives: beside its writable layer in the storage root, so it
 * survives a reboot as the layer does. criu writes its images to images/ and its logs next to it.
 */
import { join } from "node:path";
import type { ContainerDirs } from "../container-dirs.ts";

export interface CheckpointDirs {
  root: string;
  /** criu's image files (-D). */
  images: string;
  /** What restore needs besides the images (manifest.ts). */
  manifest: string;
  dumpLog: string;
  restoreLog: string;
  /** Written by criu restore: the restored tree's root pid as the host sees it. */
  pidFile: string;
}

export const DUMP_LOG = "dump.log";
export const RESTORE_LOG = "restore.log";

export function checkpointDirs(dirs: ContainerDirs): CheckpointDirs {
  const root = join(dirs.storage, "checkpoint");
  return {
    root,
    images: join(root, "images"),
    manifest: join(root, "checkpoint.json"),
    dumpLog: join(root, DUMP_LOG),
    restoreLog: join(root, RESTORE_LOG),
    pidFile: join(dirs.state, "restore.pid"),
  };
}
