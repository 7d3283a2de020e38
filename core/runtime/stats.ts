/**
 * The numbers of `box stats`, read straight from the kernel's files (no subprocess per
 * container, so 50 containers cost a few hundred small reads), computed the way docker does:
 *   CPU %  = Δ container CPU time / Δ host CPU time × online CPUs × 100, where the host's CPU
 *            time is what /proc/stat's total advances by, online CPUs × elapsed time, so the
 *            figure is Δ CPU time over Δ elapsed time: /proc/stat counts in 10 ms ticks per
 *            CPU and state, and over a 50 ms window a busy loop read 72-117% through it against
 *            93-99% through the clock (measured here, 8 windows each). Where the first reading of
 *            a window comes from is stats-cpu.ts's business.
 *   MEM    = usage − inactive file pages (page cache the kernel can drop), limit clamped to RAM
 *   NET    = the container's network namespace, every interface but lo (docker counts the
 *            sandbox's interfaces, and lo is never one of them; --network host counts nothing,
 *            since the traffic is the host's)
 *   BLOCK  = blkio.throttle.io_service_bytes (v1) / io.stat (v2); PIDS = pids.current.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { BoxError } from "../errors.ts";
import type { Hierarchy } from "./cgroups.ts";
import { findDelegation, isDelegated, userName } from "./cgroups/delegation.ts";
import type { GroupSample } from "./cgroups/driver.ts";
import type { Group } from "./cgroups/driver.ts";
import { containerGroups, driverFor, groupsFor, mountedHierarchies } from "./cgroups/layout.ts";
import { readCgroupFile } from "./cgroups/files.ts";
import { baseline, keep, lifetimePercent, loadReadings, nowUs, saveReadings, windowPercent, type CpuReading } from "./stats-cpu.ts";

/** What `box stats` needs to know about a container to read its numbers. */
export interface StatsTarget {
  id: string;
  name: string;
  /** The container's first process while it runs. */
  pid?: number;
  network: string;
  /** Where its CPU readings are kept between runs of `box stats` (see stats-cpu.ts). */
  stateDir?: string;
  /** When it started (ISO 8601): the lifetime average needs it. */
  startedAt?: string;
}

export interface ContainerStats {
  id: string;
  name: string;
  cpuPercent: number;
  memUsage: number;
  memLimit: number;
  memPercent: number;
  netRx: number;
  netTx: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
}

/** Rootless containers have groups to read only in a cgroup2 subtree delegated to the user (podman says the same of v1). */
export function requireOwnGroups(rootless: boolean, hierarchies = mountedHierarchies()): void {
  if (!rootless) return;
  const uid = process.getuid?.() ?? 0;
  const d = findDelegation(uid, hierarchies, readFileSync("/proc/self/cgroup", "utf8"));
  if (isDelegated(d)) return;
  throw new BoxError("E_UNSUPPORTED", `box stats: rootless containers have no cgroups of their own to read: cgroup v2 is not delegated to user ${userName(uid)}: ${d.reason}`, {
    hint: "run the containers as root to see their resource usage, or delegate cgroup v2 to this user",
  });
}

/** Online CPUs: the cpuN lines of /proc/stat. */
export function onlineCpuCount(procStat: string): number {
  return Math.max((procStat.match(/^cpu\d+ /gm) ?? []).length, 1);
}

export function parseMemTotal(meminfo: string): number {
  const m = /^MemTotal:\s+(\d+) kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : Number.POSITIVE_INFINITY;
}

/** Received and transmitted bytes over every interface but lo, from a /proc/PID/net/dev. */
export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.slice(0, colon).trim() === "lo") continue;
    const f = line.slice(colon + 1).trim().split(/\s+/);
    rx += Number(f[0]);
    tx += Number(f[8]);
  }
  return { rx, tx };
}

function readNet(t: StatsTarget): { rx: number; tx: number } {
  if (t.pid === undefined || t.network === "host") return { rx: 0, tx: 0 };
  const text = readCgroupFile(`/proc/${t.pid}/net/dev`);
  return text === undefined ? { rx: 0, tx: 0 } : parseNetDev(text);
}

/**
 * Reads the stats of containers again and again. A read's CPU % covers the time since this
 * reader's previous read of the container (the live view's interval, docker's precpu_stats);
 * a container this reader has not read yet is measured from the reading an earlier `box stats`
 * left (stats-cpu.ts), else over its lifetime. Each read leaves its own reading for the next run.
 */
export class StatsReader {
  private readonly groupsOf: (id: string) => Group[];
  private readonly memTotal: number;
  private readonly cpus: number;
  /** This reader's last reading of each container. */
  private readonly last = new Map<string, CpuReading>();

  constructor(hierarchies = mountedHierarchies()) {
    // Only the hierarchies that count something here: a group per container per refresh each.
    this.groupsOf = groupsFor(hierarchies.filter((h) => h.controllers === "cgroup2" || /\b(cpuacct|memory|blkio|pids)\b/.test(h.controllers)));
    this.memTotal = parseMemTotal(readFileSync("/proc/meminfo", "utf8"));
    this.cpus = onlineCpuCount(readFileSync("/proc/stat", "utf8"));
  }

