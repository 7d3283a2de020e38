/**
 * A network's bridge device, made on first use: created, addressed (its IPv4 gateway; with
 * IPv6, fe80::1/64 and the IPv6 subnet's gateway, so the host has a route to the containers),
 * brought up, and given its NAT entries. IPv4 forwarding is switched on only for a network
 * that is not --internal, because only outbound NAT needs it; IPv6 forwarding likewise only for
 * a non-internal IPv6 network. Both are per network namespace.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { BoxError } from "../errors.ts";
import { addNetworkRules, removeNetworkRules } from "./firewall.ts";
import { firstHost, formatAddress, isLinkLocal, mustParseAddress, mustParseCidr, networkOf, overlaps } from "./ip.ts";
import type { Netlink } from "./netlink/socket.ts";
import { LINK_LOCAL_GATEWAY, type Network } from "./store.ts";

function sysctl(path: string, value: string): boolean {
  const file = `/proc/sys/${path}`;
  try {
    if (readFileSync(file, "utf8").trim() === value) return false;
    writeFileSync(file, value);
    return true;
  } catch (e) {
    throw new BoxError("E_PERMISSION", `cannot set ${path.replace(/\//g, ".")}=${value}: ${(e as NodeJS.ErrnoException).code ?? e}`, { hint: "bridge networks need root; use --network none or host" });
  }
}

/** Make sure the bridge exists and is configured; returns what box switched on, for the user. */
export function ensureBridge(nl: Netlink, net: Network): string[] {
  const notes: string[] = [];
  if (nl.link(net.bridge)) return notes;
  checkFree(nl, net);
  let br;
  try {
    br = nl.createBridge(net.bridge);
  } catch (e) {
    // Another box made it between the check and the create: the pool lock serialises box's
    // own users, but not other state roots'.
    if (!nl.link(net.bridge)) throw e;
    return notes;
  }
  const v6 = net.subnets.some((s) => s.subnet.includes(":"));
  if (v6) {
    // A new bridge must not wait out duplicate address detection on a fixed link-local address.
    sysctl(`net/ipv6/conf/${net.bridge}/accept_dad`, "0");
    nl.addAddress(br, mustParseAddress(LINK_LOCAL_GATEWAY, "gateway"), 64);
  }
  for (const s of net.subnets) {
    const c = mustParseCidr(s.subnet, "network subnet");
    // With fe80::1 as the gateway the bridge still takes the subnet's first address: the host
    // needs it as a route to the containers and as a source for published IPv6 ports.
    if (s.gateway !== LINK_LOCAL_GATEWAY) nl.addAddress(br, mustParseAddress(s.gateway, "network gateway"), c.prefix);
    else nl.addAddress(br, firstHost(c), c.prefix);
  }
  nl.setUp(br);
  // Published ports reach containers from 127.0.0.1 only if loopback sources may be routed to
  // the bridge; the firewall's guard drops packets to 127/8 arriving from it.
  sysctl(`net/ipv4/conf/${net.bridge}/route_localnet`, "1");
  addNetworkRules(net.bridge, net.subnets.map((s) => s.subnet), net.internal);
  if (!net.internal) {
    if (sysctl("net/ipv4/ip_forward", "1")) notes.push("enabled net.ipv4.ip_forward for outbound NAT");
    if (v6 && sysctl("net/ipv6/conf/all/forwarding", "1")) notes.push("enabled net.ipv6.conf.all.forwarding for outbound NAT");
  }
  return notes;
}

/** A new bridge must not take a subnet an interface of this namespace already uses. */
function checkFree(nl: Netlink, net: Network): void {
  const used = nl.addresses();
  for (const s of net.subnets) {
    const c = mustParseCidr(s.subnet, "network subnet");
    const hit = used.find((a) => !isLinkLocal(a.address) && overlaps(c, networkOf(a.address, a.prefix)));
    if (hit) {
      const name = `interface #${hit.index}`;
      throw new BoxError("E_EXISTS", `subnet ${s.subnet} of network ${net.name} overlaps ${formatAddress(hit.address)}/${hit.prefix} on ${name}`, {
        hint: net.name === "box" ? "set another \"defaultSubnet\" in box's config.json" : "remove the network and create it with another --subnet",
      });
    }
  }
}

export function removeBridge(nl: Netlink, net: Network): void {
  nl.deleteLink(net.bridge);
  removeNetworkRules(net.bridge, net.subnets.map((s) => s.subnet));
}
