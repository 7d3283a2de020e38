/**
 * Resource limits: docker's flags parsed with docker's units and rules, and applied to a
 * container's groups before its first instruction runs (resources-update.ts changes them later).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import type { DeviceRate, Resources } from "../schema/container.ts";
import { findDelegation, isDelegated, userName, type Delegated, type NotDelegated } from "./cgroups/delegation.ts";
import { deviceNumber } from "./cgroups/devices.ts";
import type { Limit } from "./cgroups/driver.ts";
import { controllerVersion, driverFor, groupsOfDirs, mountedHierarchies } from "./cgroups/layout.ts";
import { CONTROLLER as CONTROLLER_V2 } from "./cgroups/v2.ts";

/** The flags as typed; parseResources turns them into Resources. */
export interface ResourceFlags {
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  blkioWeight?: string;
  deviceReadBps?: string[];
  deviceWriteBps?: string[];
}

export const FLAG_OF: Record<Limit, string> = {
  memory: "--memory", memorySwap: "--memory-swap", memoryReservation: "--memory-reservation",
  nanoCpus: "--cpus", cpuShares: "--cpu-shares", cpusetCpus: "--cpuset-cpus", pidsLimit: "--pids-limit",
  blkioWeight: "--blkio-weight", deviceReadBps: "--device-read-bps", deviceWriteBps: "--device-write-bps",
};

const CONTROLLER_V1: Record<Limit, string> = {
  memory: "memory", memorySwap: "memory", memoryReservation: "memory", nanoCpus: "cpu", cpuShares: "cpu",
  cpusetCpus: "cpuset", pidsLimit: "pids", blkioWeight: "blkio", deviceReadBps: "blkio", deviceWriteBps: "blkio",
};

/** docker's minimum for --memory: below it a container cannot even start its runtime. */
const MIN_MEMORY = 6 * 1024 * 1024;

function invalid(flag: string, message: string, hint?: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `${flag}: ${message}`, hint ? { hint } : {});
}

/** docker's RAMInBytes: a number with an optional b/k/m/g/t/p unit (powers of 1024), "i" and "b" allowed. */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text.trim());
  if (!m) throw invalid(flag, `invalid size "${text}"`, "use a number with an optional unit b, k, m or g, e.g. 512m");
  const power = m[2] ? "kmgtp".indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.floor(Number(m[1]) * 1024 ** power);
}

function parseInteger(flag: string, text: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw invalid(flag, `invalid value "${text}": expected an integer`);
  return Number(text);
}

/** The CPUs the host has online, from /sys/devices/system/cpu/online ("0-1"). */
export function onlineCpus(text = readFileSync("/sys/devices/system/cpu/online", "utf8")): number[] {
  return parseCpuList("--cpuset-cpus", text.trim());
}

