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
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, createServer, type Server, type Socket as NetSocket } from "node:net";
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import { isProcessState } from "../state/containers.ts";
import { PortMappingSchema, type PortMapping } from "./pool.ts";

export const LOOPBACK6 = "::1";

const ProxySpecSchema = v.object({
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

/** Copy `from` into `to`, reading no faster than `to` drains. */
function forward(from: NetSocket, to: NetSocket): void {
  from.on("data", (chunk) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on("drain", () => from.resume());
  from.on("end", () => to.end());
}

/**
 * Half-open connections are kept (a FIN is passed on, the other direction goes on): a client
 * like `nc` that shuts down its sending side still gets its answer, and a server that does so
 * still gets the rest of the upload.
 */
function relayTcp(p: PortMapping, target: string): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ host: target, port: p.containerPort, allowHalfOpen: true });
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: LOOPBACK6, port: p.hostPort, ipv6Only: true }, () => resolve(server));
  });
}

/** One upstream socket per client address and port, as docker-proxy's UDP side; idle ones close after a minute. */
function relayUdp(p: PortMapping, target: string): Promise<{ close(): void }> {
  const listener = createSocket({ type: "udp6", ipv6Only: true });
  const peers = new Map<string, { sock: UdpSocket; used: number; ready: Promise<void> }>();
  const family = target.includes(":") ? "udp6" : "udp4";
  listener.on("message", (msg, from) => {
    const key = `${from.address}|${from.port}`;
    let peer = peers.get(key);
    if (!peer) {
      const sock = createSocket(family);
      sock.on("message", (reply) => listener.send(reply, from.port, from.address));
      sock.on("error", () => sock.close());
      const ready = new Promise<void>((resolve) => sock.connect(p.containerPort, target, resolve));
      peer = { sock, used: Date.now(), ready };
      peers.set(key, peer);
    }
    peer.used = Date.now();
    const s = peer.sock;
    void peer.ready.then(() => s.send(msg));
  });
  const sweep = setInterval(() => {
    for (const [key, peer] of peers) {
      if (Date.now() - peer.used > 60_000) {
        peer.sock.close();
        peers.delete(key);
      }
    }
  }, 10_000);
  sweep.unref();
  const close = () => {
    clearInterval(sweep);
    for (const peer of peers.values()) peer.sock.close();
    listener.close();
  };
  return new Promise((resolve, reject) => {
    listener.once("error", reject);
    listener.bind({ address: LOOPBACK6, port: p.hostPort }, () => resolve({ close }));
  });
}

/**
 * The proxy process itself: listen on every port, say "ready", relay until the container is gone,
 * SIGTERM comes or `stop` is aborted; resolves with the exit status.
 */
export async function runProxy(specJson: string, say: (line: string) => void, stop?: AbortSignal): Promise<number> {
  let spec: ProxySpec;
  try {
    spec = v.parse(ProxySpecSchema, JSON.parse(specJson));
  } catch (e) {
    say(`invalid proxy spec: ${(e as Error).message}`);
    return 2;
  }
  const listeners: { close(): unknown }[] = [];
  const closeAll = () => {
    for (const l of listeners) l.close();
  };
  try {
    for (const p of spec.ports) listeners.push(p.proto === "tcp" ? await relayTcp(p, spec.target) : await relayUdp(p, spec.target));
  } catch (e) {
    closeAll();
    say(`listen: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return 1;
  }
  say("ready");
  return await new Promise<number>((resolve) => {
    const done = () => {
      clearInterval(watch);
      closeAll();
      resolve(0);
    };
    const watch = setInterval(() => {
      if (!isProcessState(spec.pid, spec.startTime)) done();
    }, 500);
    process.once("SIGTERM", done);
    stop?.addEventListener("abort", done);
  });
}
