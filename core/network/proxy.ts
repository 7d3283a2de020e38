/**
 * A userland proxy for published ports on the host's IPv6 loopback, as docker-proxy is.
 *
 * IPv4 reaches a container from 127.0.0.1 through the kernel (DNAT plus route_localnet), but
 * IPv6 has no route_localnet: a connection from ::1 DNAT'd to a container can be masqueraded on
 * the way out, yet the reply, de-NAT'd back to ::1 in prerouting, arrives on the bridge, and the
 * kernel looks loopback destinations up strictly by the incoming device and drops it (RFC 4291
 * 2.5.3; measured: SYN-ACKs counted in prerouting, never in input). So [::1]:PORT is left out of
 * the NAT and served by this process instead: it listens on ::1 and relays each TCP connection
 * and UDP peer to the container's address. It runs detached, one per container with such ports,
 * is stopped at teardown, and exits by itself once the container's process is gone (kill -9).
 * The relaying itself is proxy-server.ts, loaded only by the proxy process: node:net and
 * node:dgram cost every `box run` a few milliseconds to load.
 */
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import { PortMappingSchema, type PortMapping } from "./pool.ts";

export const LOOPBACK6 = "::1";

export const ProxySpecSchema = v.object({
  /** The container's first process: the proxy ends with it. */
  pid: v.number(),
  startTime: v.optional(v.string()),
  /** Where connections go: the container's IPv4 address if it has one (docker-proxy's choice), else IPv6. */
  target: v.string(),
  ports: v.array(PortMappingSchema),
});
export type ProxySpec = v.InferOutput<typeof ProxySpecSchema>;

/** The published ports that need the proxy: those on every host address, and those on ::1. */
export function loopback6Ports(ports: PortMapping[]): PortMapping[] {
  return ports.filter((p) => p.hostIp === "" || p.hostIp === LOOPBACK6);
}

/** How to run this same executable (or, in a checkout, bun with this entry script). */
function self(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs") || Bun.main.startsWith("B:/~BUN");
  return compiled ? [process.execPath] : [process.execPath, Bun.main];
}

/**
 * Start the proxy and wait until it listens (its first line says so, or says why not); returns
 * its pid. It is in a session of its own, so box's exit or a terminal's hangup leaves it running.
 */
export async function startProxy(spec: ProxySpec): Promise<number> {
  const proc = Bun.spawn([...self(), "network", "_proxy", JSON.stringify(spec)], { stdin: "ignore", stdout: "pipe", stderr: "ignore", detached: true });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  proc.unref();
  const line = text.split("\n")[0] ?? "";
  if (line !== "ready") {
    if (proc.exitCode === null) proc.kill();
    throw new BoxError("E_SYSCALL", `port proxy for [::1]: ${line || `exited with status ${await proc.exited}`}`, { hint: "publish on 127.0.0.1 only (-p 127.0.0.1:HOST:CONTAINER), or free the port on ::1" });
  }
  return proc.pid;
}
