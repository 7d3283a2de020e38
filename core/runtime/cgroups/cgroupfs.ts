/**
 * What a container's /sys/fs/cgroup holds: the host's hierarchies as they are laid out under the
 * host's /sys/fs/cgroup (v1 controllers, the named systemd tree, cgroup2 alongside or alone),
 * mounted again inside the container's cgroup namespace so each shows the container's own group
 * as its root, as docker and podman show it.
 */
import { readdirSync, readlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Hierarchy } from "../cgroups.ts";

export const CGROUP_ROOT = "/sys/fs/cgroup";

export interface CgroupfsLayout {
  /** The host mounts cgroup2 on /sys/fs/cgroup itself: one mount, no tmpfs. */
  unified: boolean;
  /** A hierarchy per directory under /sys/fs/cgroup: its name there, fs type and mount data. */
  mounts: { name: string; fstype: "cgroup" | "cgroup2"; data: string }[];
  /** Aliases the host keeps beside comounted controllers (cpu -> cpu,cpuacct). */
  links: { name: string; target: string }[];
}

export function cgroupfsLayout(hierarchies: Hierarchy[], symlinks: () => CgroupfsLayout["links"] = hostSymlinks): CgroupfsLayout {
  const root = CGROUP_ROOT;
  if (hierarchies.some((h) => h.mountpoint === root && h.controllers === "cgroup2")) return { unified: true, mounts: [], links: [] };
  const seen = new Set<string>();
  const mounts: CgroupfsLayout["mounts"] = [];
  for (const h of hierarchies) {
    // Other mounts of the same hierarchies (in a chroot, a container's rootfs) are not the layout.
    if (dirname(h.mountpoint) !== root) continue;
    const name = basename(h.mountpoint);
    if (seen.has(name)) continue;
    seen.add(name);
    mounts.push(h.controllers === "cgroup2" ? { name, fstype: "cgroup2", data: "" } : { name, fstype: "cgroup", data: h.controllers });
  }
  // Only links naming a hierarchy that is mounted: anything else would dangle.
  const links = mounts.length > 0 ? symlinks().filter((l) => seen.has(l.target)) : [];
  return { unified: false, mounts, links };
}

/** The symlinks directly under the host's /sys/fs/cgroup. */
function hostSymlinks(): CgroupfsLayout["links"] {
  let entries;
  try {
    entries = readdirSync(CGROUP_ROOT, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isSymbolicLink()).map((e) => ({ name: e.name, target: readlinkSync(join(CGROUP_ROOT, e.name)) }));
}
