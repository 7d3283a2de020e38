/** docker's NetworkSettings of `inspect`, and the lines of `box port`, from a container's network.json. */
import { networkFileOf } from "./hook.ts";
import { readContainerNetwork, type PortMapping } from "./pool.ts";
import { describePorts } from "./ports.ts";

/** docker's Ports: a port on every address is listed on 0.0.0.0 and :: (see describePorts). */
function portsObject(ports: PortMapping[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of ports) {
    const list = (out[`${p.containerPort}/${p.proto}`] ??= []);
    if (p.hostIp !== "") list.push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
    else {
      list.push({ HostIp: "0.0.0.0", HostPort: String(p.hostPort) }, { HostIp: "::", HostPort: String(p.hostPort) });
    }
  }
  return out;
}

export function networkSettings(stateDir: string): Record<string, unknown> {
  const n = readContainerNetwork(networkFileOf(stateDir));
  const live = n && (n.mode !== "bridge" || n.attachments.length > 0) ? n : undefined;
  const first = live?.attachments[0];
  const networks = Object.fromEntries((live?.attachments ?? []).map((a) => [a.network, {
    NetworkID: a.bridge,
    Gateway: a.gateway ?? "",
    IPAddress: a.ipv4 ?? "",
    IPPrefixLen: a.ipv4Prefix ?? 0,
    IPv6Gateway: a.ipv6Gateway ?? "",
    GlobalIPv6Address: a.ipv6 ?? "",
    GlobalIPv6PrefixLen: a.ipv6Prefix ?? 0,
    MacAddress: a.mac,
  }]));
  return {
    Bridge: first?.bridge ?? "",
    IPAddress: first?.ipv4 ?? "",
    IPPrefixLen: first?.ipv4Prefix ?? 0,
    GlobalIPv6Address: first?.ipv6 ?? "",
    GlobalIPv6PrefixLen: first?.ipv6Prefix ?? 0,
    Gateway: first?.gateway ?? "",
    IPv6Gateway: first?.ipv6Gateway ?? "",
    MacAddress: first?.mac ?? "",
    Ports: portsObject(live?.ports ?? []),
    Networks: networks,
  };
}

/** `box port` lines, optionally only for `filter` (`80` or `80/tcp`). */
export function portLines(stateDir: string, filter?: string): string[] {
  const n = readContainerNetwork(networkFileOf(stateDir));
  if (!n || (n.mode === "bridge" && n.attachments.length === 0)) return [];
  const lines = describePorts(n.ports);
  if (!filter) return lines;
  const key = filter.includes("/") ? filter : `${filter}/tcp`;
  return lines.filter((l) => l.startsWith(`${key} `)).map((l) => l.slice(l.indexOf("-> ") + 3));
}
