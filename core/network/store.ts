/**
 * Networks as objects under the storage root: one validated JSON file each, written atomically
 * under one lock. The default network `box` (bridge box0) is written on first use from the
 * configuration file; user networks get a bridge named br-<id prefix>, like docker's.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { withLock, writeJsonAtomic } from "../state/atomic.ts";
import { loadConfig } from "./config.ts";
import { contains, firstHost, formatAddress, formatCidr, mustParseAddress, mustParseCidr, overlaps, type Cidr } from "./ip.ts";

export const DEFAULT_NETWORK = "box";
export const DEFAULT_BRIDGE = "box0";
/**
 * docker's default, not podman's 10.88.0.0/16: podman is installed beside box on these hosts,
 * and two bridges holding the same subnet in one namespace break each other's routes (measured:
 * podman's published ports answered "No route to host" while box0 held 10.88.0.1/16).
 */
const DEFAULT_SUBNET = "172.17.0.0/16";
const DEFAULT_SUBNET_V6 = "fd00:88::/64";
/** The IPv6 gateway of the default network, as Docker 1.5's docker0: fixed, link-local. */
export const LINK_LOCAL_GATEWAY = "fe80::1";

const SubnetSchema = v.object({ subnet: v.string(), gateway: v.string() });

export const NetworkSchema = v.object({
  name: v.string(),
  id: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  driver: v.literal("bridge"),
  bridge: v.pipe(v.string(), v.maxLength(15)),
  subnets: v.array(SubnetSchema),
  ipv6: v.boolean(),
  internal: v.boolean(),
  created: v.string(),
});

export type Network = v.InferOutput<typeof NetworkSchema>;
export type Subnet = v.InferOutput<typeof SubnetSchema>;

function dir(paths: BoxPaths): string {
  return join(paths.storage, "networks");
}

function fileOf(paths: BoxPaths, name: string): string {
  return join(dir(paths), `${name}.json`);
}

function lockOf(paths: BoxPaths): string {
  return join(dir(paths), ".lock");
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function read(file: string): Network {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new BoxError("E_INVALID_INPUT", `network file \`${file}\` is damaged: ${(e as Error).message}`, { hint: "remove the file and create the network again" });
  }
  const r = v.safeParse(NetworkSchema, raw);
  if (!r.success) throw new BoxError("E_INVALID_INPUT", `network file \`${file}\`: ${v.summarize(r.issues).replace(/\n/g, " ")}`, { hint: "remove the file and create the network again" });
  return r.output;
}

function randomId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

export function listNetworks(paths: BoxPaths): Network[] {
  let names: string[];
  try {
    names = readdirSync(dir(paths)).filter((n) => n.endsWith(".json"));
  } catch {
    names = [];
  }
  const nets = names.map((n) => read(join(dir(paths), n)));
  if (!nets.some((n) => n.name === DEFAULT_NETWORK)) nets.push(defaultNetworkValue(paths));
  return nets.sort((a, b) => a.name.localeCompare(b.name));
}

/** The default network as the configuration describes it (not yet written). */
function defaultNetworkValue(paths: BoxPaths): Network {
  const cfg = loadConfig(paths);
  const v4 = mustParseCidr(cfg.defaultSubnet ?? DEFAULT_SUBNET, "config defaultSubnet");
  const subnets: Subnet[] = [{ subnet: formatCidr(v4), gateway: formatAddress(firstHost(v4)) }];
  if (cfg.ipv6) {
    const v6 = mustParseCidr(cfg.fixedCidrV6 ?? DEFAULT_SUBNET_V6, "config fixedCidrV6");
    if (v6.family !== 6) throw new BoxError("E_INVALID_INPUT", `config fixedCidrV6: \`${cfg.fixedCidrV6}\` is not an IPv6 subnet`, { hint: "use e.g. fd00:88::/64" });
    subnets.push({ subnet: formatCidr(v6), gateway: LINK_LOCAL_GATEWAY });
  }
  // A stable id: every storage root's default network is the same box0.
  return { name: DEFAULT_NETWORK, id: "b".repeat(64), driver: "bridge", bridge: DEFAULT_BRIDGE, subnets, ipv6: cfg.ipv6, internal: false, created: new Date(0).toISOString() };
}

/** Find a network by name, full id or id prefix; the default network always exists. */
export function findNetwork(paths: BoxPaths, ref: string): Network {
  if (NAME.test(ref) && existsSync(fileOf(paths, ref))) return read(fileOf(paths, ref));
  if (ref === DEFAULT_NETWORK || ref === "bridge") return defaultNetworkValue(paths);
  const byId = listNetworks(paths).filter((n) => ref.length >= 3 && n.id.startsWith(ref));
  if (byId.length === 1) return byId[0] as Network;
  throw new BoxError("E_NOT_FOUND", `network ${ref} not found`, { hint: "list networks with box network ls, or create it with box network create" });
}

