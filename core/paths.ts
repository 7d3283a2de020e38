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
  /**
   * This box runs inside the rootless user's own user namespace (rerunInUserNamespace): still
   * rootless for the store, but files show the container's ids, not the host's shifted ones.
   */
  inUserNamespace?: boolean;
}

/** Set by box for the box it runs again inside the user's user namespace; never set by hand. */
export const IN_USERNS_ENV = "BOX_IN_USERNS";

export function defaultPaths(env: NodeJS.ProcessEnv = process.env, uid = getuid()): BoxPaths {
  // Inside the user namespace getuid() is 0, but the store and its layout are still the user's.
  const inUserNamespace = env[IN_USERNS_ENV] === "1";
  const rootless = uid !== 0 || inUserNamespace;
  const home = env.HOME ?? `/tmp/box-home-${uid}`;
  const state = env.BOX_STATE
    ?? (rootless ? (env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, "box") : `/tmp/box-${uid}`) : "/run/box");
  const storage = env.BOX_ROOT
    ?? (rootless ? join(env.XDG_DATA_HOME ?? join(home, ".local/share"), "box") : "/var/lib/box");
  const config = env.BOX_CONFIG
    ?? (rootless ? join(env.XDG_CONFIG_HOME ?? join(home, ".config"), "box") : "/etc/box");
  return { state, storage, config, rootless, ...(inUserNamespace ? { inUserNamespace } : {}) };
}
