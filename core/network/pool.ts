/**
 * The address and port pool of one network namespace: every container attached to a bridge in
 * it, with its addresses, veth and published ports, in one validated file under one lock.
 *
 * Bridges, addresses and host ports belong to a network namespace, not to a storage root, so
 * the pool is keyed by the namespace (its inode), not by --root: two box state roots sharing
 * box0 can never hand out the same address. An attachment records the container's pid and start
 * time; when that process is gone the attachment is free, whoever failed to release it (a
 * kill -9 of box, of the monitor, a reboot). Nothing leaks: the kernel removes the veth with the
 * namespace, and the firewall entries of dead attachments are removed by the next pool user.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { FileLock, writeJsonAtomic } from "../state/atomic.ts";
import { isProcessState } from "../state/containers.ts";

export const PortMappingSchema = v.object({
  /** "" for every address of the host (both families). */
  hostIp: v.string(),
  hostPort: v.number(),
  containerPort: v.number(),
  proto: v.picklist(["tcp", "udp"]),
});

export const HostEntrySchema = v.object({ ip: v.string(), names: v.array(v.string()) });

export const AttachmentSchema = v.object({
  container: v.string(),
  name: v.string(),
  hostname: v.string(),
  network: v.string(),
  bridge: v.string(),
  ifname: v.string(),
  hostVeth: v.string(),
  mac: v.string(),
  ipv4: v.optional(v.string()),
  ipv4Prefix: v.optional(v.number()),
  gateway: v.optional(v.string()),
  ipv6: v.optional(v.string()),
  ipv6Prefix: v.optional(v.number()),
  ipv6Gateway: v.optional(v.string()),
  pid: v.number(),
  pidStartTime: v.optional(v.string()),
  /** The container's /etc/hosts on the host: rewritten in place when peers come and go. */
  hostsPath: v.string(),
  /** The container's own record of its networks (see ContainerNetworkSchema). */
  networkFile: v.string(),
  extraHosts: v.array(HostEntrySchema),
  ports: v.array(PortMappingSchema),
  /** The IPv6 port proxy (proxy.ts), stopped when the attachment goes. */
  proxy: v.optional(v.object({ pid: v.number(), startTime: v.optional(v.string()) })),
});

const PoolSchema = v.object({ attachments: v.array(AttachmentSchema) });

/**
 * What one container holds, kept beside its state (network.json) so inspect and port read it
 * without knowing where the pool lives: its bridge attachments, or pasta's published ports.
 */
export const ContainerNetworkSchema = v.object({
  mode: v.string(),
  /** pasta's or slirp4netns' pid and start time, stopped at teardown. */
  helper: v.optional(v.object({ pid: v.number(), startTime: v.optional(v.string()) })),
  /** slirp4netns: the IPv6 port proxy (proxy.ts), stopped at teardown. */
  proxy: v.optional(v.object({ pid: v.number(), startTime: v.optional(v.string()) })),
  attachments: v.array(AttachmentSchema),
  ports: v.array(PortMappingSchema),
});
export type ContainerNetwork = v.InferOutput<typeof ContainerNetworkSchema>;

export function writeContainerNetwork(file: string, value: ContainerNetwork): void {
  writeJsonAtomic(file, value, { durable: false });
}

/** A container's network.json; undefined when missing, damaged, or its process is gone. */
export function readContainerNetwork(file: string): ContainerNetwork | undefined {
  try {
    const r = v.safeParse(ContainerNetworkSchema, JSON.parse(readFileSync(file, "utf8")));
    if (!r.success) return undefined;
    const live = r.output.attachments.filter(isLive);
    return { ...r.output, attachments: live };
  } catch {
    return undefined;
  }
}

export type PortMapping = v.InferOutput<typeof PortMappingSchema>;
export type HostEntry = v.InferOutput<typeof HostEntrySchema>;
export type Attachment = v.InferOutput<typeof AttachmentSchema>;

export interface Pool {
  attachments: Attachment[];
  /** Attachments found dead and dropped while loading: their firewall entries still need removal. */
  dead: Attachment[];
}

function poolDir(paths: BoxPaths): string {
  // Root's pool is shared by every state root in the namespace (see above); a rootless user's
  // containers never share a bridge with anyone else's.
  return paths.rootless ? join(paths.state, "network") : "/run/box/network";
}

function netnsKey(): string {
  return `net-${statSync("/proc/thread-self/ns/net").ino}`;
}

function poolFile(paths: BoxPaths): string {
  return join(poolDir(paths), `${netnsKey()}.json`);
}

function readPool(file: string): Attachment[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BoxError("E_BAD_STATE", `network pool \`${file}\` is not valid JSON`, { hint: "remove the file; running containers keep their addresses, box forgets them" });
  }
  const r = v.safeParse(PoolSchema, raw);
  if (!r.success) throw new BoxError("E_BAD_STATE", `network pool \`${file}\`: ${v.summarize(r.issues).replace(/\n/g, " ")}`, { hint: "remove the file" });
  return r.output.attachments;
}

/**
 * The attachment's owner still runs: same pid, same start time, and not a zombie (a container
 * killed with its monitor may wait a while for a reaper; it holds no network meanwhile).
 */
export function isLive(a: Attachment): boolean {
  if (!isProcessState(a.pid, a.pidStartTime)) return false;
  try {
    const stat = readFileSync(`/proc/${a.pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Every attachment on file, live or not, read without the lock. */
export function readAllAttachments(paths: BoxPaths): Attachment[] {
  return readPool(poolFile(paths));
}

/** The live attachments, read without the lock (for inspect, port, hosts). */
export function readAttachments(paths: BoxPaths): Attachment[] {
  return readPool(poolFile(paths)).filter(isLive);
}

/** Run `fn` on the pool under its lock; what it leaves in `pool.attachments` is written back. */
export async function withPool<T>(paths: BoxPaths, fn: (pool: Pool) => Promise<T> | T): Promise<T> {
  const file = poolFile(paths);
  using _lock = await FileLock.acquireAsync(`${file}.lock`);
  const all = readPool(file);
  const pool: Pool = { attachments: all.filter(isLive), dead: all.filter((a) => !isLive(a)) };
  const result = await fn(pool);
  writeJsonAtomic(file, { attachments: pool.attachments }, { durable: false });
  return result;
}
