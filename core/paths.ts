/**
 * Where box keeps its files: FHS paths for root, XDG paths for everyone else (the architecture
 * brief). `--root` / BOX_ROOT and `--state` / BOX_STATE override both, which is how tests isolate
 * themselves.
 */
import { join } from "node:path";
import { getuid } from "../ffi/syscalls.ts";

export interface BoxPaths {
  /** Volatile state: one directory per container, gone after a reboot. */
  state: string;
  /** Persistent storage: images, layers, container configs and writable layers. */
  storage: string;
  config: string;
  rootless: boolean;
}

export function defaultPaths(env: NodeJS.ProcessEnv = process.env, uid = getuid()): BoxPaths {
  const rootless = uid !== 0;
  const home = env.HOME ?? `/tmp/box-home-${uid}`;
  const state = env.BOX_STATE
    ?? (rootless ? (env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, "box") : `/tmp/box-${uid}`) : "/run/box");
  const storage = env.BOX_ROOT
    ?? (rootless ? join(env.XDG_DATA_HOME ?? join(home, ".local/share"), "box") : "/var/lib/box");
  const config = env.BOX_CONFIG
    ?? (rootless ? join(env.XDG_CONFIG_HOME ?? join(home, ".config"), "box") : "/etc/box");
  return { state, storage, config, rootless };
}
