/**
 * Linux capabilities by name, docker's default set, and the sets a container process gets.
 */
import { readFileSync } from "node:fs";
import { BoxError } from "../errors.ts";

export const CAPABILITIES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
] as const;

export type Capability = (typeof CAPABILITIES)[number];

/** What docker (moby's oci/caps/defaults.go) grants a container that asks for nothing. */
export const DEFAULT_CAPABILITIES: Capability[] = [
  "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
  "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
];

/** Accept `NET_ADMIN`, `net_admin`, `CAP_NET_ADMIN` and `ALL`, as docker does. */
export function parseCapability(name: string): Capability | "ALL" {
  const upper = name.trim().toUpperCase().replace(/^CAP_/, "");
  if (upper === "ALL") return "ALL";
  if ((CAPABILITIES as readonly string[]).includes(upper)) return upper as Capability;
  throw new BoxError("E_INVALID_INPUT", `unknown capability \`${name}\``, {
    hint: "capabilities are named like NET_ADMIN or CAP_SYS_TIME; see capabilities(7)",
  });
}

export function capMask(caps: Iterable<Capability>): bigint {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(CAPABILITIES.indexOf(c));
  return m;
}

export function capNames(mask: bigint): Capability[] {
  return CAPABILITIES.filter((_, i) => (mask & (1n << BigInt(i))) !== 0n);
}

/** The bounding set of this process: nothing outside it can be granted (here, root lacks
 * CAP_SYS_RESOURCE, so asking for it must not fail the whole run). */
export function currentBoundingSet(status = readFileSync("/proc/self/status", "utf8")): bigint {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : capMask(CAPABILITIES);
}

/**
 * docker's rule (moby's TweakCapabilities): start from the defaults (or all with --privileged);
 * `--cap-drop ALL` empties the set before the additions, so `--cap-drop ALL --cap-add X` is X.
 */
export function resolveCapabilities(opts: { privileged: boolean; add: string[]; drop: string[] }): Set<Capability> {
  const drops = opts.drop.map(parseCapability);
  const set = new Set<Capability>(drops.includes("ALL") ? [] : opts.privileged ? CAPABILITIES : DEFAULT_CAPABILITIES);
  for (const c of drops) if (c !== "ALL") set.delete(c);
  for (const name of opts.add) {
    const c = parseCapability(name);
    if (c === "ALL") for (const x of CAPABILITIES) set.add(x);
    else set.add(c);
  }
  return set;
}

export interface ProcessCaps {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

/**
 * Root in the container gets the set as bounding, effective and permitted; any other user keeps
 * only the bounding set, as with docker. Inheritable stays empty (moby's fix for CVE-2022-24769).
 */
export function processCaps(set: Set<Capability>, uid: number, bounding: bigint): ProcessCaps {
  const mask = capMask(set) & bounding;
  const isRoot = uid === 0;
  return { bounding: mask, effective: isRoot ? mask : 0n, permitted: isRoot ? mask : 0n, inheritable: 0n, ambient: 0n };
}