export interface CreateNetworkOptions {
  name: string;
  subnets: string[];
  gateways: string[];
  ipv6: boolean;
  /** docker's --fixed-cidr-v6: the IPv6 subnet the addresses come from. */
  fixedCidrV6?: string;
  internal: boolean;
  /** Subnets in use outside box's files (addresses on the host's interfaces). */
  inUse?: Cidr[];
}

function autoSubnet(family: 4 | 6, taken: Cidr[]): Cidr {
  for (let i = 0; i < 256; i++) {
    const c = mustParseCidr(family === 4 ? `10.89.${i}.0/24` : `fd00:89:${i.toString(16)}::/64`, "subnet");
    if (!taken.some((t) => overlaps(t, c))) return c;
  }
  throw new BoxError("E_EXISTS", "no free subnet left in 10.89.0.0/16", { hint: "give one with --subnet" });
}

/** The subnets of a network description, validated against each other and everything in use. */
function planSubnets(o: CreateNetworkOptions, existing: Network[]): Subnet[] {
  const requested = [...o.subnets, ...(o.fixedCidrV6 ? [o.fixedCidrV6] : [])].map((s) => mustParseCidr(s, "--subnet"));
  const gateways = o.gateways.map((g) => mustParseAddress(g, "--gateway"));
  const taken: { cidr: Cidr; owner: string }[] = [
    ...existing.flatMap((n) => n.subnets.map((s) => ({ cidr: mustParseCidr(s.subnet, "network file"), owner: `network ${n.name}` }))),
    ...(o.inUse ?? []).map((c) => ({ cidr: c, owner: "an address on this host" })),
  ];
  for (const c of requested) {
    const hit = taken.find((t) => overlaps(t.cidr, c));
    if (hit) {
      throw new BoxError("E_EXISTS", `subnet ${formatCidr(c)} overlaps ${hit.owner} (${formatCidr(hit.cidr)})`, { hint: "choose a subnet that overlaps no other network, or omit --subnet to get a free one" });
    }
    for (const other of requested) {
      if (other !== c && overlaps(other, c)) throw new BoxError("E_INVALID_INPUT", `subnets ${formatCidr(c)} and ${formatCidr(other)} overlap`, { hint: "give non-overlapping --subnet values" });
    }
  }
  if (!requested.some((c) => c.family === 4)) requested.unshift(autoSubnet(4, taken.map((t) => t.cidr)));
  if (o.ipv6 && !requested.some((c) => c.family === 6)) requested.push(autoSubnet(6, taken.map((t) => t.cidr)));
  if (!o.ipv6 && requested.some((c) => c.family === 6)) {
    throw new BoxError("E_INVALID_INPUT", "an IPv6 --subnet needs --ipv6", { hint: "add --ipv6 to enable IPv6 on the network" });
  }
  for (const g of gateways) {
    if (!requested.some((c) => contains(c, g))) {
      throw new BoxError("E_INVALID_INPUT", `--gateway ${formatAddress(g)} is in none of the network's subnets`, { hint: "give a gateway inside a --subnet" });
    }
  }
  return requested.map((c) => {
    if (c.prefix > (c.family === 4 ? 30 : 126)) throw new BoxError("E_INVALID_INPUT", `--subnet ${formatCidr(c)} is too small`, { hint: "use at most a /30 for IPv4 or /126 for IPv6" });
    const gw = gateways.find((g) => contains(c, g)) ?? firstHost(c);
    return { subnet: formatCidr(c), gateway: formatAddress(gw) };
  });
}

export function createNetwork(paths: BoxPaths, o: CreateNetworkOptions): Network {
  if (!NAME.test(o.name)) throw new BoxError("E_INVALID_INPUT", `invalid network name \`${o.name}\``, { hint: "names match [a-zA-Z0-9][a-zA-Z0-9_.-]*" });
  if (["none", "host", "bridge", "pasta", "slirp4netns", "private", "default", DEFAULT_NETWORK].includes(o.name)) {
    throw new BoxError("E_EXISTS", `network name ${o.name} is reserved`, { hint: "choose another name" });
  }
  return withLock(lockOf(paths), () => {
    if (existsSync(fileOf(paths, o.name))) throw new BoxError("E_EXISTS", `network with name ${o.name} already exists`, { hint: "choose another name or remove it with box network rm" });
    const subnets = planSubnets(o, listNetworks(paths));
    const id = randomId();
    const net: Network = {
      name: o.name, id, driver: "bridge", bridge: `br-${id.slice(0, 12)}`, subnets, ipv6: o.ipv6, internal: o.internal, created: new Date().toISOString(),
    };
    writeJsonAtomic(fileOf(paths, o.name), net);
    return net;
  });
}

export function removeNetworkFile(paths: BoxPaths, net: Network): void {
  withLock(lockOf(paths), () => rmSync(fileOf(paths, net.name), { force: true }));
}
