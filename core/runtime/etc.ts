/**
 * The three files every container gets from its engine rather than its image: /etc/hostname,
 * /etc/hosts and /etc/resolv.conf. They are written on the host and bind-mounted, as docker does.
 */
import { readFileSync } from "node:fs";
import { BoxError } from "../errors.ts";
import type { NetworkMode } from "./spec.ts";

/** One line of /etc/hosts: an address and the names it answers to. */
export interface HostsEntry {
  ip: string;
  names: string[];
}

/**
 * /etc/hosts: the host's own with --network host; otherwise loopback, then `entries` (the
 * container's own addresses with its names, its peers on the same networks, --add-host). Without
 * an address of its own the hostname resolves to 127.0.1.1, as on Debian.
 */
export function hostsFile(hostname: string, network: NetworkMode, hostHosts?: string, entries: HostsEntry[] = []): string {
  const extra = entries.filter((e) => e.names.length > 0).map((e) => `${e.ip}\t${[...new Set(e.names)].join(" ")}`);
  if (network === "host") {
    try {
      const text = hostHosts ?? readFileSync("/etc/hosts", "utf8");
      return extra.length === 0 ? text : `${text.trimEnd()}\n${extra.join("\n")}\n`;
    } catch {
      // fall through to the minimal file
    }
  }
  const ownAddress = entries.some((e) => e.names.includes(hostname));
  return [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    ...(ownAddress ? [] : [`127.0.1.1\t${hostname}`]),
    ...extra,
    "",
  ].join("\n");
}

/** `--add-host name:ip` (also `name=ip`, and bracketed or bare IPv6 after the first colon). */
export function parseAddHost(spec: string): HostsEntry {
  const m = /^([^:=\s]+)[:=]\[?([0-9a-fA-F.:]+)\]?$/.exec(spec);
  if (!m) {
    throw new BoxError("E_INVALID_INPUT", `--add-host: invalid entry \`${spec}\``, { hint: "use --add-host NAME:IP, e.g. --add-host db:10.89.0.5" });
  }
  return { ip: m[2] as string, names: [m[1] as string] };
}

/**
 * The host's resolv.conf; in a private network namespace the host's loopback resolvers
 * (systemd-resolved's 127.0.0.53, a local dnsmasq) are unreachable, so they are dropped.
 */
export function resolvConf(network: NetworkMode, dns: string[], hostText?: string): string {
  let text = hostText;
  if (text === undefined) {
    try {
      text = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      text = "";
    }
  }
  let lines = text.split("\n");
  if (network !== "host") {
    lines = lines.filter((l) => {
      const m = /^\s*nameserver\s+(\S+)/.exec(l);
      return !m || !(m[1]?.startsWith("127.") || m[1] === "::1");
    });
  }
  while (lines.length > 0 && (lines[lines.length - 1] as string).trim() === "") lines.pop();
  if (dns.length > 0) {
    lines = lines.filter((l) => !/^\s*nameserver\s/.test(l));
    lines.push(...dns.map((d) => `nameserver ${d}`));
  } else if (network !== "host" && !lines.some((l) => /^\s*nameserver\s/.test(l))) {
    // Only loopback resolvers (systemd-resolved's 127.0.0.53), or none: docker's fallback,
    // public resolvers a container reaches through the NAT.
    lines.push("nameserver 8.8.8.8", "nameserver 8.8.4.4");
  }
  return `${lines.filter((l, i, a) => l !== "" || i < a.length - 1).join("\n").trimEnd()}\n`;
}
