/** `box info`: where box keeps things, how it mounts root filesystems, and what it holds. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readIndex } from "./image/store/images.ts";
import { storeLayout } from "./image/store/layout.ts";
import type { BoxPaths } from "./paths.ts";
import { parseHierarchies, type Hierarchy } from "./runtime/cgroups.ts";
import { seccompSupported } from "./runtime/seccomp/index.ts";

export interface SystemInfo {
  storageRoot: string;
  stateRoot: string;
  configRoot: string;
  rootless: boolean;
  /** "overlay" with the kernel's overlayfs; rootless mounts it inside a user namespace with userxattr. */
  storageDriver: { name: string; mode: string };
  images: number;
  containers: number;
  /** "v1 (hybrid, cgroup2 at …)", "v2 (unified)", or "v1". */
  cgroupLayout: string;
  cgroupHierarchies: Hierarchy[];
  kernel: string;
  architecture: string;
  /** docker's form: "name=seccomp,profile=builtin" when the kernel filters syscalls. */
  securityOptions: string[];
}

function cgroupLayout(hierarchies: Hierarchy[]): string {
  const v2 = hierarchies.find((h) => h.controllers === "cgroup2");
  const v1 = hierarchies.filter((h) => h.controllers !== "cgroup2");
  if (v2 !== undefined && v1.length === 0) return "v2 (unified)";
  if (v2 !== undefined) return `v1 (hybrid, cgroup2 at ${v2.mountpoint})`;
  return v1.length > 0 ? "v1" : "none";
}

function countContainers(paths: BoxPaths): number {
  const ids = new Set<string>();
  for (const dir of [join(paths.storage, "containers"), join(paths.state, "containers")]) {
    if (existsSync(dir)) for (const id of readdirSync(dir)) ids.add(id);
  }
  return ids.size;
}

export function systemInfo(paths: BoxPaths): SystemInfo {
  const hierarchies = parseHierarchies(readFileSync("/proc/self/mountinfo", "utf8"));
  const overlay = readFileSync("/proc/filesystems", "utf8").split("\n").some((l) => l.trim().endsWith("overlay"));
  return {
    storageRoot: paths.storage,
    stateRoot: paths.state,
    configRoot: paths.config,
    rootless: paths.rootless,
    storageDriver: {
      name: "overlay",
      mode: !overlay ? "kernel overlay (not loaded yet; the kernel loads it on first mount)" : paths.rootless ? "kernel overlay, userxattr (in a user namespace)" : "kernel overlay",
    },
    images: readIndex(storeLayout(paths.storage)).images.length,
    containers: countContainers(paths),
    cgroupLayout: cgroupLayout(hierarchies),
    cgroupHierarchies: hierarchies,
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    architecture: process.arch,
    securityOptions: seccompSupported() ? ["name=seccomp,profile=builtin"] : [],
  };
}
