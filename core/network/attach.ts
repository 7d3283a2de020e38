/**
 * Joining a container to a bridge network and leaving it. Joining, under the pool lock: make the
 * bridge if needed, take addresses and host ports from the pool, create a veth pair whose
 * container end is born inside the container's network namespace, configure that end from a
 * netlink socket opened in the namespace, publish the ports, and rewrite /etc/hosts of everyone
 * on the bridge. Leaving undoes it; a container that died without leaving is cleaned the same
 * way by whoever next takes the lock.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { BoxError, SyscallError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { hostsFile, type HostsEntry } from "../runtime/etc.ts";
import { processStartTime } from "../state/containers.ts";
import { ensureBridge } from "./bridge.ts";
import { addPorts, removePorts } from "./firewall.ts";
import { contains, formatAddress, mustParseAddress, mustParseCidr, nth, size, type Address, type Cidr } from "./ip.ts";
import { Netlink } from "./netlink/socket.ts";
import { readAllAttachments, withPool, writeContainerNetwork, type Attachment, type HostEntry, type Pool } from "./pool.ts";
import { allocatePorts, type PortRequest } from "./ports.ts";
import { proxyPorts, startProxy, stopProxy } from "./proxy.ts";
import { LINK_LOCAL_GATEWAY, type Network } from "./store.ts";

const EEXIST = 17;

export interface ContainerIdentity {
  id: string;
  name: string;
  hostname: string;
  /** The container's /etc/hosts on the host. */
  hostsPath: string;
  /** Its network.json (pool.ts ContainerNetworkSchema). */
  networkFile: string;
  extraHosts: HostEntry[];
  /** The container's first process: its network namespace is /proc/PID/ns/net. */
  pid: number;
}

export interface AttachRequest {
  network: Network;
  ifname: string;
  ip?: string;
  ip6?: string;
  ports: PortRequest[];
}

function pick(net: Network, cidr: Cidr, gateway: string, wanted: string | undefined, taken: Set<string>, flag: string): Address {
  if (wanted !== undefined) {
    const a = mustParseAddress(wanted, flag);
    if (!contains(cidr, a)) throw new BoxError("E_INVALID_INPUT", `${flag} ${wanted} is not in network ${net.name}'s subnet ${formatAddress({ family: cidr.family, value: cidr.base })}/${cidr.prefix}`, { hint: "choose an address inside the subnet" });
    if (taken.has(formatAddress(a)) || formatAddress(a) === gateway) throw new BoxError("E_EXISTS", `address ${wanted} is already in use on network ${net.name}`, { hint: `leave out ${flag} to get a free one` });
    return a;
  }
  // The bridge holds the first address even when the gateway is fe80::1.
  const reserved = new Set([gateway, formatAddress(nth(cidr, 1n) as Address)]);
  const last = size(cidr) - (cidr.family === 4 ? 1n : 0n);
  const limit = last < 65536n ? last : 65536n;
  for (let n = 2n; n < limit; n++) {
    const a = nth(cidr, n) as Address;
    const text = formatAddress(a);
    if (!taken.has(text) && !reserved.has(text)) return a;
  }
  throw new BoxError("E_EXISTS", `no free address left on network ${net.name} (${formatAddress({ family: cidr.family, value: cidr.base })}/${cidr.prefix})`, { hint: "remove containers from it, or create a network with a larger --subnet" });
}

