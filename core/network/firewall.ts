/**
 * NAT through the `nft` program, in one table box owns (`inet box`), so box never edits a rule
 * it did not write and `nft delete table inet box` undoes everything. The rules are fixed; what
 * changes per network and per container are set and map elements (subnets to masquerade,
 * published ports), added and deleted by key, so no rule handle is ever tracked.
 *
 * Published ports are DNAT'd in prerouting (traffic from outside and from containers) and output
 * (from the host itself, loopback included: `route_localnet` on the bridge lets 127.0.0.1 be
 * routed there, and the masquerade rule gives the packet a source the container can answer).
 * IPv6 has no route_localnet: ::1 is left to the userland proxy (proxy.ts), and so is every IPv6
 * address for a container without IPv6, which gets no IPv6 elements here.
 */
import { BoxError } from "../errors.ts";
import type { PortMapping } from "./pool.ts";
import { parseAddress } from "./ip.ts";

export const TABLE = "inet box";

const TABLE_TEXT = `table inet box {
  map dnat4 { type inet_proto . inet_service : ipv4_addr . inet_service; }
  map dnat4addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  map dnat6 { type inet_proto . inet_service : ipv6_addr . inet_service; }
  map dnat6addr { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
  set masq4 { type ipv4_addr; flags interval; }
  set masq6 { type ipv6_addr; flags interval; }
  set bridges { type ifname; }
  set internal { type ifname; }
  set internal_self { type ifname . ifname; }
  set bridge_self { type ifname . ifname; }
  chain ports {
    ip6 daddr ::1 return
    meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @dnat4addr
    meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat4
    meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6addr
    meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @dnat6
  }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump ports; }
  chain output { type nat hook output priority -100; policy accept; fib daddr type local jump ports; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
    ip saddr @masq4 ip daddr != @masq4 masquerade
    ip6 saddr @masq6 ip6 daddr != @masq6 masquerade
    ct status dnat ip saddr 127.0.0.0/8 oifname @bridges masquerade
  }
  chain guard { type filter hook prerouting priority raw; policy accept; iifname @bridges ip daddr 127.0.0.0/8 drop; }
  chain forward { type filter hook forward priority filter; policy accept;
    iifname . oifname @internal_self accept
    iifname @internal drop
    oifname @internal drop
    iifname . oifname @bridge_self accept
    iifname @bridges oifname @bridges ct status & dnat == 0 drop
  }
}
`;

/**
 * Networks are isolated from each other, as docker's are (its DOCKER-ISOLATION chains): what
 * one bridge forwards to another is dropped, unless a published port DNAT'd it there. The
 * bridge_self exception keeps a bridge's own traffic (seen with br_netfilter loaded) flowing.
 */
const ISOLATION = `add set inet box bridge_self { type ifname . ifname; }
add rule inet box forward iifname . oifname @bridge_self accept
add rule inet box forward iifname @bridges oifname @bridges ct status & dnat == 0 drop
`;

/**
 * What tables made by an older box lack, added in place: the ::1 exclusion (proxy.ts) and the
 * same-bridge exception for --internal networks. With bridge-nf-call-iptables on (the default
 * once br_netfilter is loaded, as docker and podman load it), traffic between two containers on
 * one bridge passes the forward hook with the bridge as both iifname and oifname; without the
 * exception an internal network's containers could not reach each other (measured).
 */
const UPGRADES: { marker: string; script: string }[] = [
  { marker: "ip6 daddr ::1 return", script: "insert rule inet box ports ip6 daddr ::1 return\n" },
  {
    marker: "internal_self",
    script: "add set inet box internal_self { type ifname . ifname; }\ninsert rule inet box forward iifname . oifname @internal_self accept\n",
  },
  { marker: "bridge_self", script: `${ISOLATION}` },
];

function nft(args: string[], stdin?: string): { ok: boolean; stderr: string } {
  let r: ReturnType<typeof Bun.spawnSync>;
  try {
    r = Bun.spawnSync(["nft", ...args], { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "ignore", stderr: "pipe" });
  } catch {
    throw new BoxError("E_UNSUPPORTED", "cannot run `nft`: the program is missing", { hint: "install nftables (apt-get install nftables)" });
  }
  return { ok: r.exitCode === 0, stderr: r.stderr?.toString().trim().split("\n")[0] ?? "" };
}

function mustNft(args: string[], what: string, stdin?: string): void {
  const r = nft(args, stdin);
  if (!r.ok) throw new BoxError("E_SYSCALL", `nft: ${what}: ${r.stderr}`, { hint: "check that nf_tables is available (nft list ruleset)" });
}

