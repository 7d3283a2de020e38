/**
 * User-namespace id maps for rootless runs. The invoking user becomes root in the container;
 * with ranges in /etc/subuid and /etc/subgid (and the setuid newuidmap/newgidmap helpers) the
 * container gets 65536 ids like podman, otherwise a single id, which the kernel lets any user map.
 */
import { accessSync, constants, readFileSync } from "node:fs";

export interface IdRange { start: number; count: number }

export interface UserNamespaceMaps {
  kind: "subid" | "single";
  /** Container id 0 and, for subid maps, 1..count. */
  uidRanges: { inside: number; outside: number; count: number }[];
  gidRanges: { inside: number; outside: number; count: number }[];
}

export function parseSubidFile(text: string, user: string, uid: number): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split("\n")) {
    const [name, start, count] = line.trim().split(":");
    if (!name || start === undefined || count === undefined) continue;
    if (name !== user && name !== String(uid)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isInteger(s) && Number.isInteger(c) && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

function readSubids(path: string, user: string, uid: number): IdRange[] {
  try {
    return parseSubidFile(readFileSync(path, "utf8"), user, uid);
  } catch {
    return [];
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The user's name from /etc/passwd (read directly: node:os costs every start ~1 ms to load). */
function passwdName(uid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync("/etc/passwd", "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && f[2] === String(uid) && f[0]) return f[0];
  }
  return undefined;
}

/** A user only NSS knows (LDAP, sssd): getpwuid through node:os, loaded only then. */
function nssName(): string | undefined {
  try {
    return (require("node:os") as typeof import("node:os")).userInfo().username;
  } catch {
    return undefined;
  }
}

export function rootlessMaps(uid: number, gid: number): UserNamespaceMaps {
  // A uid without a passwd entry can still own subordinate ranges by number.
  const name = passwdName(uid) ?? nssName() ?? String(uid);
  const subuid = readSubids("/etc/subuid", name, uid);
  const subgid = readSubids("/etc/subgid", name, uid);
  const helpers = executable("/usr/bin/newuidmap") && executable("/usr/bin/newgidmap");
  const [u] = subuid;
  const [g] = subgid;
  if (helpers && u && g) {
    return {
      kind: "subid",
      uidRanges: [{ inside: 0, outside: uid, count: 1 }, { inside: 1, outside: u.start, count: Math.min(u.count, 65536) }],
      gidRanges: [{ inside: 0, outside: gid, count: 1 }, { inside: 1, outside: g.start, count: Math.min(g.count, 65536) }],
    };
  }
  return {
    kind: "single",
    uidRanges: [{ inside: 0, outside: uid, count: 1 }],
    gidRanges: [{ inside: 0, outside: gid, count: 1 }],
  };
}

export function mapText(ranges: UserNamespaceMaps["uidRanges"]): string {
  return ranges.map((r) => `${r.inside} ${r.outside} ${r.count}\n`).join("");
}

export function helperArgs(ranges: UserNamespaceMaps["uidRanges"]): string {
  return ranges.map((r) => `${r.inside} ${r.outside} ${r.count}`).join(" ");
}

/** Whether container id `id` exists in the namespace (e.g. gid 5 for devpts' tty group). */
export function isMapped(ranges: UserNamespaceMaps["gidRanges"], id: number): boolean {
  return ranges.some((r) => id >= r.inside && id < r.inside + r.count);
}
