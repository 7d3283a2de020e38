/**
 * cgroup v1: one hierarchy per controller (or a few co-mounted), so a container has one group
 * per hierarchy and each limit goes to the group whose hierarchy holds its controller. File
 * names and units follow the kernel's Documentation/admin-guide/cgroup-v1/.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Resources } from "../../schema/container.ts";
import { deviceNumber } from "./devices.ts";
import type { CgroupDriver, Group, GroupSample, Limit } from "./driver.ts";
import { keyedValue, readCgroupFile, readKeyed, readNumber, writeCgroupFile } from "./files.ts";

/** CFS period for --cpus, docker's and runc's default: 100 ms. */
export const CFS_PERIOD_US = 100000;

/** docker's --memory-swap: unset with --memory means as much swap as memory (total = 2x). */
export function memoryAndSwapTotal(r: Resources): { memory: number; total: number } | undefined {
  if (r.memory === undefined && r.memorySwap === undefined) return undefined;
  const memory = r.memory !== undefined && r.memory > 0 ? r.memory : -1;
  const total = r.memorySwap !== undefined ? (r.memorySwap > 0 ? r.memorySwap : -1) : memory > 0 ? memory * 2 : -1;
  return { memory, total };
}

function applyMemory(dir: string, r: Resources): Limit[] {
  const done: Limit[] = [];
  if (r.memoryReservation !== undefined) {
    writeCgroupFile(join(dir, "memory.soft_limit_in_bytes"), r.memoryReservation > 0 ? r.memoryReservation : -1);
    done.push("memoryReservation");
  }
  const m = memoryAndSwapTotal(r);
  if (!m) return done;
  const limitFile = join(dir, "memory.limit_in_bytes");
  const swapFile = join(dir, "memory.memsw.limit_in_bytes");
  if (r.memory !== undefined) done.push("memory");
  // Without swap accounting (swapaccount=0) there is no memsw file: --memory-swap cannot apply.
  if (!existsSync(swapFile)) {
    writeCgroupFile(limitFile, m.memory);
    return done;
  }
  if (r.memorySwap !== undefined) done.push("memorySwap");
  // The kernel keeps limit <= memsw.limit at every step, so the order of the two writes depends
  // on where the current limit is (runc's setMemoryAndSwap).
  const current = readNumber(limitFile) ?? -1;
  if (m.total === -1 || (current !== -1 && current < m.total)) {
    writeCgroupFile(swapFile, m.total);
    writeCgroupFile(limitFile, m.memory);
  } else {
    writeCgroupFile(limitFile, m.memory);
    writeCgroupFile(swapFile, m.total);
  }
  return done;
}

function applyCpu(dir: string, r: Resources): Limit[] {
  const done: Limit[] = [];
  if (r.nanoCpus !== undefined) {
    writeCgroupFile(join(dir, "cpu.cfs_period_us"), CFS_PERIOD_US);
    writeCgroupFile(join(dir, "cpu.cfs_quota_us"), r.nanoCpus > 0 ? Math.round((r.nanoCpus * CFS_PERIOD_US) / 1e9) : -1);
    done.push("nanoCpus");
  }
  if (r.cpuShares !== undefined) {
    writeCgroupFile(join(dir, "cpu.shares"), r.cpuShares > 0 ? r.cpuShares : 1024);
    done.push("cpuShares");
  }
  return done;
}

function applyBlkio(dir: string, r: Resources): Limit[] {
  const done: Limit[] = [];
  if (r.blkioWeight !== undefined) {
    // CFQ's blkio.weight is gone from blk-mq kernels; BFQ offers blkio.bfq.weight (runc does the same).
    const file = ["blkio.weight", "blkio.bfq.weight"].map((f) => join(dir, f)).find((p) => existsSync(p));
    if (file) {
      // 0 is docker's "no weight": the group keeps the scheduler's default.
      if (r.blkioWeight > 0) writeCgroupFile(file, r.blkioWeight);
      done.push("blkioWeight");
    }
  }
  for (const [key, file] of [["deviceReadBps", "blkio.throttle.read_bps_device"], ["deviceWriteBps", "blkio.throttle.write_bps_device"]] as const) {
    const list = r[key];
    if (!list) continue;
    for (const d of list) writeCgroupFile(join(dir, file), `${deviceNumber(d.path)} ${d.rate}`);
    done.push(key);
  }
  return done;
}

/** Read+Write bytes of `blkio.throttle.io_service_bytes[_recursive]` ("8:0 Read 4096" lines). */
export function parseBlkioServiceBytes(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of text.split("\n")) {
    const [, op, value] = line.split(" ");
    if (op === "Read") read += Number(value);
    else if (op === "Write") write += Number(value);
  }
  return { read, write };
}

const has = (g: Group, c: string): boolean => g.controllers.includes(c);

function cpuNs(g: Group): number | undefined {
  return has(g, "cpuacct") ? readNumber(`${g.dir}/cpuacct.usage`) : undefined;
}

export const v1: CgroupDriver = {
  apply(g, r) {
    const done: Limit[] = [];
    if (has(g, "memory")) done.push(...applyMemory(g.dir, r));
    if (has(g, "cpu")) done.push(...applyCpu(g.dir, r));
    if (has(g, "cpuset") && r.cpusetCpus !== undefined) {
      writeCgroupFile(`${g.dir}/cpuset.cpus`, r.cpusetCpus);
      done.push("cpusetCpus");
    }
    if (has(g, "pids") && r.pidsLimit !== undefined) {
      writeCgroupFile(`${g.dir}/pids.max`, r.pidsLimit > 0 ? r.pidsLimit : "max");
      done.push("pidsLimit");
    }
    if (has(g, "blkio")) done.push(...applyBlkio(g.dir, r));
    return done;
  },

  cpuNs,

  sample(g, into: GroupSample) {
    if (into.cpuNs === undefined) {
      const cpu = cpuNs(g);
      if (cpu !== undefined) into.cpuNs = cpu;
    }
    if (has(g, "memory") && into.memUsage === undefined) {
      const usage = readNumber(`${g.dir}/memory.usage_in_bytes`);
      if (usage !== undefined) {
        const stat = readCgroupFile(`${g.dir}/memory.stat`);
        into.memUsage = usage;
        into.memInactiveFile = keyedValue(stat, "total_inactive_file") ?? 0;
        // The limit that holds, the lowest on the way up, is in memory.stat already: one file less.
        const limit = keyedValue(stat, "hierarchical_memory_limit") ?? readNumber(`${g.dir}/memory.limit_in_bytes`);
        if (limit !== undefined) into.memLimit = limit;
      }
    }
    if (has(g, "blkio") && into.blkRead === undefined) {
      const text = readCgroupFile(`${g.dir}/blkio.throttle.io_service_bytes_recursive`) ?? readCgroupFile(`${g.dir}/blkio.throttle.io_service_bytes`);
      if (text !== undefined) {
        const io = parseBlkioServiceBytes(text);
        into.blkRead = io.read;
        into.blkWrite = io.write;
      }
    }
    if (has(g, "pids") && into.pids === undefined) {
      const pids = readNumber(`${g.dir}/pids.current`);
      if (pids !== undefined) into.pids = pids;
    }
  },

  oomKills(g) {
    // oom_kill in memory.oom_control counts kills since Linux 4.13; under_oom is only "now".
    return has(g, "memory") ? readKeyed(join(g.dir, "memory.oom_control"))?.get("oom_kill") : undefined;
  },
};