/** Create box's table unless it exists (callers hold the pool lock, so two never race). */
export function ensureTable(): void {
  const r = Bun.spawnSync(["nft", "list", "table", "inet", "box"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  if (r.exitCode !== 0) {
    mustNft(["-f", "-"], "create table inet box", TABLE_TEXT);
    return;
  }
  const text = r.stdout.toString();
  for (const u of UPGRADES) if (!text.includes(u.marker)) mustNft(["-f", "-"], "upgrade table inet box", u.script);
}

export function deleteTable(): void {
  nft(["delete", "table", "inet", "box"]);
}

/** Masquerade a network's subnets, guard and isolate its bridge; internal networks are not masqueraded. */
export function addNetworkRules(bridge: string, subnets: string[], internal: boolean): void {
  ensureTable();
  const cmds = [`add element ${TABLE} bridges { ${bridge} }`, `add element ${TABLE} bridge_self { ${bridge} . ${bridge} }`];
  if (internal) cmds.push(`add element ${TABLE} internal { ${bridge} }`, `add element ${TABLE} internal_self { ${bridge} . ${bridge} }`);
  else {
    for (const s of subnets) cmds.push(`add element ${TABLE} ${s.includes(":") ? "masq6" : "masq4"} { ${s} }`);
  }
  mustNft(["-f", "-"], `rules of bridge ${bridge}`, `${cmds.join("\n")}\n`);
}

export function removeNetworkRules(bridge: string, subnets: string[]): void {
  // One command per element: a missing one must not keep the others.
  nft(["delete", "element", "inet", "box", "bridges", `{ ${bridge} }`]);
  nft(["delete", "element", "inet", "box", "internal", `{ ${bridge} }`]);
  nft(["delete", "element", "inet", "box", "internal_self", `{ ${bridge} . ${bridge} }`]);
  nft(["delete", "element", "inet", "box", "bridge_self", `{ ${bridge} . ${bridge} }`]);
  for (const s of subnets) nft(["delete", "element", "inet", "box", s.includes(":") ? "masq6" : "masq4", `{ ${s} }`]);
}

/** The map elements of one published port: `[map, key, value]`. */
export function portElements(p: PortMapping, ipv4?: string, ipv6?: string): [string, string, string][] {
  const out: [string, string, string][] = [];
  const host = p.hostIp === "" ? undefined : parseAddress(p.hostIp);
  if (ipv4 && (!host || host.family === 4)) {
    out.push(host ? ["dnat4addr", `${p.hostIp} . ${p.proto} . ${p.hostPort}`, `${ipv4} . ${p.containerPort}`] : ["dnat4", `${p.proto} . ${p.hostPort}`, `${ipv4} . ${p.containerPort}`]);
  }
  if (ipv6 && (!host || (host.family === 6 && p.hostIp !== "::1"))) {
    out.push(host ? ["dnat6addr", `${p.hostIp} . ${p.proto} . ${p.hostPort}`, `${ipv6} . ${p.containerPort}`] : ["dnat6", `${p.proto} . ${p.hostPort}`, `${ipv6} . ${p.containerPort}`]);
  }
  return out;
}

async function nftAsync(args: string[], stdin: string): Promise<{ ok: boolean; stderr: string }> {
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(["nft", ...args], { stdin: new TextEncoder().encode(stdin), stdout: "ignore", stderr: "pipe" });
  } catch {
    throw new BoxError("E_UNSUPPORTED", "cannot run `nft`: the program is missing", { hint: "install nftables (apt-get install nftables)" });
  }
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr as ReadableStream).text()]);
  return { ok: code === 0, stderr: stderr.trim().split("\n")[0] ?? "" };
}

/**
 * Publish ports: one `nft` run, without waiting on it, so the caller overlaps it with its
 * plumbing. The table is made by the bridge's setup; only when someone deleted it since does
 * this take a second run to make it again.
 */
export async function addPorts(ports: PortMapping[], ipv4?: string, ipv6?: string): Promise<void> {
  const elems = ports.flatMap((p) => portElements(p, ipv4, ipv6));
  if (elems.length === 0) return;
  const script = `${elems.map(([m, k, v]) => `add element ${TABLE} ${m} { ${k} : ${v} }`).join("\n")}\n`;
  if ((await nftAsync(["-f", "-"], script)).ok) return;
  ensureTable();
  const r = await nftAsync(["-f", "-"], script);
  if (!r.ok) throw new BoxError("E_SYSCALL", `nft: publish ports: ${r.stderr}`, { hint: "check that nf_tables is available (nft list ruleset)" });
}

export function removePorts(ports: PortMapping[], ipv4?: string, ipv6?: string): void {
  const elems = ports.flatMap((p) => portElements(p, ipv4, ipv6));
  if (elems.length === 0) return;
  // One run for all; a script fails whole when one element is missing (removed already by
  // someone else's sweep), and then each goes on its own.
  if (nft(["-f", "-"], `${elems.map(([m, k]) => `delete element ${TABLE} ${m} { ${k} }`).join("\n")}\n`).ok) return;
  for (const [m, k] of elems) nft(["delete", "element", "inet", "box", m, `{ ${k} }`]);
}