/** A cpuset list ("0-2,4"); docker's syntax. */
export function parseCpuList(flag: string, text: string): number[] {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw invalid(flag, `invalid list of CPUs "${text}"`, "use a list like 0-1 or 0,2");
  const out: number[] = [];
  for (const part of text.split(",")) {
    const [a, b] = part.split("-").map(Number) as [number, number | undefined];
    if (b !== undefined && b < a) throw invalid(flag, `invalid range "${part}"`);
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

function parseDeviceRate(flag: string, spec: string): DeviceRate {
  const colon = spec.lastIndexOf(":");
  if (colon <= 0) throw invalid(flag, `invalid value "${spec}"`, "use PATH:RATE, e.g. /dev/sda:1mb");
  const path = spec.slice(0, colon);
  try {
    deviceNumber(path);
  } catch (e) {
    throw invalid(flag, (e as Error).message, "use PATH:RATE with a block device, e.g. /dev/sda:1mb");
  }
  return { path, rate: parseSize(flag, spec.slice(colon + 1)) };
}

/** Parse the flags the user gave; undefined when none was given. */
export function parseResources(f: ResourceFlags, cpus: number[] = onlineCpus()): Resources | undefined {
  const r: Resources = {};
  if (f.memory !== undefined) r.memory = parseSize("--memory", f.memory);
  if (f.memorySwap !== undefined) r.memorySwap = f.memorySwap.trim() === "-1" ? -1 : parseSize("--memory-swap", f.memorySwap);
  if (f.memoryReservation !== undefined) r.memoryReservation = parseSize("--memory-reservation", f.memoryReservation);
  if (f.cpus !== undefined) {
    const n = Number(f.cpus);
    if (f.cpus.trim() === "" || !Number.isFinite(n)) throw invalid("--cpus", `invalid value "${f.cpus}": expected a number of CPUs, e.g. 0.5`);
    if (n < 0 || (n > 0 && n < 0.01) || n > cpus.length) {
      throw invalid("--cpus", `invalid value "${f.cpus}": the range of CPUs is from 0.01 to ${cpus.length}.00, as there are only ${cpus.length} CPUs available`);
    }
    r.nanoCpus = Math.round(n * 1e9);
  }
  if (f.cpuShares !== undefined) r.cpuShares = parseInteger("--cpu-shares", f.cpuShares);
  if (f.cpusetCpus !== undefined) {
    const wanted = parseCpuList("--cpuset-cpus", f.cpusetCpus.trim());
    const missing = wanted.filter((c) => !cpus.includes(c));
    if (missing.length > 0) {
      throw invalid("--cpuset-cpus", `requested CPUs are not available - requested ${f.cpusetCpus}, available: ${cpus.join(",")}`);
    }
    r.cpusetCpus = f.cpusetCpus.trim();
  }
  if (f.pidsLimit !== undefined) r.pidsLimit = parseInteger("--pids-limit", f.pidsLimit);
  if (f.blkioWeight !== undefined) r.blkioWeight = parseInteger("--blkio-weight", f.blkioWeight);
  if (f.deviceReadBps?.length) r.deviceReadBps = f.deviceReadBps.map((s) => parseDeviceRate("--device-read-bps", s));
  if (f.deviceWriteBps?.length) r.deviceWriteBps = f.deviceWriteBps.map((s) => parseDeviceRate("--device-write-bps", s));
  if (Object.keys(r).length === 0) return undefined;
  validateResources(r);
  return r;
}

/** The rules that tie the values together (docker's verifyContainerResources), for run and update alike. */
export function validateResources(r: Resources): void {
  if (r.memory !== undefined && r.memory > 0 && r.memory < MIN_MEMORY) throw invalid("--memory", "minimum memory limit allowed is 6MB");
  if (r.memorySwap !== undefined && r.memorySwap > 0) {
    if (r.memory === undefined || r.memory <= 0) throw invalid("--memory-swap", "set --memory too: --memory-swap is the total of memory and swap");
    if (r.memorySwap < r.memory) throw invalid("--memory-swap", "must be at least as large as --memory (it is the total of memory and swap)", "use -1 for unlimited swap");
  }
  if (r.memoryReservation !== undefined && r.memory !== undefined && r.memory > 0 && r.memoryReservation > r.memory) {
    throw invalid("--memory-reservation", "must be smaller than --memory");
  }
  if (r.cpuShares !== undefined && r.cpuShares !== 0 && (r.cpuShares < 2 || r.cpuShares > 262144)) {
    throw invalid("--cpu-shares", `invalid value ${r.cpuShares}: the range is 2 to 262144`);
  }
  if (r.blkioWeight !== undefined && r.blkioWeight !== 0 && (r.blkioWeight < 10 || r.blkioWeight > 1000)) {
    throw invalid("--blkio-weight", `invalid value ${r.blkioWeight}: the range is 10 to 1000`);
  }
}

function askedLimits(r: Resources): Limit[] {
  return (Object.keys(r) as Limit[]).filter((k) => r[k] !== undefined);
}

function delegationHere(): Delegated | NotDelegated {
  return findDelegation(process.getuid?.() ?? 0, mountedHierarchies(), readFileSync("/proc/self/cgroup", "utf8"));
}

/** The limits whose controller the user's delegated cgroup2 subtree lacks (all of them without one). */
function undelegated(d: Delegated | NotDelegated, limits: Limit[]): Limit[] {
  return limits.filter((l) => !isDelegated(d) || !d.controllers.includes(CONTROLLER_V2[l]));
}

/** Why a rootless user cannot have `limit`, as a clause naming the controller. */
function undelegatedWhy(d: Delegated | NotDelegated, limit: Limit, user: string): string {
  const controller = CONTROLLER_V2[limit];
  const why = isDelegated(d)
    ? `the ${controller} controller is not delegated to user ${user}: ${d.dir} has only [${d.controllers.join(" ")}]`
    : `cgroup v2 is not delegated to user ${user}: ${d.reason}`;
  // On a hybrid host the controller may exist, bound to v1, where no user can ever get it.
  const v1 = controllerVersion(CONTROLLER_V1[limit]) === 1 ? ` (the ${CONTROLLER_V1[limit]} controller is on a cgroup v1 hierarchy here, never delegated)` : "";
  return why + v1;
}

const DELEGATION_HINT = "run as root, or delegate cgroup v2 controllers to this user (systemd: Delegate= for user@.service)";

/**
 * An asked-for limit that the containers of this invocation cannot get is an error: rootless,
 * its controller must be in the cgroup2 subtree delegated to the user; with --cgroups=disabled
 * there are no groups at all.
 */
export function refuseLimits(r: Resources | undefined, reason: "rootless" | "disabled"): void {
  const asked = r ? askedLimits(r) : [];
  const first = asked[0];
  if (first === undefined) return;
  if (reason === "disabled") {
    const flag = FLAG_OF[first];
    throw new BoxError("E_INVALID_INPUT", `${flag}: resource limits need cgroups, and --cgroups=disabled was given`, { hint: `drop --cgroups=disabled or ${flag}` });
  }
  const d = delegationHere();
  const missing = undelegated(d, asked)[0];
  if (missing === undefined) return;
  const user = userName(process.getuid?.() ?? 0);
  throw new BoxError("E_UNSUPPORTED", `${FLAG_OF[missing]}: cannot limit a rootless container: ${undelegatedWhy(d, missing, user)}`, { hint: DELEGATION_HINT });
}

/**
 * The one-time note for a rootless user whose containers run without (some) limits: which limit
 * flags cannot apply and why. Remembered by a file in the user's state root, created
 * exclusively, so it is said once even by runs started together; undefined when there is
 * nothing to say or it was said.
 */
export function rootlessLimitsNotice(paths: BoxPaths): string | undefined {
  if (!paths.rootless) return undefined;
  const d = delegationHere();
  const missing = undelegated(d, Object.keys(FLAG_OF) as Limit[]);
  if (missing.length === 0) return undefined;
  try {
    mkdirSync(paths.state, { recursive: true, mode: 0o700 });
    writeFileSync(join(paths.state, "rootless-limits-noted"), "", { flag: "wx" });
  } catch {
    // Said before (EEXIST), or there is nowhere to remember it: saying it on every run is worse.
    return undefined;
  }
  const user = userName(process.getuid?.() ?? 0);
  const all = missing.length === Object.keys(FLAG_OF).length;
  const why = isDelegated(d) ? `${d.dir} has only [${d.controllers.join(" ")}]` : `cgroup v2 is not delegated to user ${user}: ${d.reason}`;
  const what = all ? "resource limits" : `${missing.map((l) => FLAG_OF[l]).join(", ")}`;
  const asking = all ? "asking for one (--memory, --cpus, --pids-limit, ...)" : "asking for them";
  return `rootless containers run without ${what} here, as ${why}; ${asking} is an error. To have them, ${DELEGATION_HINT}. This is said once.`;
}

/** Write the limits to the groups in `dirs`; an asked-for limit that no group could take is an error. */
export function applyResources(dirs: string[], r: Resources | undefined): void {
  if (!r) return;
  const asked = askedLimits(r);
  if (asked.length === 0) return;
  const done = new Set<Limit>();
  for (const g of groupsOfDirs(dirs)) for (const l of driverFor(g).apply(g, r)) done.add(l);
  const missing = asked.find((l) => !done.has(l));
  if (missing !== undefined) {
    const what = missing === "memorySwap" ? "swap accounting (memory.memsw.* / memory.swap.max)" : missing === "blkioWeight" ? "a block I/O weight file (blkio.weight, blkio.bfq.weight, io.weight)" : `a ${CONTROLLER_V1[missing]} controller`;
    throw new BoxError("E_UNSUPPORTED", `${FLAG_OF[missing]}: this host's cgroups offer no ${what}`, { hint: `drop ${FLAG_OF[missing]}` });
  }
}
