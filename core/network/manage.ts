/**
 * The `box network` verbs as engine calls: create (validated against every subnet in use,
 * including addresses already on this namespace's interfaces), inspect, rm (refused while a
 * container uses the network), prune, and connect/disconnect of running containers.
 */
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { parseAddHost } from "../runtime/etc.ts";
import { parseNetworkChoice } from "../runtime/options.ts";
import { isProcessState, listContainers, type ContainerRecord } from "../state/containers.ts";
import { attachContainer, detachContainer, type Attached } from "./attach.ts";
import { removeBridge } from "./bridge.ts";
import { networkFileOf, resolveChoice } from "./hook.ts";
import { isLinkLocal, networkOf, type Cidr } from "./ip.ts";
import { Netlink } from "./netlink/socket.ts";
import { readAttachments, type Attachment } from "./pool.ts";
import { createNetwork, DEFAULT_NETWORK, findNetwork, listNetworks, removeNetworkFile, type CreateNetworkOptions, type Network } from "./store.ts";

export { findNetwork, listNetworks };

/** Subnets on this namespace's interfaces, which a new network must not overlap. */
function kernelSubnets(): Cidr[] {
  using nl = Netlink.open();
  return nl.addresses()
    .filter((a) => !isLinkLocal(a.address))
    .filter((a) => !(a.address.family === 4 && a.address.value >> 24n === 127n) && !(a.address.family === 6 && a.address.value === 1n))
    .map((a) => networkOf(a.address, a.prefix));
}

export function createNetworkChecked(paths: BoxPaths, o: Omit<CreateNetworkOptions, "inUse">): Network {
  return createNetwork(paths, { ...o, inUse: paths.rootless ? [] : kernelSubnets() });
}

/** The containers of this storage root configured for or attached to `net`. */
function usersOf(paths: BoxPaths, net: Network): ContainerRecord[] {
  const attached = new Set(readAttachments(paths).filter((a) => a.bridge === net.bridge).map((a) => a.container));
  return listContainers(paths).filter((r) => {
    if (attached.has(r.config.id)) return true;
    const c = resolveChoice(r.config.options.network, paths.rootless);
    return c.kind === "bridge" && (c.name === net.name || (c.name === DEFAULT_NETWORK && net.name === DEFAULT_NETWORK));
  });
}

export function removeNetwork(paths: BoxPaths, ref: string): Network {
  const net = findNetwork(paths, ref);
  if (net.name === DEFAULT_NETWORK) {
    throw new BoxError("E_INVALID_INPUT", `${DEFAULT_NETWORK} is the default network and cannot be removed`, { hint: "configure it in the config file instead" });
  }
  const users = usersOf(paths, net);
  if (users.length > 0) {
    throw new BoxError("E_BAD_STATE", `network ${net.name} is in use by container ${users.map((u) => u.config.name).join(", ")}`, {
      hint: `remove ${users.length === 1 ? "that container" : "those containers"} first (box rm -f ${users.map((u) => u.config.name).join(" ")})`,
    });
  }
  if (!paths.rootless) {
    using nl = Netlink.open();
    removeBridge(nl, net);
  }
  removeNetworkFile(paths, net);
  return net;
}

/** Remove every user network no container uses; returns their names. */
export function pruneNetworks(paths: BoxPaths): string[] {
  const removed: string[] = [];
  for (const net of listNetworks(paths)) {
    if (net.name === DEFAULT_NETWORK || usersOf(paths, net).length > 0) continue;
    removeNetwork(paths, net.name);
    removed.push(net.name);
  }
  return removed;
}

function runningPid(r: ContainerRecord): number {
  const s = r.state;
  if ((s.status !== "running" && s.status !== "paused") || s.pid === undefined || !isProcessState(s.pid, s.pidStartTime)) {
    throw new BoxError("E_BAD_STATE", `container ${r.config.name} is not running`, { hint: "start it first with box start; box connects a stopped container when it starts" });
  }
  return s.pid;
}

export async function connectContainer(paths: BoxPaths, ref: string, r: ContainerRecord, o: { ip?: string; ip6?: string }): Promise<Attached> {
  if (paths.rootless) throw new BoxError("E_UNSUPPORTED", "bridge networks need root", { hint: "rootless containers use pasta or slirp4netns" });
  const net = findNetwork(paths, ref);
  // A veth end moved into "its" namespace would land in the host's, or in another container's.
  const mode = parseNetworkChoice(r.config.options.network).kind;
  if (mode === "host" || mode === "container") {
    throw new BoxError("E_INVALID_INPUT", `container ${r.config.name} uses --network ${r.config.options.network} and cannot be connected to other networks`, {
      hint: "connect a container that has a network namespace of its own (bridge, none, pasta)",
    });
  }
  const pid = runningPid(r);
  const mine = readAttachments(paths).filter((a) => a.container === r.config.id);
  const opts = r.config.options;
  return attachContainer(paths, {
    id: r.config.id, name: r.config.name, hostname: mine[0]?.hostname ?? opts.hostname ?? r.config.id.slice(0, 12),
    hostsPath: r.dirs.hosts, networkFile: networkFileOf(r.dirs.state), extraHosts: (opts.addHosts ?? []).map(parseAddHost), pid,
  }, { network: net, ifname: `eth${mine.length}`, ports: [], ...(o.ip ? { ip: o.ip } : {}), ...(o.ip6 ? { ip6: o.ip6 } : {}) });
}

export async function disconnectContainer(paths: BoxPaths, ref: string, r: ContainerRecord): Promise<void> {
  const net = findNetwork(paths, ref);
  const gone = await detachContainer(paths, r.config.id, net.bridge);
  if (gone.length === 0) {
    throw new BoxError("E_NOT_FOUND", `container ${r.config.name} is not connected to network ${net.name}`, { hint: "see its networks with box inspect" });
  }
}

/** A network as `box network inspect` shows it, docker's field names. */
export function inspectNetwork(paths: BoxPaths, net: Network): Record<string, unknown> {
  const attachments = readAttachments(paths).filter((a) => a.bridge === net.bridge);
  return {
    Name: net.name,
    Id: net.id,
    Created: net.created,
    Scope: "local",
    Driver: net.driver,
    EnableIPv6: net.ipv6,
    IPAM: { Driver: "default", Config: net.subnets.map((s) => ({ Subnet: s.subnet, Gateway: s.gateway })) },
    Internal: net.internal,
    Options: { "com.docker.network.bridge.name": net.bridge },
    Containers: Object.fromEntries(attachments.map((a) => [a.container, {
      Name: a.name,
      MacAddress: a.mac,
      IPv4Address: a.ipv4 ? `${a.ipv4}/${a.ipv4Prefix}` : "",
      IPv6Address: a.ipv6 ? `${a.ipv6}/${a.ipv6Prefix}` : "",
    }])),
  };
}

/** A container's live attachments (for inspect and port). */
export function attachmentsOf(paths: BoxPaths, id: string): Attachment[] {
  return readAttachments(paths).filter((a) => a.container === id);
}
