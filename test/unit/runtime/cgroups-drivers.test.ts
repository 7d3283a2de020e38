/**
 * The cgroup drivers: their file writing against a scratch directory (youki's set_fixture), then
 * the same drivers against this machine's real hierarchies. A scratch tree only shows which
 * files get which values; the kernel's verdict comes from the real-hierarchy tests below.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseHierarchies } from "../../../core/runtime/cgroups.ts";
import { containerGroups, controllerVersion, groupsOfDirs } from "../../../core/runtime/cgroups/layout.ts";
import type { GroupSample } from "../../../core/runtime/cgroups/driver.ts";
import { keyedValue } from "../../../core/runtime/cgroups/files.ts";
import { parseBlkioServiceBytes, v1 } from "../../../core/runtime/cgroups/v1.ts";
import { blkioToIoWeight, enableControllers, parseIoStat, sharesToWeight, v2 } from "../../../core/runtime/cgroups/v2.ts";
import { parseResources, parseSize } from "../../../core/runtime/resources.ts";
import { onlineCpuCount, parseMemTotal, parseNetDev } from "../../../core/runtime/stats.ts";

const scratch = mkdtempSync(join(tmpdir(), "box-cgroups-unit-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function fixture(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content);
  return dir;
}
const read = (dir: string, f: string) => readFileSync(join(dir, f), "utf8");

describe("flag parsing (docker's units and rules)", () => {
  test("sizes are powers of 1024 with optional unit, i and b", () => {
    expect(parseSize("--memory", "512m")).toBe(512 * 1024 * 1024);
    expect(parseSize("--memory", "1g")).toBe(1024 ** 3);
    expect(parseSize("--memory", "64MiB")).toBe(64 * 1024 * 1024);
    expect(parseSize("--memory", "1.5k")).toBe(1536);
    expect(parseSize("--memory", "100")).toBe(100);
    expect(() => parseSize("--memory", "1x")).toThrow('--memory: invalid size "1x"');
  });

  test("every flag lands in its field; cross-field rules are checked", () => {
    const r = parseResources({ memory: "64m", memorySwap: "-1", cpus: "0.5", cpuShares: "512", cpusetCpus: "0", pidsLimit: "20", blkioWeight: "300" }, [0, 1]);
    expect(r).toEqual({ memory: 64 << 20, memorySwap: -1, nanoCpus: 5e8, cpuShares: 512, cpusetCpus: "0", pidsLimit: 20, blkioWeight: 300 });
    expect(parseResources({}, [0, 1])).toBeUndefined();
    expect(() => parseResources({ cpus: "-1" }, [0, 1])).toThrow("the range of CPUs is from 0.01 to 2.00");
    expect(() => parseResources({ cpus: "abc" }, [0, 1])).toThrow('--cpus: invalid value "abc"');
    expect(() => parseResources({ memory: "1m" }, [0, 1])).toThrow("minimum memory limit allowed is 6MB");
    expect(() => parseResources({ memorySwap: "64m" }, [0, 1])).toThrow("set --memory too");
    expect(() => parseResources({ memory: "64m", memorySwap: "32m" }, [0, 1])).toThrow("at least as large as --memory");
    expect(() => parseResources({ cpusetCpus: "0-3" }, [0, 1])).toThrow("requested CPUs are not available - requested 0-3, available: 0,1");
    expect(() => parseResources({ blkioWeight: "5" }, [0, 1])).toThrow("the range is 10 to 1000");
    expect(() => parseResources({ pidsLimit: "ten" }, [0, 1])).toThrow("expected an integer");
    expect(() => parseResources({ deviceReadBps: ["/etc/passwd:1mb"] }, [0, 1])).toThrow("is not a block device");
  });
});

describe("v1 driver, file writing (scratch directory)", () => {
  test("memory: limit, docker's default swap total (2x), reservation", () => {
    const dir = fixture("v1-mem", { "memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712", "memory.soft_limit_in_bytes": "" });
    const done = v1.apply({ dir, version: 1, controllers: ["memory"] }, { memory: 64 << 20, memoryReservation: 32 << 20 });
    expect(done.sort()).toEqual(["memory", "memoryReservation"]);
    expect(read(dir, "memory.limit_in_bytes")).toBe(String(64 << 20));
    expect(read(dir, "memory.memsw.limit_in_bytes")).toBe(String(128 << 20));
    expect(read(dir, "memory.soft_limit_in_bytes")).toBe(String(32 << 20));
  });

  test("cpu quota over a 100 ms period, shares, pids max, a limit whose controller is elsewhere is not claimed", () => {
    const dir = fixture("v1-cpu", {});
    expect(v1.apply({ dir, version: 1, controllers: ["cpu"] }, { nanoCpus: 5e8, cpuShares: 512, pidsLimit: 10 })).toEqual(["nanoCpus", "cpuShares"]);
    expect(read(dir, "cpu.cfs_period_us")).toBe("100000");
    expect(read(dir, "cpu.cfs_quota_us")).toBe("50000");
    expect(read(dir, "cpu.shares")).toBe("512");
    const pids = fixture("v1-pids", {});
    expect(v1.apply({ dir: pids, version: 1, controllers: ["pids"] }, { pidsLimit: -1 })).toEqual(["pidsLimit"]);
    expect(read(pids, "pids.max")).toBe("max");
  });

  test("blkio weight falls back to BFQ's file; samples read usage minus inactive file", () => {
    const dir = fixture("v1-blkio", { "blkio.bfq.weight": "100", "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 512\n8:16 Read 4\nTotal 4612\n" });
    expect(v1.apply({ dir, version: 1, controllers: ["blkio"] }, { blkioWeight: 300 })).toEqual(["blkioWeight"]);
    expect(read(dir, "blkio.bfq.weight")).toBe("300");
    const mem = fixture("v1-sample", { "memory.usage_in_bytes": "10000", "memory.stat": "cache 0\ntotal_inactive_file 3000\n", "memory.limit_in_bytes": "65536", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n" });
    const s = {};
    v1.sample({ dir: mem, version: 1, controllers: ["memory"] }, s);
    v1.sample({ dir, version: 1, controllers: ["blkio"] }, s);
    expect(s).toEqual({ memUsage: 10000, memInactiveFile: 3000, memLimit: 65536, blkRead: 4100, blkWrite: 512 });
    expect(v1.oomKills({ dir: mem, version: 1, controllers: ["memory"] })).toBe(2);
    // The limit that holds (the lowest on the way up) comes from memory.stat when it says so.
    const nested = fixture("v1-nested", { "memory.usage_in_bytes": "10000", "memory.stat": "total_inactive_file 0\nhierarchical_memory_limit 4096\n", "memory.limit_in_bytes": "65536" });
    const n: GroupSample = {};
    v1.sample({ dir: nested, version: 1, controllers: ["memory"] }, n);
    expect(n.memLimit).toBe(4096);
  });
});

describe("v2 driver, file writing (scratch directory)", () => {
  test("controllers are enabled top-down, then memory.max, swap, cpu.max, cpu.weight, pids.max are written", () => {
    const root = fixture("v2/root", { "cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "" });
    const box = fixture("v2/root/box", { "cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "" });
    const dir = fixture("v2/root/box/c1", { "memory.swap.max": "max" });
    const done = v2.apply({ dir, version: 2, controllers: ["cpu", "memory", "pids"] }, { memory: 64 << 20, nanoCpus: 1.5e9, cpuShares: 1024, pidsLimit: 5 });
    expect(done.sort()).toEqual(["cpuShares", "memory", "nanoCpus", "pidsLimit"]);
    // A scratch file keeps only the last write: the kernel adds each "+controller" up.
    expect(read(root, "cgroup.subtree_control").split(" ").sort()).toEqual(["+cpu", "+memory", "+pids"]);
    expect(read(box, "cgroup.subtree_control").split(" ").sort()).toEqual(["+cpu", "+memory", "+pids"]);
    expect(read(dir, "memory.max")).toBe(String(64 << 20));
    expect(read(dir, "memory.swap.max")).toBe(String(64 << 20));
    expect(read(dir, "cpu.max")).toBe("150000 100000");
    expect(read(dir, "cpu.weight")).toBe(String(sharesToWeight(1024)));
    expect(read(dir, "pids.max")).toBe("5");
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(blkioToIoWeight(10)).toBe(1);
    expect(blkioToIoWeight(1000)).toBe(10000);
  });

  test("a limit whose controller the root does not offer is not claimed", () => {
    const dir = fixture("v2b/box/c1", {});
    expect(v2.apply({ dir, version: 2, controllers: ["hugetlb"] }, { memory: 64 << 20 })).toEqual([]);
    expect(existsSync(join(dir, "memory.max"))).toBe(false);
  });

  test("samples: cpu.stat usage_usec, memory.current minus inactive_file, io.stat, memory.events", () => {
    const dir = fixture("v2c", {
      "cpu.stat": "usage_usec 1500\nuser_usec 1000\n", "memory.current": "8192", "memory.stat": "anon 4096\ninactive_file 1024\n",
      "memory.max": "max", "io.stat": "8:0 rbytes=100 wbytes=20 rios=1 wios=1\n8:16 rbytes=1 wbytes=2\n", "pids.current": "3", "memory.events": "low 0\noom 1\noom_kill 1\n",
    });
    const s = {};
    const g = { dir, version: 2 as const, controllers: ["memory", "io", "pids"] };
    v2.sample(g, s);
    expect(s).toEqual({ cpuNs: 1500000, memUsage: 8192, memInactiveFile: 1024, blkRead: 101, blkWrite: 22, pids: 3 });
    expect(v2.oomKills(g)).toBe(1);
    // cpu.stat is there without any controller; the rest only where the hierarchy offers it.
    const bare = {};
    v2.sample({ dir, version: 2, controllers: [] }, bare);
    expect(bare).toEqual({ cpuNs: 1500000 });
  });
});

describe("parsers", () => {
  test("mountinfo layout, /proc/stat, meminfo, net/dev (lo excluded), blkio and io.stat", () => {
    const mountinfo = [
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    ].join("\n");
    const h = parseHierarchies(mountinfo);
    expect(controllerVersion("memory", h)).toBe(1);
    // As root: a group in every hierarchy (a rootless user gets one only where delegated).
    const groups = containerGroups("abc", h, 0);
    expect(groups.map((g) => [g.dir, g.version])).toEqual([["/sys/fs/cgroup/cpu/box/abc", 1], ["/sys/fs/cgroup/memory/box/abc", 1], ["/sys/fs/cgroup/unified/box/abc", 2]]);
    expect(groupsOfDirs(["/sys/fs/cgroup/memory/box/abc"], h, 0)[0]?.controllers).toEqual(["memory"]);
    expect(onlineCpuCount("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\nintr 1\n")).toBe(2);
    expect(parseMemTotal("MemTotal:       24601924 kB\nMemFree: 1 kB\n")).toBe(24601924 * 1024);
    const netdev = "Inter-|   Receive |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n    lo:    840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0\n  eth0:   1000       5    0    0    0     0          0         0      200       2    0    0    0     0       0          0\n";
    expect(parseNetDev(netdev)).toEqual({ rx: 1000, tx: 200 });
    expect(parseBlkioServiceBytes("8:0 Read 10\n8:0 Write 5\n8:0 Sync 15\nTotal 15\n")).toEqual({ read: 10, write: 5 });
    expect(parseIoStat("259:0 rbytes=7 wbytes=9 rios=1\n")).toEqual({ read: 7, write: 9 });
    // One key of a keyed file: whole keys only, first line and last line alike.
    const stat = "inactive_file 5\ntotal_inactive_file 7\nhierarchical_memory_limit 9";
    expect([keyedValue(stat, "inactive_file"), keyedValue(stat, "total_inactive_file"), keyedValue(stat, "hierarchical_memory_limit")]).toEqual([5, 7, 9]);
    expect([keyedValue(stat, "file"), keyedValue(undefined, "x"), keyedValue("a b\n", "a")]).toEqual([undefined, undefined, undefined]);
  });
});

// ---- The same drivers against the kernel ----------------------------------------------------

const hierarchies = parseHierarchies(readFileSync("/proc/self/mountinfo", "utf8"));
const isRoot = process.getuid?.() === 0;
const v1Memory = hierarchies.find((h) => h.controllers.split(",").includes("memory") && h.controllers !== "cgroup2");
const v1Pids = hierarchies.find((h) => h.controllers.split(",").includes("pids") && h.controllers !== "cgroup2");
const unified = hierarchies.find((h) => h.controllers === "cgroup2");

/** A real group under `<mountpoint>/box-unit-<pid>/`, removed afterwards. */
function realGroup(mountpoint: string, name: string): string {
  const dir = join(mountpoint, `box-unit-${process.pid}`, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
function removeReal(mountpoint: string): void {
  const parent = join(mountpoint, `box-unit-${process.pid}`);
  if (!existsSync(parent)) return;
  for (const d of ["g", "busy"]) if (existsSync(join(parent, d))) rmdirSync(join(parent, d));
  rmdirSync(parent);
}

describe.skipIf(!isRoot || !v1Memory || !v1Pids)(`v1 driver on this machine's hierarchies${!isRoot ? " (skipped: needs root)" : !v1Memory ? " (skipped: no v1 memory hierarchy mounted)" : ""}`, () => {
  afterAll(() => {
    for (const h of [v1Memory, v1Pids]) if (h) removeReal(h.mountpoint);
  });

  test("the kernel takes the memory and pids limits and reads them back", () => {
    const mem = realGroup((v1Memory as { mountpoint: string }).mountpoint, "g");
    const pids = realGroup((v1Pids as { mountpoint: string }).mountpoint, "g");
    const r = { memory: 64 << 20, memoryReservation: 16 << 20, pidsLimit: 7 };
    const done = [...v1.apply({ dir: mem, version: 1, controllers: ["memory"] }, r), ...v1.apply({ dir: pids, version: 1, controllers: ["pids"] }, r)];
    expect(done.sort()).toEqual(["memory", "memoryReservation", "pidsLimit"]);
    expect(read(mem, "memory.limit_in_bytes").trim()).toBe(String(64 << 20));
    if (existsSync(join(mem, "memory.memsw.limit_in_bytes"))) expect(read(mem, "memory.memsw.limit_in_bytes").trim()).toBe(String(128 << 20));
    expect(read(pids, "pids.max").trim()).toBe("7");
    // Lowering the total below the current limit needs the limit written first: the driver orders it.
    v1.apply({ dir: mem, version: 1, controllers: ["memory"] }, { memory: 32 << 20, memorySwap: 32 << 20 });
    expect(read(mem, "memory.limit_in_bytes").trim()).toBe(String(32 << 20));
    const s = {};
    v1.sample({ dir: mem, version: 1, controllers: ["memory"] }, s);
    expect(s).toMatchObject({ memUsage: 0, memLimit: 32 << 20 });
    expect(v1.oomKills({ dir: mem, version: 1, controllers: ["memory"] })).toBe(0);
  });

  // The parser refuses a total below the limit; the driver, given one anyway, shows the kernel's answer.
  test("a value the kernel refuses is reported with the file, the value and the errno", () => {
    const mem = realGroup((v1Memory as { mountpoint: string }).mountpoint, "g");
    expect(() => v1.apply({ dir: mem, version: 1, controllers: ["memory"] }, { memory: 64 << 20, memorySwap: 32 << 20 })).toThrow(/write `.*` to `.*memory\..*`: EINVAL/);
  });
});

/**
 * cgroup2 with free controllers: on this hybrid host every controller but hugetlb is bound to a
 * v1 hierarchy, and a fresh cgroup2 mount (in a private mount namespace) is the same single v2
 * hierarchy. What v2 can prove here for real is the driver's CPU sampling (cpu.stat exists in
 * every v2 group) and the top-down enabling of a controller (hugetlb); memory, pids, cpu and io
 * limits on v2 need a host whose cgroup2 offers them.
 */
const freshV2Controllers = (() => {
  if (!isRoot) return undefined;
  const mnt = mkdtempSync(join(tmpdir(), "box-cg2-"));
  const r = Bun.spawnSync(["unshare", "-m", "sh", "-c", `mount -t cgroup2 none ${mnt} && cat ${mnt}/cgroup.controllers`]);
  rmSync(mnt, { recursive: true, force: true });
  return r.exitCode === 0 ? r.stdout.toString().trim().split(/\s+/).filter(Boolean) : undefined;
})();
const v2LimitsPossible = (freshV2Controllers ?? []).some((c) => ["memory", "pids", "cpu", "io"].includes(c));

describe.skipIf(!isRoot || !unified)(`v2 driver on this machine's cgroup2 hierarchy${!isRoot ? " (skipped: needs root)" : !unified ? " (skipped: no cgroup2 mounted)" : ""}`, () => {
  afterAll(() => {
    if (unified) removeReal(unified.mountpoint);
  });

  test("cpu.stat of a real v2 group counts a busy process's CPU time", async () => {
    const dir = realGroup((unified as { mountpoint: string }).mountpoint, "busy");
    const busy = Bun.spawn(["sh", "-c", "while :; do :; done"]);
    try {
      writeFileSync(join(dir, "cgroup.procs"), String(busy.pid));
      const g = { dir, version: 2 as const, controllers: [] };
      // The process's own accounting (/proc/PID/stat, 10 ms ticks) is the reference: a loaded
      // host may give the loop less than a core, but both must count the same time.
      const ticks = () => {
        const st = readFileSync(`/proc/${busy.pid}/stat`, "utf8");
        const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
        return (Number(f[11]) + Number(f[12])) * 1e7;
      };
      const c0 = v2.cpuNs(g) as number;
      const p0 = ticks();
      await Bun.sleep(400);
      const c1 = v2.cpuNs(g) as number;
      const p1 = ticks();
      expect(c1 - c0).toBeGreaterThan(0);
      expect(Math.abs(c1 - c0 - (p1 - p0))).toBeLessThan(Math.max(0.2 * (p1 - p0), 30e6));
    } finally {
      busy.kill(9);
      await busy.exited;
    }
  });

  test("enableControllers turns on what the root offers, top-down, and the child gets its files", () => {
    const mount = (unified as { mountpoint: string }).mountpoint;
    const offered = read(mount, "cgroup.controllers").trim().split(/\s+/).filter(Boolean);
    const dir = realGroup(mount, "g");
    enableControllers(dir, offered);
    expect(read(dir, "cgroup.controllers").trim().split(/\s+/).filter(Boolean).sort()).toEqual([...offered].sort());
  });

  test.skipIf(!v2LimitsPossible)(
    `memory, pids, cpu and io limits on a real cgroup2${v2LimitsPossible ? "" : ` (skipped: a cgroup2 mounted here offers only [${(freshV2Controllers ?? []).join(" ")}]; memory, pids, cpu and io are bound to v1 hierarchies on this hybrid host)`}`,
    () => {
      const mount = (unified as { mountpoint: string }).mountpoint;
      const offered = read(mount, "cgroup.controllers").trim().split(/\s+/);
      const dir = realGroup(mount, "g");
      const done = v2.apply({ dir, version: 2, controllers: offered }, { memory: 64 << 20, pidsLimit: 9, nanoCpus: 5e8 });
      if (offered.includes("memory")) expect(read(dir, "memory.max").trim()).toBe(String(64 << 20));
      if (offered.includes("pids")) expect(read(dir, "pids.max").trim()).toBe("9");
      if (offered.includes("cpu")) expect(read(dir, "cpu.max").trim()).toBe("50000 100000");
      expect(done.length).toBeGreaterThan(0);
    },
  );
});
