/**
 * The cgroup v2 subtree an unprivileged user may manage. The kernel lets a user create groups,
 * move processes and set limits only where the directory and its cgroup.procs belong to them:
 * systemd's Delegate= does that for user@UID.service, an administrator can chown a subtree.
 * cgroup v1 hierarchies are never delegated (their files have no owner checks a user could
 * pass safely), so on a v1 host a rootless container has no limits at all.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import type { Hierarchy } from "../cgroups.ts";
import { readCgroupFile } from "./files.ts";

export interface Delegated {
  /** The highest directory of the user's subtree: box's groups go in `<dir>/box/<id>`. */
  dir: string;
  /** The controllers the subtree was given (its cgroup.controllers). */
  controllers: string[];
}

export interface NotDelegated {
  /** Why not, as a clause: "/sys/fs/cgroup/unified belongs to root". */
  reason: string;
}

function ownerOf(path: string): number | undefined {
  try {
    return statSync(path).uid;
  } catch {
    return undefined;
  }
}

/** Ours when the directory and the file that moves processes into it are the user's. */
function delegatedTo(dir: string, uid: number): boolean {
  return ownerOf(dir) === uid && ownerOf(join(dir, "cgroup.procs")) === uid;
}

export function userName(uid: number): string {
  for (const line of (readCgroupFile("/etc/passwd") ?? "").split("\n")) {
    const f = line.split(":");
    if (f[2] === String(uid) && f[0]) return f[0];
  }
  return String(uid);
}

/**
 * The user's delegated subtree: systemd's user@UID.service when it is theirs (the same for every
 * session, so later commands find the groups), else the highest group above this process that
 * is theirs.
 */
export function findDelegation(uid: number, hierarchies: Hierarchy[], procSelfCgroup: string): Delegated | NotDelegated {
  const unified = hierarchies.find((h) => h.controllers === "cgroup2");
  if (!unified) return { reason: "no cgroup2 hierarchy is mounted" };
  const own = /^0::(\/.*)$/m.exec(procSelfCgroup)?.[1];
  if (own === undefined) return { reason: "this process is in no cgroup2 group" };
  const service = join(unified.mountpoint, `user.slice/user-${uid}.slice/user@${uid}.service`);
  let dir: string | undefined = delegatedTo(service, uid) ? service : undefined;
  if (!dir) {
    for (let p = own; ; p = p.slice(0, p.lastIndexOf("/")) || "/") {
      const d = join(unified.mountpoint, p);
      if (!delegatedTo(d, uid)) break;
      dir = d;
      if (p === "/") break;
    }
  }
  if (!dir) {
    const group = join(unified.mountpoint, own).replace(/\/$/, "");
    const owner = ownerOf(group);
    return { reason: `${group}, this session's group, belongs to ${owner === undefined ? "nobody it can see" : userName(owner)}` };
  }
  const controllers = (readCgroupFile(join(dir, "cgroup.controllers")) ?? "").split(/\s+/).filter(Boolean);
  return { dir, controllers };
}

export function isDelegated(d: Delegated | NotDelegated): d is Delegated {
  return "dir" in d;
}
