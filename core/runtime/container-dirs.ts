/**
 * Where one container's files live: its volatile state (plan, generated /etc files) under the
 * state root, its writable layer under the storage root so it survives a reboot.
 */
import { join } from "node:path";
import type { BoxPaths } from "../paths.ts";

export interface ContainerDirs {
  state: string;
  storage: string;
  upper: string;
  work: string;
  merged: string;
  hostname: string;
  hosts: string;
  resolvConf: string;
  stateFile: string;
}

/**
 * A `--rm` container's writable layer is thrown away at exit, so it lives under the volatile
 * state root (tmpfs on most hosts) instead of the storage root.
 */
export function containerDirs(paths: BoxPaths, id: string, ephemeral = false): ContainerDirs {
  const state = join(paths.state, "containers", id);
  const storage = ephemeral ? join(state, "layer") : join(paths.storage, "containers", id);
  return {
    state,
    storage,
    upper: join(storage, "upper"),
    work: join(storage, "work"),
    merged: join(storage, "merged"),
    hostname: join(state, "hostname"),
    hosts: join(state, "hosts"),
    resolvConf: join(state, "resolv.conf"),
    stateFile: join(state, "state.json"),
  };
}

export function namesDir(paths: BoxPaths): string {
  return join(paths.state, "names");
}