  /** Only take each container's CPU time: the start of the next read's window (--interval with --no-stream). */
  prime(targets: StatsTarget[]): void {
    for (const t of targets) {
      if (t.pid === undefined) continue;
      for (const g of this.groupsOf(t.id)) {
        const cpuNs = driverFor(g).cpuNs(g);
        if (cpuNs === undefined) continue;
        this.last.set(t.id, { pid: t.pid, cpuNs, atUs: nowUs() });
        break;
      }
    }
  }

  read(targets: StatsTarget[]): ContainerStats[] {
    return targets.map((t) => this.readOne(t));
  }

  private cpuPercent(t: StatsTarget & { pid: number }, cpuNs: number): number {
    // Taken with each container's sample, so the time spent reading the others is not counted.
    const now: CpuReading = { pid: t.pid, cpuNs, atUs: nowUs() };
    const mine = this.last.get(t.id);
    this.last.set(t.id, now);
    const stored = t.stateDir === undefined ? [] : loadReadings(t.stateDir);
    const base = baseline(stored, now);
    const kept = keep(stored, now);
    if (t.stateDir !== undefined && kept) saveReadings(t.stateDir, kept);
    if (mine && mine.pid === now.pid && mine.cpuNs <= now.cpuNs) return windowPercent(mine, now);
    if (base) return windowPercent(base, now);
    const started = t.startedAt === undefined ? Number.NaN : Date.parse(t.startedAt);
    return Number.isFinite(started) ? lifetimePercent(cpuNs, started, this.cpus) : 0;
  }

  private readOne(t: StatsTarget): ContainerStats {
    const s: GroupSample = {};
    if (t.pid !== undefined) for (const g of this.groupsOf(t.id)) driverFor(g).sample(g, s);
    const cpuPercent = t.pid !== undefined && s.cpuNs !== undefined ? this.cpuPercent({ ...t, pid: t.pid }, s.cpuNs) : 0;
    const inactive = s.memInactiveFile ?? 0;
    const usage = s.memUsage === undefined ? 0 : s.memUsage > inactive ? s.memUsage - inactive : s.memUsage;
    const limit = t.pid === undefined ? 0 : Math.min(s.memLimit ?? this.memTotal, this.memTotal);
    const net = readNet(t);
    return {
      id: t.id,
      name: t.name,
      cpuPercent,
      memUsage: usage,
      memLimit: limit,
      memPercent: limit > 0 ? (usage / limit) * 100 : 0,
      netRx: net.rx,
      netTx: net.tx,
      blkRead: s.blkRead ?? 0,
      blkWrite: s.blkWrite ?? 0,
      pids: s.pids ?? 0,
    };
  }
}

/** One process of a container as `box top` lists it (ps -ef's columns), with host pids. */
export interface ProcessInfo {
  user: string;
  pid: number;
  ppid: number;
  /** ps's C: CPU time over time alive, in percent. */
  cpuPercent: number;
  /** Start time, ms since the epoch. */
  startedAt: number;
  tty: string;
  cpuSeconds: number;
  command: string;
}

function hostUsers(): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of (readCgroupFile("/etc/passwd") ?? "").split("\n")) {
    const f = line.split(":");
    if (f.length > 2 && !out.has(Number(f[2]))) out.set(Number(f[2]), f[0] as string);
  }
  return out;
}

/** The pids of a container: its cgroup's members, else every process in its pid namespace. */
function containerPids(id: string, pid: number, hierarchies: Hierarchy[]): number[] {
  for (const g of containerGroups(id, hierarchies)) {
    const procs = readCgroupFile(`${g.dir}/cgroup.procs`);
    if (procs !== undefined && procs.trim() !== "") return procs.trim().split("\n").map(Number);
  }
  // Rootless and --cgroups=disabled containers have no group: their pid namespace tells them apart.
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) === ns) out.push(Number(name));
    } catch {
      // gone, or not ours to look at
    }
  }
  return out;
}

/** A tty_nr as ps names it: pts/N (Unix98 ptys, majors 136-143), ttyN, or "?". */
function ttyName(nr: number): string {
  if (nr === 0) return "?";
  const major = (nr >> 8) & 0xfff;
  const minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return `tty${minor}`;
  return "?";
}

export function containerProcesses(id: string, pid: number, hierarchies = mountedHierarchies()): ProcessInfo[] {
  const users = hostUsers();
  const stat = readFileSync("/proc/stat", "utf8");
  const bootMs = Number(/^btime (\d+)/m.exec(stat)?.[1] ?? 0) * 1000;
  const uptimeMs = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
  const out: ProcessInfo[] = [];
  for (const p of containerPids(id, pid, hierarchies).sort((a, b) => a - b)) {
    const text = readCgroupFile(`/proc/${p}/stat`);
    const status = readCgroupFile(`/proc/${p}/status`);
    if (text === undefined || status === undefined) continue;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const comm = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const cpuSeconds = (Number(f[11]) + Number(f[12])) / 100;
    const startMs = (Number(f[19]) / 100) * 1000;
    const aliveS = Math.max((uptimeMs - startMs) / 1000, 0.01);
    const cmdline = (readCgroupFile(`/proc/${p}/cmdline`) ?? "").split("\0").filter(Boolean).join(" ");
    out.push({
      user: users.get(uid) ?? String(uid),
      pid: p,
      ppid: Number(f[1]),
      cpuPercent: Math.floor((cpuSeconds / aliveS) * 100),
      startedAt: bootMs + startMs,
      tty: ttyName(Number(f[4])),
      cpuSeconds,
      command: cmdline || `[${comm}]`,
    });
  }
  return out;
}
