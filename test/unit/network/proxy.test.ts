/**
 * The port proxy, run in this process against real sockets on loopback: TCP and UDP on [::]
 * (reached through ::1), TCP with a half-closing server and a bulk upload, UDP with request and
 * reply, IPv4 left free beside the [::] listeners, a taken port, a bad spec.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createSocket } from "node:dgram";
import { connect, createServer, type Server } from "node:net";
import { runProxy } from "../../../core/network/proxy-server.ts";

let tcpServer: Server;
let udpEcho: { port: number; close(): void };
let tcpPort = 0;
const stop = new AbortController();
const said: string[] = [];
let proxyDone: Promise<number>;
let proxyTcp = 0;
let proxyUdp = 0;

beforeAll(async () => {
  // A server like `nc -l | wc -c`: it counts what it receives until the client's FIN, answers
  // the count, and shuts its own side down.
  tcpServer = createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on("data", (d) => {
      n += d.length;
    });
    s.on("end", () => s.end(`${n}\n`));
  });
  await new Promise<void>((r) => tcpServer.listen(0, "127.0.0.1", r));
  tcpPort = (tcpServer.address() as { port: number }).port;
  udpEcho = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data: (s, buf, port, addr) => void s.send(Buffer.concat([Buffer.from("echo:"), buf]), port, addr) } });
  // Free ports on ::1 for the proxy: the kernel picks them, then they are released.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "::1", r));
  proxyTcp = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  proxyUdp = proxyTcp;
  const spec = { pid: process.pid, target: "127.0.0.1", ports: [
    { hostIp: "::", hostPort: proxyTcp, containerPort: tcpPort, proto: "tcp" },
    { hostIp: "::", hostPort: proxyUdp, containerPort: udpEcho.port, proto: "udp" },
  ] };
  proxyDone = runProxy(JSON.stringify(spec), (l) => said.push(l), stop.signal);
  for (let i = 0; i < 100 && said.length === 0; i++) await Bun.sleep(10);
});

afterAll(async () => {
  stop.abort();
  expect(await proxyDone).toBe(0);
  tcpServer.close();
  udpEcho.close();
});

test("the proxy says it is ready once it listens", () => {
  expect(said).toEqual(["ready"]);
});

test("TCP through the [::] listener: an 8 MB upload arrives whole and the half-closing server's answer comes back", async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    let text = "";
    const s = connect({ host: "::1", port: proxyTcp, allowHalfOpen: true }, () => {
      s.write(Buffer.alloc(8_000_000));
      s.end();
    });
    s.on("data", (d) => {
      text += d.toString();
    });
    s.on("end", () => resolve(text));
    s.on("error", reject);
  });
  expect(answer).toBe("8000000\n");
});

test("UDP through the [::] listener, sent to ::1: a datagram goes to the target and its reply comes back to the sender", async () => {
  const client = createSocket("udp6");
  const reply = new Promise<string>((resolve) => client.once("message", (m) => resolve(m.toString())));
  client.send("ping", proxyUdp, "::1");
  expect(await Promise.race([reply, Bun.sleep(2000).then(() => "timeout")])).toBe("echo:ping");
  client.close();
});

test("the [::] listeners are IPv6 only: the port stays free on IPv4 addresses, which the kernel's DNAT serves", async () => {
  const v4 = Bun.listen({ hostname: "127.0.0.1", port: proxyTcp, socket: { data() {} } });
  expect(v4.port).toBe(proxyTcp);
  v4.stop(true);
  const u4 = await Bun.udpSocket({ hostname: "127.0.0.1", port: proxyUdp });
  expect(u4.port).toBe(proxyUdp);
  u4.close();
});

test("a port already taken, an IPv4 or empty listen address and a damaged spec are reported on the first line, with a status", async () => {
  const lines: string[] = [];
  const spec = (hostIp: string) => JSON.stringify({ pid: process.pid, target: "127.0.0.1", ports: [{ hostIp, hostPort: proxyTcp, containerPort: 1, proto: "tcp" }] });
  expect(await runProxy(spec("::1"), (l) => lines.push(l))).toBe(1);
  expect(await runProxy(spec(""), (l) => lines.push(l))).toBe(2);
  expect(await runProxy(spec("127.0.0.1"), (l) => lines.push(l))).toBe(2);
  expect(await runProxy("{\"pid\":\"x\"}", (l) => lines.push(l))).toBe(2);
  expect(lines[0]).toBe(`listen [::1]:${proxyTcp}/tcp: EADDRINUSE`);
  expect(lines[1]).toContain("not an IPv6 address");
  expect(lines[2]).toContain("not an IPv6 address");
  expect(lines[3]).toStartWith("invalid proxy spec:");
});
