/**
 * Resolve a path inside a container's root the way the kernel would after chroot: every symlink
 * is followed lexically and clamped at the root, so `/etc/passwd -> /../../host` stays inside.
 * Used for the few files box reads from an image on the host side (/etc/passwd, /etc/group).
 */
import { lstatSync, readlinkSync } from "node:fs";
import { join } from "node:path";

const MAX_LINKS = 40;

export function resolveInRoot(root: string, path: string): string {
  let parts = path.split("/").filter((p) => p && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = join(root, ...done, part);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      isLink = false;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw Object.assign(new Error(`too many symlinks resolving \`${path}\``), { code: "ELOOP" });
    const target = readlinkSync(candidate);
    const targetParts = target.split("/").filter((p) => p && p !== ".");
    if (target.startsWith("/")) done.length = 0;
    parts = [...targetParts, ...parts];
  }
  return join(root, ...done);
}
