/**
 * Remove a directory tree that a container wrote. Without root, a directory the container made
 * unreadable (mode 000, like overlayfs' own work/work) cannot be listed even by its owner, so a
 * failed removal makes every directory owner-accessible and tries once more. A directory owned
 * by one of the user's subordinate ids (a container's copy-up, a layer's directory given to
 * uid 1000) is not the user's to empty or open up at all: that tree goes from inside a user
 * namespace with the containers' map, where it is.
 */
import { chmodSync, lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { removeInUserNamespace } from "../image/userns-chown.ts";

function openUp(dir: string): void {
  try {
    chmodSync(dir, 0o700);
  } catch {
    return;
  }
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (lstatSync(p).isDirectory()) openUp(p);
  }
}

export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    openUp(path);
    try {
      rmSync(path, { recursive: true, force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (process.geteuid?.() === 0 || (code !== "EACCES" && code !== "EPERM")) throw err;
      if (!removeInUserNamespace(path)) throw err;
    }
  }
}
