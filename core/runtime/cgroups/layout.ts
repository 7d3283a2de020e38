/**
 * Where a container's groups are and which driver speaks to each, from /proc/self/mountinfo:
 * a v1 host, a v2 host and this kind of hybrid (v1 controllers, cgroup2 alongside) differ only in
 * which hierarchies are mounted and what each one controls.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { groupBases, parseHierarchies, type Hierarchy } from "../cgroups.ts";
import type { CgroupDriver, Group } from "./driver.ts";
import { readCgroupFile } from "./files.ts";
import { v1 } from "./v1.ts";
import { v2 } from "./v2.ts";

export function mountedHierarchies(): Hierarchy[] {
  return parseHierarchies(readFileSync("/proc/self/mountinfo", "utf8"));
}

/**
 * A hierarchy's controllers: v1's from its mount options, v2's from what `top` offers (the root,
 * or a rootless user's delegated subtree: box may enable only what that has).
 */
function groupIn(h: Hierarchy, dir: string, top = h.mountpoint): Group {
  if (h.controllers === "cgroup2") {
    const offered = readCgroupFile(join(top, "cgroup.controllers")) ?? "";
    return { dir, version: 2, controllers: offered.split(/\s+/).filter(Boolean) };
  }
  return { dir, version: 1, controllers: h.controllers.split(",") };
}

/** The groups of container `id`, whether or not they exist (a stopped container has none). */
export function containerGroups(id: string, hierarchies = mountedHierarchies(), uid = process.getuid?.() ?? 0): Group[] {
  return groupsFor(hierarchies, uid)(id);
}

/** containerGroups for many containers: each hierarchy's controllers are read once. */
export function groupsFor(hierarchies: Hierarchy[], uid = process.getuid?.() ?? 0): (id: string) => Group[] {
  const templates = groupBases(hierarchies, undefined, uid).map((b) => groupIn(b.hierarchy, b.base, b.top));
  // Concatenation, not join: this runs for every container of every `box stats` refresh.
  return (id) => templates.map((t) => ({ ...t, dir: `${t.dir}/${id}` }));
}

/** The groups for directories made by createContainerCgroups (`<base>/<id>`, see groupBases). */
export function groupsOfDirs(dirs: string[], hierarchies = mountedHierarchies(), uid = process.getuid?.() ?? 0): Group[] {
  const bases = groupBases(hierarchies, undefined, uid);
  const out: Group[] = [];
  for (const dir of dirs) {
    const b = bases.find((x) => x.base === dirname(dir));
    if (b) out.push(groupIn(b.hierarchy, dir, b.top));
  }
  return out;
}

export function driverFor(g: Group): CgroupDriver {
  return g.version === 1 ? v1 : v2;
}

/** Which version holds `controller` here: v1 if a v1 hierarchy has it, v2 if the unified root offers it. */
export function controllerVersion(controller: string, hierarchies = mountedHierarchies()): 1 | 2 | undefined {
  if (hierarchies.some((h) => h.controllers !== "cgroup2" && h.controllers.split(",").includes(controller))) return 1;
  const unified = hierarchies.find((h) => h.controllers === "cgroup2");
  if (unified && groupIn(unified, unified.mountpoint).controllers.includes(controller)) return 2;
  return undefined;
}

/** Whether the OOM killer struck inside the groups in `dirs` (read before they are removed). */
export function oomKilled(dirs: string[], hierarchies = mountedHierarchies()): boolean {
  return groupsOfDirs(dirs, hierarchies).some((g) => (driverFor(g).oomKills(g) ?? 0) > 0);
}
