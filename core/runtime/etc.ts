/**
 * The three files every container gets from its engine rather than its image: /etc/hostname,
 * /etc/hosts and /etc/resolv.conf. They are written on the host and bind-mounted, as docker does.
 */
import { readFileSync } from "node:fs";
import type { NetworkMode } from "./spec.ts";

export function hostsFile(hostname: string, network: NetworkMode, hostHosts?: string): string {
  if (network === "host") {
    try {
      return hostHosts ?? readFileSync("/etc/hosts", "utf8");
    } catch {
      // fall through to the minimal file
    }
  }
  return [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    `127.0.1.1\t${hostname}`,
    "",
  ].join("\n");
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
  if (dns.length > 0) {
    lines = lines.filter((l) => !/^\s*nameserver\s/.test(l));
    lines.push(...dns.map((d) => `nameserver ${d}`));
  }
  return `${lines.filter((l, i, a) => l !== "" || i < a.length - 1).join("\n").trimEnd()}\n`;
}