function macFor(ipv4: Address | undefined): string {
  // docker's scheme: 02:42 and the IPv4 address, unique because the address is.
  const bytes = ipv4 ? [0x02, 0x42, ...[24n, 16n, 8n, 0n].map((s) => Number((ipv4.value >> s) & 0xffn))] : [0x02, ...crypto.getRandomValues(new Uint8Array(5))];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Everything one container's /etc/hosts says: its own addresses, its peers', --add-host. */
export function hostsEntriesOf(pool: Attachment[], container: string): HostsEntry[] {
  const own = pool.filter((a) => a.container === container);
  const bridges = new Set(own.map((a) => a.bridge));
  const entries: HostsEntry[] = [];
  for (const a of own) {
    if (a.ipv4) entries.push({ ip: a.ipv4, names: [a.hostname, a.name] });
    if (a.ipv6) entries.push({ ip: a.ipv6, names: [a.hostname, a.name] });
  }
  for (const p of pool) {
    if (p.container === container || !bridges.has(p.bridge)) continue;
    if (p.ipv4) entries.push({ ip: p.ipv4, names: [p.name, p.hostname] });
    if (p.ipv6) entries.push({ ip: p.ipv6, names: [p.name, p.hostname] });
  }
  entries.push(...(own[0]?.extraHosts ?? []));
  return entries;
}

/**
 * Rewrite /etc/hosts of every container on `bridges`. In place, never by rename: the file is
 * bind-mounted into the container, and a bind mount holds the inode, not the name (podman does
 * the same for its peers).
 */
function refreshHosts(pool: Attachment[], bridges: Set<string>): void {
  const seen = new Set<string>();
  for (const a of pool) {
    if (!bridges.has(a.bridge) || seen.has(a.container) || !existsSync(a.hostsPath)) continue;
    seen.add(a.container);
    try {
      writeFileSync(a.hostsPath, hostsFile(a.hostname, "none", undefined, hostsEntriesOf(pool, a.container)));
    } catch {
      // A container removed meanwhile: nothing to update.
    }
  }
}

/** Rewrite the container's own network.json from the pool. */
function recordFor(pool: Attachment[], a: Attachment): void {
  const mine = pool.filter((o) => o.container === a.container);
  writeContainerNetwork(a.networkFile, { mode: "bridge", attachments: mine, ports: mine.flatMap((o) => o.ports) });
}

/** Undo what an attachment holds outside the container's namespace. */
function release(nl: Netlink, a: Attachment): void {
  removePorts(a.ports, a.ipv4, a.ipv6);
  if (a.proxy) stopProxy(a.proxy.pid, a.proxy.startTime);
  nl.deleteLink(a.hostVeth);
}

/** Release what dead attachments still hold outside the kernel's namespace teardown. */
function sweep(nl: Netlink, pool: Pool): void {
  for (const d of pool.dead) release(nl, d);
  if (pool.dead.length > 0) refreshHosts(pool.attachments, new Set(pool.dead.map((d) => d.bridge)));
}

function plumb(nl: Netlink, net: Network, a: Attachment, first: boolean): void {
  const bridge = nl.mustLink(net.bridge);
  const host = nl.createVeth({ name: a.hostVeth, peer: a.ifname, peerNetns: { pid: a.pid }, peerMac: a.mac });
  try {
    nl.setMaster(host, bridge);
    nl.setUp(host);
    using inside = Netlink.open(`/proc/${a.pid}/ns/net`);
    const eth = inside.mustLink(a.ifname);
    if (a.ipv4) inside.addAddress(eth, mustParseAddress(a.ipv4, "address"), a.ipv4Prefix ?? 32);
    if (a.ipv6) inside.addAddress(eth, mustParseAddress(a.ipv6, "address"), a.ipv6Prefix ?? 128);
    inside.setUp(eth);
    if (net.internal || !first) return;
    for (const gw of [a.gateway, a.ipv6Gateway]) {
      if (!gw) continue;
      try {
        inside.addDefaultRoute(eth, mustParseAddress(gw, "gateway"));
      } catch (e) {
        if (!(e instanceof SyscallError && e.errno === EEXIST)) throw e;
      }
    }
  } catch (e) {
    nl.deleteLink(a.hostVeth);
    throw e;
  }
}

export interface Attached {
  attachment: Attachment;
  /** What box switched on in the kernel for this, worth telling the user. */
  notes: string[];
}

export async function attachContainer(paths: BoxPaths, c: ContainerIdentity, req: AttachRequest): Promise<Attached> {
  const net = req.network;
  using nl = Netlink.open();
  return await withPool(paths, async (pool) => {
    sweep(nl, pool);
    if (pool.attachments.some((a) => a.container === c.id && a.bridge === net.bridge)) {
      throw new BoxError("E_EXISTS", `container ${c.name} is already connected to network ${net.name}`, { hint: `disconnect it first with box network disconnect ${net.name} ${c.name}` });
    }
    const notes = ensureBridge(nl, net);
    const onBridge = pool.attachments.filter((a) => a.bridge === net.bridge);
    const first = !pool.attachments.some((a) => a.container === c.id);
    const a: Attachment = {
      container: c.id, name: c.name, hostname: c.hostname, network: net.name, bridge: net.bridge, ifname: req.ifname,
      hostVeth: `veth${Buffer.from(crypto.getRandomValues(new Uint8Array(5))).toString("hex")}`, mac: "",
      pid: c.pid, hostsPath: c.hostsPath, networkFile: c.networkFile, extraHosts: c.extraHosts, ports: [],
    };
    const start = processStartTime(c.pid);
    if (start) a.pidStartTime = start;
    let v4: Address | undefined;
    for (const s of net.subnets) {
      const cidr = mustParseCidr(s.subnet, "network subnet");
      if (cidr.family === 4 && !a.ipv4) {
        v4 = pick(net, cidr, s.gateway, req.ip, new Set(onBridge.map((o) => o.ipv4 ?? "")), "--ip");
        Object.assign(a, { ipv4: formatAddress(v4), ipv4Prefix: cidr.prefix, gateway: s.gateway });
      } else if (cidr.family === 6 && !a.ipv6) {
        const v6 = pick(net, cidr, s.gateway, req.ip6, new Set(onBridge.map((o) => o.ipv6 ?? "")), "--ip6");
        Object.assign(a, { ipv6: formatAddress(v6), ipv6Prefix: cidr.prefix, ipv6Gateway: s.gateway === LINK_LOCAL_GATEWAY ? LINK_LOCAL_GATEWAY : s.gateway });
      }
    }
    a.mac = macFor(v4);
    a.ports = await allocatePorts(req.ports, pool.attachments.flatMap((o) => o.ports));
    const proxied = proxyPorts(a.ports, a.ipv6 !== undefined);
    const target = a.ipv4 ?? a.ipv6;
    // Started first, both processes: the proxy's start-up and nft's run overlap the plumbing.
    const proxy = proxied.length > 0 && target ? startProxy({ pid: c.pid, ...(start ? { startTime: start } : {}), target, ports: proxied }) : Promise.resolve(undefined);
    const published = addPorts(a.ports, a.ipv4, a.ipv6);
    const settled = Promise.allSettled([proxy, published]);
    try {
      plumb(nl, net, a, first);
      await published;
      const pid = await proxy;
      if (pid !== undefined) {
        const proxyStart = processStartTime(pid);
        a.proxy = { pid, ...(proxyStart ? { startTime: proxyStart } : {}) };
      }
    } catch (e) {
      // Undone only once both have settled, so no element is added after its removal.
      const [p] = await settled;
      if (p.status === "fulfilled" && p.value !== undefined) stopProxy(p.value, undefined);
      release(nl, a);
      throw e;
    }
    pool.attachments.push(a);
    refreshHosts(pool.attachments, new Set([net.bridge]));
    recordFor(pool.attachments, a);
    return { attachment: a, notes };
  });
}

/** Leave one network (`bridge`) or all of them; returns what was left. */
export async function detachContainer(paths: BoxPaths, container: string, bridge?: string): Promise<Attachment[]> {
  // Most containers leave no attachment (none, host, pasta): skip the lock and the socket.
  if (!readAllAttachments(paths).some((a) => a.container === container)) return [];
  using nl = Netlink.open();
  return await withPool(paths, (pool) => {
    const mine = (a: Attachment) => a.container === container && (bridge === undefined || a.bridge === bridge);
    const gone = [...pool.attachments.filter(mine), ...pool.dead.filter(mine)];
    pool.attachments = pool.attachments.filter((a) => !mine(a));
    pool.dead = pool.dead.filter((a) => !mine(a));
    for (const a of gone) release(nl, a);
    sweep(nl, pool);
    refreshHosts(pool.attachments, new Set(gone.map((a) => a.bridge)));
    const first = gone[0];
    if (first && existsSync(first.networkFile)) {
      if (bridge === undefined) rmSync(first.networkFile, { force: true });
      else recordFor(pool.attachments, first);
    }
    return gone;
  });
}
