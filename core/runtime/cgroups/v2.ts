/**
 * cgroup v2: one tree, one group per container, and a controller's files appear in a group only
 * once its parent lists the controller in cgroup.subtree_control. Value conversions from docker's
 * v1-shaped flags follow runc (libcontainer/cgroups/fs2 and its ConvertCPUSharesToCgroupV2Value).
 */
import { dirname, join } from "node:path";
import type { Resources } from "../../schema/container.ts";
import { deviceNumber } from "./devices.ts";
import type { CgroupDriver, Group, GroupSample, Limit } from "./driver.ts";
import { keyedValue, readCgroupFile, readKeyed, readNumber, writeCgroupFile } from "./files.ts";
import { CFS_PERIOD_US, memoryAndSwapTotal } from "./v1.ts";

/** The v2 controller each limit needs. */
export const CONTROLLER: Record<Limit, string> = {
  memory: "memory", memorySwap: "memory", memoryReservation: "memory",
  nanoCpus: "cpu", cpuShares: "cpu", cpusetCpus: "cpuset", pidsLimit: "pids",
  blkioWeight: "io", deviceReadBps: "io", deviceWriteBps: "io",
};

/** cpu.shares (2..262144, default 1024) to cpu.weight (1..10000, default 100), as runc maps it. */
export function sharesToWeight(shares: number): number {
  return shares > 0 ? Math.floor(1 + ((shares - 2) * 9999) / 262142) : 100;
}

/** blkio weight (10..1000) to io.weight (1..10000), as runc maps it. */
export function blkioToIoWeight(weight: number): number {
  return Math.floor(1 + ((weight - 10) * 9999) / 990);
}

/**
 * Enable `controllers` on the way down to `dir`: in every ancestor that has a
 * cgroup.subtree_control, from the top, for each controller it offers and has not enabled yet.
 * The ancestors of a container's group hold no processes (box/ is box's own), so the kernel's
 * no-internal-processes rule never refuses this.
 */
export function enableControllers(dir: string, controllers: string[]): void {
  const chain: string[] = [];
  for (let d = dirname(dir); readCgroupFile(join(d, "cgroup.subtree_control")) !== undefined; d = dirname(d)) {
    chain.unshift(d);
    if (d === "/") break;
  }
  for (const d of chain) {
    const offered = (readCgroupFile(join(d, "cgroup.controllers")) ?? "").split(/\s+/);
    const enabled = (readCgroupFile(join(d, "cgroup.subtree_control")) ?? "").split(/\s+/);
    const add = controllers.filter((c) => offered.includes(c) && !enabled.includes(c));
    if (add.length > 0) writeCgroupFile(join(d, "cgroup.subtree_control"), add.map((c) => `+${c}`).join(" "));
  }
}

function applyIo(dir: string, r: Resources): Limit[] {
  const done: Limit[] = [];
  if (r.blkioWeight !== undefined) {
    if (r.blkioWeight > 0) {
      // io.weight belongs to the iocost controller; BFQ reads io.bfq.weight in blkio's own units.
      if (readCgroupFile(join(dir, "io.weight")) !== undefined) writeCgroupFile(join(dir, "io.weight"), `default ${blkioToIoWeight(r.blkioWeight)}`);
      else writeCgroupFile(join(dir, "io.bfq.weight"), r.blkioWeight);
    }
    done.push("blkioWeight");
  }
  for (const [key, field] of [["deviceReadBps", "rbps"], ["deviceWriteBps", "wbps"]] as const) {
    const list = r[key];
    if (!list) continue;
    for (const d of list) writeCgroupFile(join(dir, "io.max"), `${deviceNumber(d.path)} ${field}=${d.rate > 0 ? d.rate : "max"}`);
    done.push(key);
  }
  return done;
}

