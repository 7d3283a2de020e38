/** Global options (before the command) shared by every command. */
import { defaultPaths, type BoxPaths } from "../core/paths.ts";

export interface GlobalOptions {
  root?: string;
  runroot?: string;
  debug: boolean;
}

export function pathsFor(g: GlobalOptions): BoxPaths {
  const p = defaultPaths();
  return { ...p, ...(g.root ? { storage: g.root } : {}), ...(g.runroot ? { state: g.runroot } : {}) };
}

/**
 * How a detached container's monitor calls box back when the container exits: this same
 * executable (or, in a development checkout, bun with this script) with the same roots.
 */
export function exitCommand(_g: GlobalOptions, paths: BoxPaths, id: string): { argv: string[] } {
  const compiled = Bun.main.startsWith("/$bunfs") || Bun.main.startsWith("B:/~BUN");
  const self = compiled ? [process.execPath] : [process.execPath, Bun.main];
  return { argv: [...self, "--root", paths.storage, "--runroot", paths.state, "_cleanup", id] };
}
