/**
 * Who serves a published port on IPv6: the kernel's DNAT (firewall.ts) or the userland proxy
 * (proxy.ts), for containers with and without IPv6; what `box port` says about it; and the bind
 * probe against real listeners on this namespace's loopback.
 */
import { expect, test } from "bun:test";
import { portElements } from "../../../core/network/firewall.ts";
import type { PortMapping } from "../../../core/network/pool.ts";
import { allocatePorts, describePorts } from "../../../core/network/ports.ts";
import { proxyPorts } from "../../../core/network/proxy.ts";

const port = (hostIp: string, hostPort = 8080, proto: "tcp" | "udp" = "tcp"): PortMapping => ({ hostIp, hostPort, containerPort: 80, proto });

test("a container without IPv6: the proxy listens on [::] for a port on every address, and on an IPv6 address given with -p", () => {
  const ports = [port(""), port("::1", 8081), port("2001:db8::5", 8082), port("127.0.0.1", 8083), port("", 5353, "udp")];
  expect(proxyPorts(ports, false)).toEqual([port("::"), port("::1", 8081), port("2001:db8::5", 8082), port("::", 5353, "udp")]);
  // Nothing of these goes to an IPv6 DNAT: there is no IPv6 address to send it to.
  expect(ports.flatMap((p) => portElements(p, "10.78.0.2")).map(([map]) => map)).toEqual(["dnat4", "dnat4addr", "dnat4"]);
});

test("a container with IPv6 keeps the DNAT for every IPv6 destination but ::1, which alone goes to the proxy", () => {
  const ports = [port(""), port("::1", 8081), port("2001:db8::5", 8082)];
  expect(proxyPorts(ports, true)).toEqual([port("::1"), port("::1", 8081)]);
  const elems = ports.flatMap((p) => portElements(p, "172.17.0.2", "fd00:88::2"));
  expect(elems).toEqual([
    ["dnat4", "tcp . 8080", "172.17.0.2 . 80"],
    ["dnat6", "tcp . 8080", "fd00:88::2 . 80"],
    ["dnat6addr", "2001:db8::5 . tcp . 8082", "fd00:88::2 . 80"],
  ]);
});

test("box port prints 0.0.0.0 and [::] for a port on every address, and the one address otherwise", () => {
  expect(describePorts([port(""), port("::1", 8081), port("2001:db8::5", 8082), port("127.0.0.1", 8083, "udp")])).toEqual([
    "80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080", "80/tcp -> [::1]:8081", "80/tcp -> [2001:db8::5]:8082", "80/udp -> 127.0.0.1:8083",
  ]);
});

test("the bind probe: a port held on ::1 alone refuses a port on every address; an address not on this host is named as such", async () => {
  const held = Bun.listen({ hostname: "::1", port: 0, socket: { data() {} } });
  try {
    await expect(allocatePorts([{ hostIp: "", hostPort: held.port, containerPort: 80, proto: "tcp" }], [])).rejects.toThrow(`host port ${held.port}/tcp is already allocated`);
    // IPv4's 127.0.0.1 is another address: not held.
    expect(await allocatePorts([{ hostIp: "127.0.0.1", hostPort: held.port, containerPort: 80, proto: "tcp" }], [])).toEqual([port("127.0.0.1", held.port)]);
  } finally {
    held.stop(true);
  }
  // Another container's port on one IPv6 address clashes with this one on all of them.
  await expect(allocatePorts([{ hostIp: "", hostPort: 8080, containerPort: 80, proto: "tcp" }], [port("2001:db8::5")])).rejects.toThrow("host port 8080/tcp is already allocated");
  await expect(allocatePorts([{ hostIp: "2001:db8:99::1", hostPort: 8080, containerPort: 80, proto: "udp" }], [])).rejects.toThrow("-p [2001:db8:99::1]:8080:80: 2001:db8:99::1 is not an address of this host");
});
