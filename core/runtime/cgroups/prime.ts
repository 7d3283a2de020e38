/**
 * Moving a process between cgroups takes the kernel's global cgroup_threadgroup_rwsem for
 * writing, and the first writer after a quiet spell waits for an RCU grace period (12-18 ms
 * here) before it gets it; writers that follow within a grace period of the last one do not
 * wait. So a start "primes" it: box rewrites its own pid into its own group (a migration to
 * where it already is, changing nothing) on a worker thread as soon as it knows it will run a
 * container, and by the time the shim moves the container's process the wait is over instead
 * of ahead. Best effort: any failure only means the container's migration waits as before.
 */
import { existsSync, readFileSync, writeFile } from "node:fs";
import { join } from "node:path";
import { ownGroups, parseHierarchies } from "../cgroups.ts";

/** cgroup.procs of the group this process is in, in the first mounted hierarchy that has it. */
export function ownProcsFile(
  mountinfo = readFileSync("/proc/self/mountinfo", "utf8"),
  procSelfCgroup = readFileSync("/proc/self/cgroup", "utf8"),
): string | undefined {
  for (const [h, path] of ownGroups(parseHierarchies(mountinfo), procSelfCgroup)) {
    const file = join(h.mountpoint, path, "cgroup.procs");
    if (existsSync(file)) return file;
  }
  return undefined;
}

export function primeCgroupMigration(): void {
  if (process.getuid?.() !== 0) return;
  try {
    const file = ownProcsFile();
    // The callback form runs on Bun's worker pool and returns at once (measured: 0.3 ms, the
    // write itself 11-13 ms); node:fs/promises would cost ~4 ms just to load, Bun.write blocks.
    if (file) writeFile(file, `${process.pid}\n`, () => undefined);
  } catch {
    // see above: best effort
  }
}