function applyAll(dir: string, r: Resources, controllers: string[]): Limit[] {
  const done: Limit[] = [];
  const on = (c: string) => controllers.includes(c);
  if (on("memory")) {
    const m = memoryAndSwapTotal(r);
    if (m) {
      writeCgroupFile(join(dir, "memory.max"), m.memory > 0 ? m.memory : "max");
      if (r.memory !== undefined) done.push("memory");
      // v2 limits swap alone: docker's memory+swap total minus the memory limit.
      if (readCgroupFile(join(dir, "memory.swap.max")) !== undefined) {
        writeCgroupFile(join(dir, "memory.swap.max"), m.total > 0 && m.memory > 0 ? m.total - m.memory : "max");
        if (r.memorySwap !== undefined) done.push("memorySwap");
      }
    }
    if (r.memoryReservation !== undefined) {
      writeCgroupFile(join(dir, "memory.low"), r.memoryReservation > 0 ? r.memoryReservation : 0);
      done.push("memoryReservation");
    }
  }
  if (on("cpu")) {
    if (r.nanoCpus !== undefined) {
      const quota = r.nanoCpus > 0 ? String(Math.round((r.nanoCpus * CFS_PERIOD_US) / 1e9)) : "max";
      writeCgroupFile(join(dir, "cpu.max"), `${quota} ${CFS_PERIOD_US}`);
      done.push("nanoCpus");
    }
    if (r.cpuShares !== undefined) {
      writeCgroupFile(join(dir, "cpu.weight"), sharesToWeight(r.cpuShares));
      done.push("cpuShares");
    }
  }
  if (on("cpuset") && r.cpusetCpus !== undefined) {
    writeCgroupFile(join(dir, "cpuset.cpus"), r.cpusetCpus);
    done.push("cpusetCpus");
  }
  if (on("pids") && r.pidsLimit !== undefined) {
    writeCgroupFile(join(dir, "pids.max"), r.pidsLimit > 0 ? r.pidsLimit : "max");
    done.push("pidsLimit");
  }
  if (on("io")) done.push(...applyIo(dir, r));
  return done;
}

/** rbytes and wbytes of io.stat, summed over devices ("8:0 rbytes=4096 wbytes=0 ..." lines). */
export function parseIoStat(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const m of text.matchAll(/\b([rw])bytes=(\d+)/g)) {
    if (m[1] === "r") read += Number(m[2]);
    else write += Number(m[2]);
  }
  return { read, write };
}

/** cpu.stat's usage_usec exists in every non-root v2 group, with or without the cpu controller. */
function cpuNs(g: Group): number | undefined {
  const usec = keyedValue(readCgroupFile(`${g.dir}/cpu.stat`), "usage_usec");
  return usec === undefined ? undefined : usec * 1000;
}

export const v2: CgroupDriver = {
  apply(g, r) {
    const wanted = [...new Set(Object.entries(r).filter(([, v]) => v !== undefined).map(([k]) => CONTROLLER[k as Limit]))];
    const usable = wanted.filter((c) => g.controllers.includes(c));
    if (usable.length === 0) return [];
    enableControllers(g.dir, usable);
    return applyAll(g.dir, r, usable);
  },

  cpuNs,

  sample(g, into: GroupSample) {
    if (into.cpuNs === undefined) {
      const cpu = cpuNs(g);
      if (cpu !== undefined) into.cpuNs = cpu;
    }
    // Only what the hierarchy offers: a missing file costs an exception, and 50 containers
    // times three of them is most of a --no-stream on a hybrid host.
    const offers = (c: string) => g.controllers.includes(c);
    if (into.memUsage === undefined && offers("memory")) {
      const usage = readNumber(`${g.dir}/memory.current`);
      if (usage !== undefined) {
        into.memUsage = usage;
        const stat = readCgroupFile(`${g.dir}/memory.stat`);
        into.memInactiveFile = keyedValue(stat, "inactive_file") ?? 0;
        const limit = readNumber(`${g.dir}/memory.max`);
        if (limit !== undefined) into.memLimit = limit;
      }
    }
    if (into.blkRead === undefined && offers("io")) {
      const text = readCgroupFile(`${g.dir}/io.stat`);
      if (text !== undefined) {
        const io = parseIoStat(text);
        into.blkRead = io.read;
        into.blkWrite = io.write;
      }
    }
    if (into.pids === undefined && offers("pids")) {
      const pids = readNumber(`${g.dir}/pids.current`);
      if (pids !== undefined) into.pids = pids;
    }
  },

  oomKills(g) {
    return g.controllers.includes("memory") ? readKeyed(join(g.dir, "memory.events"))?.get("oom_kill") : undefined;
  },
};
