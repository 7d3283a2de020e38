/**
 * Mount points of a RUN's --mount targets. The runtime would create a missing target (and its
 * missing parents) in the container's upper directory, and so in the step's layer. BuildKit
 * leaves no trace of them (its mount-stub cleaner), so box makes them itself before the step,
 * parents with the mode and owner the image gives them, and removes afterwards each one it made
 * that the command left empty.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, rmdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lookupPath } from "./rootfs.ts";

export interface MountStubs {
  /** Paths made in the upper directory, outermost first. */
  made: { rel: string; dir: boolean }[];
}

/**
 * Make `rel` (a directory, or an empty file when `file`) and its missing parents in `upper`.
 * A parent that the image has as something other than a directory (a symlink) is left to the
 * runtime, which resolves it inside the root.
 */
export function makeStub(upper: string, lowers: string[], rel: string, file: boolean, stubs: MountStubs): void {
  const parts = rel.split("/").filter(Boolean);
  let cur = "";
  for (const [i, part] of parts.entries()) {
    cur = cur === "" ? part : `${cur}/${part}`;
    const last = i === parts.length - 1;
    const abs = join(upper, cur);
    if (existsSync(abs)) {
      if (!lstatSync(abs).isDirectory()) return;
      continue;
    }
    const found = lookupPath(lowers, cur);
    if (found !== undefined) {
      if (last) return;
      if (!found.stat.isDirectory()) return;
      // Present below: an upper directory of the same mode and owner merges with it unseen.
      mkdirSync(abs);
      chmodSync(abs, found.stat.mode & 0o7777);
      try {
        chownSync(abs, found.stat.uid, found.stat.gid);
      } catch {
        // Rootless: the directory stays the user's, root in the step as well.
      }
    } else if (last && file) writeFileSync(abs, "", { mode: 0o644 });
    else {
      mkdirSync(abs);
      chmodSync(abs, 0o755);
    }
    stubs.made.push({ rel: cur, dir: !(last && file) });
  }
}

/** Remove, innermost first, what makeStub made and the command left empty. */
export function removeStubs(upper: string, stubs: MountStubs): void {
  for (const { rel, dir } of [...stubs.made].reverse()) {
    const abs = join(upper, rel);
    try {
      const st = lstatSync(abs);
      if (dir && st.isDirectory()) rmdirSync(abs);
      else if (!dir && st.isFile() && st.size === 0) unlinkSync(abs);
    } catch {
      // Not empty, or replaced by the command: it belongs to the layer.
    }
  }
}
