import { expect, test } from "bun:test";
import { contains, formatAddress, formatCidr, mustParseCidr, overlaps, parseAddress, parseCidr } from "../../../core/network/ip.ts";
import { parsePublish } from "../../../core/network/ports.ts";
import { pastaPortSpec } from "../../../core/network/rootless.ts";
import { hostsFile, parseAddHost } from "../../../core/runtime/etc.ts";

test("addresses parse and format in both families (RFC 5952 compression)", () => {
  for (const a of ["10.88.0.2", "fd00:88::2", "fe80::1", "::1", "::", "2001:db8:0:1:1:1:1:1", "fd00::1:0:0:1"]) {
    expect(formatAddress(parseAddress(a)!)).toBe(a);
  }
  expect(formatAddress(parseAddress("FD00:0088:0000::0002")!)).toBe("fd00:88::2");
  expect(formatAddress(parseAddress("::ffff:10.0.0.1")!)).toBe("::ffff:a00:1");
  for (const bad of ["10.88.0.256", "10.88.0", "01.2.3.4", "fd00:::1", "1::2::3", "gggg::1", "1:2:3:4:5:6:7:8:9"]) {
    expect(parseAddress(bad)).toBeUndefined();
  }
});

test("subnets: host bits cleared, containment, overlap, bad input", () => {
  expect(formatCidr(parseCidr("10.88.3.7/16")!)).toBe("10.88.0.0/16");
  expect(overlaps(mustParseCidr("10.88.0.0/16", "t"), mustParseCidr("10.88.5.0/24", "t"))).toBe(true);
  expect(overlaps(mustParseCidr("10.88.0.0/16", "t"), mustParseCidr("10.89.0.0/24", "t"))).toBe(false);
  expect(overlaps(mustParseCidr("fd00:88::/64", "t"), mustParseCidr("10.88.0.0/16", "t"))).toBe(false);
  expect(contains(mustParseCidr("fd00:88::/64", "t"), parseAddress("fd00:88::ffff")!)).toBe(true);
  expect(parseCidr("10.0.0.0/33")).toBeUndefined();
  expect(() => mustParseCidr("nope", "--subnet")).toThrow("--subnet: invalid CIDR `nope`");
});

test("-p: docker's grammar", () => {
  expect(parsePublish("8080:80")).toEqual([{ hostIp: "", hostPort: 8080, containerPort: 80, proto: "tcp" }]);
  expect(parsePublish("127.0.0.1:8080:80/udp")).toEqual([{ hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, proto: "udp" }]);
  expect(parsePublish("[::1]:8080:80")).toEqual([{ hostIp: "::1", hostPort: 8080, containerPort: 80, proto: "tcp" }]);
  expect(parsePublish("80")).toEqual([{ hostIp: "", hostPort: 0, containerPort: 80, proto: "tcp" }]);
  expect(parsePublish("127.0.0.1::80")[0]?.hostPort).toBe(0);
  expect(parsePublish("8000-8001:80-81").map((p) => `${p.hostPort}:${p.containerPort}`)).toEqual(["8000:80", "8001:81"]);
  expect(() => parsePublish("8000-8002:80-81")).toThrow("ranges differ");
  expect(() => parsePublish("80/sctp")).toThrow("unsupported protocol");
  expect(pastaPortSpec(parsePublish("127.0.0.1:8080:80"), "tcp")).toBe("127.0.0.1/8080:80");
  expect(pastaPortSpec([], "udp")).toBe("none");
});

test("/etc/hosts: own addresses replace 127.0.1.1; --add-host", () => {
  const text = hostsFile("web", "none", undefined, [{ ip: "10.88.0.2", names: ["web", "web"] }, parseAddHost("db:10.89.0.5")]);
  expect(text).toContain("10.88.0.2\tweb\n10.89.0.5\tdb\n");
  expect(text).not.toContain("127.0.1.1");
  expect(hostsFile("web", "none")).toContain("127.0.1.1\tweb\n");
  expect(parseAddHost("v6:[fd00::5]")).toEqual({ ip: "fd00::5", names: ["v6"] });
  expect(() => parseAddHost("nocolon")).toThrow("--add-host: invalid entry");
});
