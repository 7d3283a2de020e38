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
