/**
 * The interface both cgroup drivers implement. A driver is given one group directory at a time
 * (youki's shape: code that takes a path), so unit tests can point it at a scratch directory and
 * the e2e tests at the kernel's.
 */
import type { Resources } from "../../schema/container.ts";

/** One of a container's groups: `<hierarchy>/box/<id>`, and what that hierarchy controls. */
export interface Group {
  dir: string;
  version: 1 | 2;
  /** v1: the hierarchy's controllers ("memory"; "cpu,cpuacct" when co-mounted); v2: those the root offers. */
  controllers: string[];
}

/** What one group tells about its processes; a driver fills only what its controllers count. */
export interface GroupSample {
  /** CPU time of every process in the group, in nanoseconds. */
  cpuNs?: number;
  /** Memory charged to the group, in bytes. */
  memUsage?: number;
  /** Of which the kernel can drop without harm (inactive page cache): docker subtracts it. */
  memInactiveFile?: number;
  /** The memory limit that holds for the group (v1: the lowest on the way up); a huge number (v1) or undefined (v2 "max") when unlimited. */
  memLimit?: number;
  blkRead?: number;
  blkWrite?: number;
  pids?: number;
}

/** A field of Resources, i.e. one limit the user can ask for. */
export type Limit = keyof Resources;

export interface CgroupDriver {
  /**
   * Write the limits whose controller this group has; returns the ones written, so the caller
   * can tell the user which asked-for limit no hierarchy could take.
   */
  apply(group: Group, resources: Resources): Limit[];
  /** Add what this group counts to `into`, leaving fields another group already set. */
  sample(group: Group, into: GroupSample): void;
  /** The group's CPU time alone (the second sample of a CPU % needs nothing else). */
  cpuNs(group: Group): number | undefined;
  /** How many processes the OOM killer killed in this group; undefined without a memory controller. */
  oomKills(group: Group): number | undefined;
}
