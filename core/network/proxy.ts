/**
 * A userland proxy for published ports the kernel's NAT cannot serve, as docker-proxy is.
 *
 * IPv4 reaches a container from 127.0.0.1 through the kernel (DNAT plus route_localnet), but
 * IPv6 has no route_localnet: a connection from ::1 DNAT'd to a container can be masqueraded on
 * the way out, yet the reply, de-NAT'd back to ::1 in prerouting, arrives on the bridge, and the
 * kernel looks loopback destinations up strictly by the incoming device and drops it (RFC 4291
 * 2.5.3; measured: SYN-ACKs counted in prerouting, never in input). So [::1]:PORT is left out of
 * the NAT and served by this process instead. A container without IPv6 has nothing an IPv6
 * DNAT could point at, so for it the proxy serves every IPv6 address, as docker-proxy does: it
 * listens on [::] (IPv6 only; IPv4 stays with the DNAT) or on the IPv6 address given with -p.
 * It relays each TCP connection and UDP peer to the container's address, runs detached, one per
 * container with such ports, is stopped at teardown, and exits by itself once the container's
 * process is gone (kill -9). The relaying itself is proxy-server.ts, loaded only by the proxy
 * process: node:net and node:dgram cost every `box run` a few milliseconds to load.
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import { isProcessState } from "../state/containers.ts";
import { parseAddress } from "./ip.ts";
import { PortMappingSchema, type PortMapping } from "./pool.ts";

export const LOOPBACK6 = "::1";
export const ANY6 = "::";

const IPv6Schema = v.pipe(v.string(), v.check((s) => parseAddress(s)?.family === 6, "not an IPv6 address"));

export const ProxySpecSchema = v.object({
  /** The container's first process: the proxy ends with it. */
  pid: v.number(),
  startTime: v.optional(v.string()),
  /** Where connections go: the container's IPv4 address if it has one (docker-proxy's choice), else IPv6. */
  target: v.string(),
  /** hostIp is the IPv6 address the proxy listens on (`::` for all of them). */
  ports: v.array(v.object({ ...PortMappingSchema.entries, hostIp: IPv6Schema })),
});
export type ProxySpec = v.InferOutput<typeof ProxySpecSchema>;

/**
 * The published ports the proxy serves, each with the address it listens on as hostIp.
 * `containerHasIPv6`: its IPv6 address is DNAT'd from every IPv6 destination but ::1 (firewall.ts),
 * so the proxy takes ::1 alone. Without IPv6 the proxy is the only way in over IPv6: `[::]` for
 * ports on every address, and any IPv6 address given explicitly.
 */
export function proxyPorts(ports: PortMapping[], containerHasIPv6: boolean): PortMapping[] {
  const out: PortMapping[] = [];
  for (const p of ports) {
    if (p.hostIp === "") out.push({ ...p, hostIp: containerHasIPv6 ? LOOPBACK6 : ANY6 });
    else if (p.hostIp === LOOPBACK6 || (!containerHasIPv6 && p.hostIp.includes(":"))) out.push({ ...p });
  }
  return out;
}

/** `[::]:8080/tcp`, as the proxy's messages name a listener. */
export function listenerName(p: { hostIp: string; hostPort: number; proto: string }): string {
  return `[${p.hostIp}]:${p.hostPort}/${p.proto}`;
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
    throw new BoxError("E_SYSCALL", `port proxy: ${line || `exited with status ${await proc.exited}`}`, {
      hint: "free the port on that IPv6 address, or publish on an IPv4 address only (e.g. -p 127.0.0.1:HOST:CONTAINER)",
    });
  }
  return proc.pid;
}

/**
 * Whether the process may still hold its sockets. A zombie leader is not enough: its other
 * threads exit after it and hold the file table until the last one is gone (measured: the port
 * still bound with `State: Z`, `Threads: 2`); a zombie with one thread left holds nothing.
 */
function holdsSockets(pid: number, startTime: string | undefined): boolean {
  if (!isProcessState(pid, startTime)) return false;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return !/^State:\s+Z/m.test(status) || !/^Threads:\s+1$/m.test(status);
  } catch {
    return false;
  }
}

/**
 * Stop the proxy and wait until it has exited, which closes its listeners: a port freed by `rm`
 * is free for the next `run` (whose bind probe would otherwise meet the proxy still closing).
 */
export function stopProxy(pid: number, startTime: string | undefined): void {
  for (const [signal, waits] of [["SIGTERM", 500], ["SIGKILL", 250]] as const) {
    if (!holdsSockets(pid, startTime)) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    for (let i = 0; i < waits && holdsSockets(pid, startTime); i++) Bun.sleepSync(2);
  }
}
