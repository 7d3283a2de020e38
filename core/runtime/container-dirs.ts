/**
 * Where one container's files live: its volatile state (state.json, exit status, generated /etc
 * files) under the state root; its configuration, log and writable layer under the storage root
 * so they survive a reboot.
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
  /** Written by the monitor when the container exits: "<code> <ns since epoch>". */
  exitFile: string;
  config: string;
  log: string;
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
    exitFile: join(state, "exit"),
    config: join(storage, "config.json"),
    log: join(storage, "ctr.log"),
  };
}

/** Names outlive a reboot with the containers they name, so they live in storage. */
export function namesDir(paths: BoxPaths): string {
  return join(paths.storage, "names");
}
