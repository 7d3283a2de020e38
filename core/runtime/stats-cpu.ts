/**
 * Where a CPU % is measured from. A percentage needs two readings of a container's CPU time;
 * taking both inside one `box stats --no-stream` means sleeping between them. Instead every
 * `box stats` leaves its reading in the container's state directory, and the next run measures
 * from it: the window is the time between the two runs, and no run sleeps. Without a usable
 * reading (the first run, a reading too old to describe "now", or one from an earlier run of the
 * container), the figure is the container's lifetime average, CPU time over time since it
 * started: podman's AvgCPU.
 */
import { closeSync, constants, openSync, readFileSync, writeSync } from "node:fs";

/** A container's CPU time and when it was read. */
export interface CpuReading {
  /** The container's first process: a restarted container has a new one (and a new group). */
  pid: number;
  cpuNs: number;
  /**
   * Microseconds since the epoch: readings are compared between processes, and the monotonic
   * clocks Bun offers (hrtime, nanoseconds) start with the process. A step of the wall clock
   * costs one figure: a backward step leaves no usable reading, a forward one a long window.
   */
  atUs: number;
}

/**
 * The shortest window worth a figure: one CFS period. A container under --cpus runs its quota in
 * a burst and then waits, so a shorter window reads anything from 0 to 100% for it.
 */
export const MIN_WINDOW_US = 100e3;
/** Older readings describe another moment; the lifetime average is no worse a guess. */
export const MAX_AGE_US = 60e6;

const FILE = "cpu-readings";
/**
 * Two slots (see keep) of fixed width, so that each save overwrites the whole file in place. Replacing it
 * (rename, or O_TRUNC) makes ext4 flush the new data at once (its auto_da_alloc): with the state
 * root on ext4 that took 30-260 ms per 50 containers here, against 1 ms in place.
 */
const SLOTS = 2;
const LINE = /^(\d{10}) (\d{20}) (\d{17})$/;

export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Fixed-width "pid cpuNs atUs" lines, pid 0 for an empty slot; anything else is no reading at all. */
export function parseReadings(text: string): CpuReading[] {
  const out: CpuReading[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const m = LINE.exec(line);
    if (!m) return [];
    const r = { pid: Number(m[1]), cpuNs: Number(m[2]), atUs: Number(m[3]) };
    if (r.pid > 0) out.push(r);
  }
  return out;
}

export function formatReadings(readings: CpuReading[]): string {
  const slots = Array.from({ length: SLOTS }, (_, i) => readings[i] ?? { pid: 0, cpuNs: 0, atUs: 0 });
  return slots.map((r) => `${String(r.pid).padStart(10, "0")} ${String(r.cpuNs).padStart(20, "0")} ${String(r.atUs).padStart(17, "0")}\n`).join("");
}

/** Of the same run of the container as `now`, and before it. */
function usable(r: CpuReading, now: CpuReading): boolean {
  return r.pid === now.pid && r.cpuNs <= now.cpuNs && r.atUs < now.atUs && now.atUs - r.atUs <= MAX_AGE_US;
}

function newest(readings: CpuReading[]): CpuReading | undefined {
  return readings.reduce<CpuReading | undefined>((a, r) => (!a || r.atUs > a.atUs ? r : a), undefined);
}

/** The reading to measure `now` from: the newest usable one at least a window before it. */
export function baseline(readings: CpuReading[], now: CpuReading): CpuReading | undefined {
  return newest(readings.filter((r) => usable(r, now) && now.atUs - r.atUs >= MIN_WINDOW_US));
}

/**
 * What to store after reading `now`: its baseline and `now`; or nothing new (undefined) while a
 * reading younger than a window is stored, since the next run measures from that one or from
 * the baseline. So runs closer together than a window measure over one to two windows, and
 * write once per window rather than every time (an ext4 write is most of a reading's cost).
 */
export function keep(readings: CpuReading[], now: CpuReading): CpuReading[] | undefined {
  if (readings.some((r) => usable(r, now) && now.atUs - r.atUs < MIN_WINDOW_US)) return undefined;
  const base = baseline(readings, now);
  return base ? [base, now] : [now];
}

/** Percent of one CPU between two readings. */
export function windowPercent(from: CpuReading, to: CpuReading): number {
  const cpu = to.cpuNs - from.cpuNs;
  const wallNs = (to.atUs - from.atUs) * 1000;
  return cpu > 0 && wallNs > 0 ? (cpu / wallNs) * 100 : 0;
}

/**
 * Percent of one CPU over the container's life so far, at most `cpus` whole CPUs: the start is
 * known to the millisecond and the group counts from a little before it.
 */
export function lifetimePercent(cpuNs: number, startedAtMs: number, cpus: number, nowUsec = nowUs()): number {
  const wallNs = (nowUsec - startedAtMs * 1000) * 1000;
  return cpuNs > 0 && wallNs > 0 ? Math.min((cpuNs / wallNs) * 100, cpus * 100) : 0;
}

export function loadReadings(stateDir: string): CpuReading[] {
  try {
    return parseReadings(readFileSync(`${stateDir}/${FILE}`, "utf8"));
  } catch {
    return [];
  }
}

/**
 * Overwrite the container's readings (see SLOTS for why in place). A failure costs only the next
 * run's window, so it is not an error: the container may have been removed since it was listed.
 */
export function saveReadings(stateDir: string, readings: CpuReading[]): void {
  let fd: number | undefined;
  try {
    fd = openSync(`${stateDir}/${FILE}`, constants.O_WRONLY | constants.O_CREAT, 0o644);
    writeSync(fd, formatReadings(readings.slice(-SLOTS)), 0);
  } catch {
    // see above
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
