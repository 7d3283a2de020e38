/**
 * Minimal cgroup placement for the runtime core: each container gets its own group under `box/`
 * in every mounted hierarchy (cgroup v1 controllers and the v2 unified tree alike), so a cgroup
 * namespace shows it a root of its own and its processes can be found and killed as one. A
 * rootless user's containers get one only in the cgroup2 subtree delegated to them, if any.
 * Limits and statistics are the business of the resource-limits work; this module only places.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findDelegation, isDelegated } from "./cgroups/delegation.ts";

export interface Hierarchy {
  mountpoint: string;
  /** "cgroup2" for the unified tree, else the v1 controller list ("cpu", "memory", "name=systemd"). */
  controllers: string;
}

/** Hierarchies from /proc/self/mountinfo: field 9 is the fs type, the super options follow. */
export function parseHierarchies(mountinfo: string): Hierarchy[] {
  const out: Hierarchy[] = [];
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(" ");
    const post = line.slice(sep + 3).split(" ");
    const fstype = post[0];
    const mountpoint = pre[4];
    if (!mountpoint) continue;
    if (fstype === "cgroup2") out.push({ mountpoint, controllers: "cgroup2" });
    else if (fstype === "cgroup") {
      const opts = (post[2] ?? "").split(",").filter((o) => !["rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec"].includes(o));
      out.push({ mountpoint, controllers: opts.join(",") });
    }
  }
  return out;
}

/** A v1 cpuset group refuses tasks until cpus and mems are set; copy them from the parent. */
function initCpuset(dir: string, parent: string): void {
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    const p = join(dir, f);
    if (!existsSync(p)) continue;
    if (readFileSync(p, "utf8").trim() !== "") continue;
    writeFileSync(p, readFileSync(join(parent, f), "utf8"));
  }
}

export interface ContainerCgroups {
  dirs: string[];
  /** Per hierarchy: the container's cgroup.procs and box's own (where the shim returns). */
  procs: { container: string; own: string }[];
}

/** box's own group in each hierarchy, from /proc/self/cgroup ("id:controllers:/path"). */
export function ownGroups(hierarchies: Hierarchy[], procSelfCgroup: string): Map<Hierarchy, string> {
  const byControllers = new Map<string, string>();
  for (const line of procSelfCgroup.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1] === "" ? "cgroup2" : (m[1] as string).split(",").sort().join(",");
    byControllers.set(key, m[2] as string);
  }
  const out = new Map<Hierarchy, string>();
  for (const h of hierarchies) {
    const key = h.controllers === "cgroup2" ? "cgroup2" : h.controllers.split(",").sort().join(",");
    const path = byControllers.get(key);
    if (path !== undefined) out.set(h, path);
  }
  return out;
}

/** Where containers' groups go in a hierarchy, and the group whose controllers they may use. */
export interface GroupBase {
  hierarchy: Hierarchy;
  /** `<mountpoint>/box`, or `<delegated subtree>/box` for a rootless user. */
  base: string;
  /** The mountpoint, or the delegated subtree: its cgroup.controllers are what the groups can get. */
  top: string;
}

/** The bases for this user: every hierarchy's as root; rootless, only a delegated cgroup2 subtree's. */
export function groupBases(
  hierarchies: Hierarchy[],
  procSelfCgroup = readFileSync("/proc/self/cgroup", "utf8"),
  uid = process.getuid?.() ?? 0,
): GroupBase[] {
  if (uid === 0) return hierarchies.map((h) => ({ hierarchy: h, base: join(h.mountpoint, "box"), top: h.mountpoint }));
  const unified = hierarchies.find((h) => h.controllers === "cgroup2");
  const d = findDelegation(uid, hierarchies, procSelfCgroup);
  return unified && isDelegated(d) ? [{ hierarchy: unified, base: join(d.dir, "box"), top: d.dir }] : [];
}

export function createContainerCgroups(
  id: string,
  hierarchies = parseHierarchies(readFileSync("/proc/self/mountinfo", "utf8")),
  procSelfCgroup = readFileSync("/proc/self/cgroup", "utf8"),
  uid = process.getuid?.() ?? 0,
): ContainerCgroups {
  const own = ownGroups(hierarchies, procSelfCgroup);
  const dirs: string[] = [];
  const procs: ContainerCgroups["procs"] = [];
  for (const { hierarchy: h, base } of groupBases(hierarchies, procSelfCgroup, uid)) {
    const ownPath = own.get(h);
    // A hierarchy box is not a member of (mounted but unused) is left alone.
    if (ownPath === undefined) continue;
    const dir = join(base, id);
    mkdirSync(dir, { recursive: true });
    dirs.push(dir);
    if (h.controllers.split(",").includes("cpuset")) {
      initCpuset(base, h.mountpoint);
      initCpuset(dir, base);
    }
    procs.push({ container: join(dir, "cgroup.procs"), own: join(h.mountpoint, ownPath, "cgroup.procs") });
  }
  return { dirs, procs };
}

/** The groups box made for container `id`, in every hierarchy (to remove them later). */
export function cgroupDirsOf(id: string, hierarchies = parseHierarchies(readFileSync("/proc/self/mountinfo", "utf8"))): string[] {
  return groupBases(hierarchies).map((b) => join(b.base, id)).filter((d) => existsSync(d));
}

/** Remove the groups; a group still holding a dying process is retried briefly. */
export async function removeCgroupsOf(dirs: string[]): Promise<void> {
  for (const d of dirs) {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        rmdirSync(d);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") break;
        if (code !== "EBUSY" || attempt === 19) break;
        await Bun.sleep(5);
      }
    }
  }
}
