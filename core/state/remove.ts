/**
 * Remove a directory tree that a container wrote. Without root, a directory the container made
 * unreadable (mode 000, like overlayfs' own work/work) cannot be listed even by its owner, so a
 * failed removal makes every directory owner-accessible and tries once more.
 */
import { chmodSync, lstatSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

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
    rmSync(path, { recursive: true, force: true });
  }
}
