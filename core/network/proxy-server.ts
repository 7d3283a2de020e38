/**
 * The port proxy's own process (`box network _proxy SPEC`): listens on the IPv6 addresses of its
 * spec (::1, ::, or one given with -p; IPv6 only, so IPv4 stays with the kernel's DNAT) and relays
 * each TCP connection and UDP peer to the container (see proxy.ts for why it exists).
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, createServer, type Server, type Socket as NetSocket } from "node:net";
import * as v from "valibot";
import { isProcessState } from "../state/containers.ts";
import type { PortMapping } from "./pool.ts";
import { listenerName, ProxySpecSchema, type ProxySpec } from "./proxy.ts";

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
    server.listen({ host: p.hostIp, port: p.hostPort, ipv6Only: true }, () => resolve(server));
  });
}

/**
 * One upstream socket per client address and port, as docker-proxy's UDP side; idle ones close
 * after a minute. A reply leaves from the address the kernel picks for the client, which on [::]
 * may differ from the one the client sent to (docker-proxy's limitation too: node:dgram offers
 * no IPV6_PKTINFO).
 */
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
    listener.bind({ address: p.hostIp, port: p.hostPort }, () => resolve({ close }));
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
  for (const p of spec.ports) {
    try {
      listeners.push(p.proto === "tcp" ? await relayTcp(p, spec.target) : await relayUdp(p, spec.target));
    } catch (e) {
      closeAll();
      say(`listen ${listenerName(p)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return 1;
    }
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
