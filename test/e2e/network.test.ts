/**
 * Networking end to end. Every box here runs inside a network namespace this file creates
 * (`ip netns add boxtest-...`), so box0, the veths, the nft table and the forwarding switches
 * live and die with it: nothing touches the host's own interfaces, and all traffic stays on that
 * namespace's loopback and bridges.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { commandFor, makeEnv, type BoxEnv, type Result } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

const haveIp = Bun.which("ip") !== null && Bun.which("nft") !== null;

function netnsName(): string {
  return `boxtest-${Math.random().toString(16).slice(2, 10)}`;
}

function sh(cmd: string[]): Result {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Run `cmd` inside the test's namespace. */
async function inNs(ns: string, cmd: string[], env: Record<string, string> = {}): Promise<Result> {
  const proc = Bun.spawn(["ip", "netns", "exec", ns, ...cmd], { stdout: "pipe", stderr: "pipe", env: { ...process.env, BOX_DEBUG: "", ...env } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

interface Ctx {
  ns: string;
  env: BoxEnv;
  config: string;
  box(args: string[]): Promise<Result>;
}

function setup(kind: "root" | "rootless"): Ctx {
  const ns = netnsName();
  const env = makeEnv(kind);
  const config = join(env.root, "..", "config");
  mkdirSync(config, { recursive: true });
  const ctx: Ctx = { ns, env, config, box: (args) => inNs(ns, commandFor(env, args), { BOX_CONFIG: config }) };
  return ctx;
}

async function until(fn: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await fn()) return true;
    await Bun.sleep(30);
  }
  return false;
}

const HTTPD = "mkdir -p /w && echo hello-from-$(hostname) > /w/index.html && exec httpd -f -p 8080 -h /w";

describe.skipIf(!can.root || !haveIp)(`bridge networks (root, in a private network namespace)${!can.root || !haveIp ? " (skipped: needs root, ip and nft)" : ""}`, () => {
  let c: Ctx;
  beforeAll(async () => {
    c = setup("root");
    expect(sh(["ip", "netns", "add", c.ns]).code).toBe(0);
    sh(["ip", "-n", c.ns, "link", "set", "lo", "up"]);
    writeFileSync(join(c.config, "config.json"), JSON.stringify({ ipv6: true, fixedCidrV6: "fd00:88::/64" }));
    expect((await c.box(["pull", "-q", "base"])).code).toBe(0);
  });
  afterAll(async () => {
    const all = await c.box(["ps", "-aq", "--no-trunc"]);
    for (const id of all.stdout.split("\n").filter(Boolean)) await c.box(["rm", "-f", id]);
    sh(["ip", "netns", "del", c.ns]);
    c.env.dispose();
  });

  test("two containers on the default bridge reach each other over IPv4 and IPv6, by address and by name", async () => {
    expect((await c.box(["run", "-d", "--name", "alpha", "--hostname", "alpha", "base", "sh", "-c", HTTPD])).code).toBe(0);
    expect((await c.box(["run", "-d", "--name", "beta", "--hostname", "beta", "base", "sh", "-c", HTTPD])).code).toBe(0);
    const fmt = "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.GlobalIPv6Address}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.IPv6Gateway}} {{.NetworkSettings.MacAddress}}";
    const a = (await c.box(["inspect", "--format", fmt, "alpha"])).stdout.trim().split(" ");
    const b = (await c.box(["inspect", "--format", fmt, "beta"])).stdout.trim().split(" ");
    expect(a[0]).toMatch(/^172\.17\.0\.\d+$/);
    expect(a[1]).toMatch(/^fd00:88::[0-9a-f]+$/);
    expect(a[2]).toBe("172.17.0.1");
    expect(a[3]).toBe("fe80::1");
    expect(a[4]).toMatch(/^02:42:ac:11:00:[0-9a-f]{2}$/);
    expect(b[0]).not.toBe(a[0]);
    const nets = JSON.parse((await c.box(["inspect", "--format", "{{json .NetworkSettings.Networks}}", "alpha"])).stdout) as Record<string, Record<string, unknown>>;
    expect(nets).toEqual({ box: { NetworkID: "box0", Gateway: "172.17.0.1", IPAddress: a[0], IPPrefixLen: 16, IPv6Gateway: "fe80::1", GlobalIPv6Address: a[1], GlobalIPv6PrefixLen: 64, MacAddress: a[4] } });
    // The bridge holds fe80::1/64, and the containers route IPv6 through it.
    expect(sh(["ip", "-n", c.ns, "-6", "addr", "show", "dev", "box0"]).stdout).toContain("inet6 fe80::1/64");
    const script = [
      `wget -qO- http://${b[0]}:8080/`, `wget -qO- http://[${b[1]}]:8080/`, "wget -qO- http://beta:8080/",
      `ping -c1 -W2 ${b[0]} >/dev/null && echo ping4`, `ping -c1 -W2 ${b[1]} >/dev/null && echo ping6`, "ping -c1 -W2 beta >/dev/null && echo pingname",
      "ip -6 route show default",
    ].join("; ");
    const r = await c.box(["exec", "alpha", "sh", "-c", script]);
    expect(r.stdout).toContain("hello-from-beta\nhello-from-beta\nhello-from-beta\nping4\nping6\npingname\ndefault via fe80::1 dev eth0");
    // beta started after alpha: its name reached alpha's /etc/hosts when it joined, and back.
    const back = await c.box(["exec", "beta", "sh", "-c", "wget -qO- http://alpha:8080/; grep -c alpha /etc/hosts"]);
    expect(back.stdout).toBe("hello-from-alpha\n2\n");
    await c.box(["rm", "-f", "alpha", "beta"]);
  });

  test("a published port answers from the host's loopback over IPv4 and IPv6 ([::1] through box's proxy) and on the bridge's IPv6 address; nft entries and the proxy go with rm", async () => {
    expect((await c.box(["run", "-d", "--name", "pub", "-p", "18080:8080", "base", "sh", "-c", HTTPD])).code).toBe(0);
    expect((await c.box(["port", "pub"])).stdout).toBe("8080/tcp -> 0.0.0.0:18080\n8080/tcp -> [::]:18080\n");
    expect((await c.box(["inspect", "--format", "{{json .NetworkSettings.Ports}}", "pub"])).stdout.trim()).toBe('{"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"18080"},{"HostIp":"::","HostPort":"18080"}]}');
    expect(await until(async () => (await inNs(c.ns, ["curl", "-s", "-m", "2", "http://127.0.0.1:18080/"])).stdout.startsWith("hello-from-"))).toBe(true);
    expect((await inNs(c.ns, ["curl", "-s", "-m", "2", "http://[fd00:88::1]:18080/"])).stdout).toStartWith("hello-from-");
    expect((await inNs(c.ns, ["curl", "-s", "-m", "2", "http://[::1]:18080/"])).stdout).toStartWith("hello-from-");
    // A container with IPv6 is DNAT'd from every other IPv6 address: the proxy holds ::1 alone.
    expect((await inNs(c.ns, ["ss", "-Htln", "sport = :18080"])).stdout.trim().split(/\s+/)[3]).toBe("[::1]:18080");
    // A host port another container holds is refused, with the way out.
    const taken = await c.box(["run", "--rm", "-p", "18080:80", "base", "true"]);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toBe("box: host port 18080/tcp is already allocated; publish on another host port, e.g. -p 8081:80, or stop what holds it\n");
    expect(sh(["ip", "netns", "exec", c.ns, "nft", "list", "map", "inet", "box", "dnat4"]).stdout).toContain("tcp . 18080 : 172.17.0.");
    expect((await c.box(["rm", "-f", "pub"])).code).toBe(0);
    const after = sh(["ip", "netns", "exec", c.ns, "nft", "list", "table", "inet", "box"]).stdout;
    expect(after).not.toContain("18080");
    expect((await inNs(c.ns, ["curl", "-s", "-m", "1", "http://127.0.0.1:18080/"])).stdout).toBe("");
    expect((await inNs(c.ns, ["curl", "-s", "-m", "1", "http://[::1]:18080/"])).stdout).toBe("");
    expect(sh(["pgrep", "-f", "network _proxy .*18080"]).stdout).toBe("");
  });

  test("the [::1] proxy relays a bulk upload whole to a server that half-closes (nc)", async () => {
    expect((await c.box(["run", "-d", "--name", "bulk", "-p", "18097:5201", "base", "sh", "-c", "nc -l -p 5201 | wc -c"])).code).toBe(0);
    expect(await until(async () => (await inNs(c.ns, ["ss", "-Htln", "sport = :18097"])).stdout.includes("[::1]:18097"))).toBe(true);
    await Bun.sleep(200);
    const up = await inNs(c.ns, ["timeout", "10", "bash", "-c", "head -c 8000000 /dev/zero > /dev/tcp/::1/18097"]);
    expect(up.code).toBe(0);
    expect((await c.box(["wait", "bulk"])).stdout).toBe("0\n");
    expect((await c.box(["logs", "bulk"])).stdout.trim()).toBe("8000000");
    await c.box(["rm", "-f", "bulk"]);
  });

  test("a container without IPv6 answers on every IPv6 address through the proxy's [::] listener (docker-proxy's), and on an IPv6 address given with -p; all of it goes with rm", async () => {
    const addr = "2001:db8:77::1";
    expect(sh(["ip", "-n", c.ns, "addr", "add", `${addr}/64`, "dev", "lo", "nodad"]).code).toBe(0);
    expect((await c.box(["network", "create", "--subnet", "10.78.0.0/24", "v6less"])).code).toBe(0);
    const run = () => c.box(["run", "-d", "--name", "v4pub", "--network", "v6less", "-p", "18081:8080", "-p", `[${addr}]:18082:8080`, "base", "sh", "-c", HTTPD]);
    const get = async (url: string) => (await inNs(c.ns, ["curl", "-s", "-m", "2", url])).stdout;
    expect((await run()).code).toBe(0);
    expect((await c.box(["inspect", "--format", "{{.NetworkSettings.GlobalIPv6Address}}", "v4pub"])).stdout.trim()).toBe("");
    expect((await c.box(["port", "v4pub"])).stdout).toBe(`8080/tcp -> 0.0.0.0:18081\n8080/tcp -> [::]:18081\n8080/tcp -> [${addr}]:18082\n`);
    expect((await c.box(["port", "v4pub", "8080"])).stdout).toBe(`0.0.0.0:18081\n[::]:18081\n[${addr}]:18082\n`);
    expect((await c.box(["inspect", "--format", "{{json .NetworkSettings.Ports}}", "v4pub"])).stdout.trim()).toBe(
      `{"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"18081"},{"HostIp":"::","HostPort":"18081"},{"HostIp":"${addr}","HostPort":"18082"}]}`,
    );
    // The proxy holds [::] for IPv6 only; IPv4 stays with the DNAT.
    const listening = (await inNs(c.ns, ["ss", "-Htlne", "( sport = :18081 or sport = :18082 )"])).stdout;
    expect(listening).toMatch(/\[::\]:18081 .*v6only:1/);
    expect(listening).toContain(`[${addr}]:18082`);
    expect(listening).not.toMatch(/0\.0\.0\.0:1808[12]/);
    expect(await until(async () => (await get("http://127.0.0.1:18081/")).startsWith("hello-from-"))).toBe(true);
    expect(await get(`http://[${addr}]:18081/`)).toStartWith("hello-from-");
    expect(await get("http://[::1]:18081/")).toStartWith("hello-from-");
    expect(await get(`http://[${addr}]:18082/`)).toStartWith("hello-from-");
    // Port 18082 was published on that one address only.
    expect(await get("http://[::1]:18082/")).toBe("");
    expect(await get("http://127.0.0.1:18082/")).toBe("");
    // The [::] listener counts as the port's holder for the next container, on any address.
    const taken = await c.box(["run", "--rm", "-p", `[${addr}]:18081:80`, "base", "true"]);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toBe(`box: host port [${addr}]:18081/tcp is already allocated; publish on another host port, e.g. -p 8081:80, or stop what holds it\n`);
    expect((await c.box(["rm", "-f", "v4pub"])).code).toBe(0);
    expect(sh(["pgrep", "-f", "network _proxy .*1808[12]"]).stdout).toBe("");
    expect((await inNs(c.ns, ["ss", "-Htln", "( sport = :18081 or sport = :18082 )"])).stdout).toBe("");
    expect(await get(`http://[${addr}]:18081/`)).toBe("");
    // rm returned once the proxy had exited: the same ports are free at once.
    expect((await run()).code).toBe(0);
    expect(await until(async () => (await get(`http://[${addr}]:18082/`)).startsWith("hello-from-"))).toBe(true);
    expect((await c.box(["rm", "-f", "v4pub"])).code).toBe(0);
    // A host program on one IPv6 address holds the port for a container that would listen on [::].
    const web = join(c.config, "..", "hostweb");
    mkdirSync(web, { recursive: true });
    const listener = Bun.spawn(["ip", "netns", "exec", c.ns, "busybox", "httpd", "-f", "-p", `[${addr}]:18085`, "-h", web], { stdout: "ignore", stderr: "ignore" });
    try {
      expect(await until(async () => (await inNs(c.ns, ["ss", "-Htln", "sport = :18085"])).stdout.includes(`[${addr}]:18085`))).toBe(true);
      const held = await c.box(["run", "--rm", "--network", "v6less", "-p", "18085:8080", "base", "true"]);
      expect(held.code).toBe(125);
      expect(held.stderr).toStartWith("box: host port 18085/tcp is already allocated;");
    } finally {
      listener.kill();
      await listener.exited;
    }
    expect((await c.box(["network", "rm", "v6less"])).code).toBe(0);
    sh(["ip", "-n", c.ns, "addr", "del", `${addr}/64`, "dev", "lo"]);
  });

  test("-P publishes the image's EXPOSE (from box build) and --expose on free host ports; box port lists them", async () => {
    const ctx = join(c.config, "..", "expose-ctx");
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, "Dockerfile"), "FROM base\nEXPOSE 8080 5353/udp\n");
    expect((await c.box(["build", "-q", "-t", "exposer", ctx])).code).toBe(0);
    expect((await c.box(["run", "-d", "--name", "expo", "-P", "--expose", "7070", "exposer", "sh", "-c", HTTPD])).code).toBe(0);
    const lines = (await c.box(["port", "expo"])).stdout.split("\n").filter(Boolean);
    expect(lines.map((l) => l.replace(/:\d+$/, ":N"))).toEqual([
      "8080/tcp -> 0.0.0.0:N", "8080/tcp -> [::]:N", "5353/udp -> 0.0.0.0:N", "5353/udp -> [::]:N", "7070/tcp -> 0.0.0.0:N", "7070/tcp -> [::]:N",
    ]);
    const port = Number((await c.box(["port", "expo", "8080"])).stdout.split("\n")[0]?.split(":")[1]);
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(await until(async () => (await inNs(c.ns, ["curl", "-s", "-m", "2", `http://127.0.0.1:${port}/`])).stdout.startsWith("hello-from-"))).toBe(true);
    expect((await inNs(c.ns, ["curl", "-s", "-m", "2", `http://[::1]:${port}/`])).stdout).toStartWith("hello-from-");
    // Without -P the image's EXPOSE publishes nothing, as with docker.
    expect((await c.box(["run", "-d", "--name", "expo2", "exposer", "sleep", "60"])).code).toBe(0);
    expect((await c.box(["port", "expo2"])).stdout).toBe("");
    await c.box(["rm", "-f", "expo", "expo2"]);
  });

  test("a host port held by a listener on the host, or by another container, is refused and leaves nothing behind", async () => {
    const before = sh(["ip", "-n", c.ns, "-o", "link", "show", "type", "veth"]).stdout;
    const listener = Bun.spawn(["ip", "netns", "exec", c.ns, "busybox", "nc", "-l", "-p", "18095"], { stdout: "ignore", stderr: "ignore" });
    try {
      expect(await until(async () => sh(["ip", "netns", "exec", c.ns, "ss", "-Htln", "sport = :18095"]).stdout.includes("18095"))).toBe(true);
      const r = await c.box(["run", "-d", "--name", "clash", "-p", "18095:8080", "base", "sleep", "60"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toBe("box: host port 18095/tcp is already allocated; publish on another host port, e.g. -p 8081:8080, or stop what holds it\n");
    } finally {
      listener.kill();
    }
    expect((await c.box(["run", "-d", "--name", "holder", "-p", "18096:8080", "base", "sh", "-c", HTTPD])).code).toBe(0);
    const second = await c.box(["run", "-d", "--name", "clash2", "-p", "18096:8080", "base", "sleep", "60"]);
    expect(second.code).toBe(125);
    expect(second.stderr).toBe("box: host port 18096/tcp is already allocated; publish on another host port, e.g. -p 8081:8080, or stop what holds it\n");
    await c.box(["rm", "-f", "holder"]);
    // Neither failed container is kept, and nothing of theirs is left in the kernel.
    expect((await c.box(["ps", "-a", "--format", "{{.Names}}"])).stdout).not.toMatch(/clash|holder/);
    expect(sh(["ip", "-n", c.ns, "-o", "link", "show", "type", "veth"]).stdout).toBe(before);
    expect(sh(["ip", "netns", "exec", c.ns, "nft", "list", "table", "inet", "box"]).stdout).not.toMatch(/1809[56]/);
    expect(sh(["pgrep", "-f", "network _proxy .*1809[56]"]).stdout).toBe("");
    // The failed runs returned their addresses: the next container gets the pool's first.
    expect((await c.box(["run", "--rm", "base", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"])).stdout.trim()).toBe("172.17.0.2/16");
  });

  test("box stats NET I/O of a bridge container grows with its traffic", async () => {
    expect((await c.box(["run", "-d", "--name", "talker", "base", "sh", "-c", `dd if=/dev/zero of=/big bs=1k count=2048 2>/dev/null; mkdir -p /w && mv /big /w/ && exec httpd -f -p 8080 -h /w`])).code).toBe(0);
    const ip = (await c.box(["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "talker"])).stdout.trim();
    const bytes = (text: string): number => {
      const m = /^([\d.]+)([kMG]?)B$/.exec(text.trim());
      if (!m) throw new Error(`unexpected size \`${text}\``);
      return Number(m[1]) * ({ "": 1, k: 1e3, M: 1e6, G: 1e9 }[m[2] as string] as number);
    };
    const netIO = async () => (await c.box(["stats", "--no-stream", "--format", "{{.NetIO}}", "talker"])).stdout.trim().split(" / ").map(bytes);
    const [, tx0] = await netIO();
    expect(tx0).toBeLessThan(100e3);
    expect(await until(async () => (await inNs(c.ns, ["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{size_download}", `http://${ip}:8080/big`])).stdout === "2097152")).toBe(true);
    const [rx1, tx1] = await netIO();
    expect(tx1).toBeGreaterThan(2e6);
    expect(rx1).toBeGreaterThan(0);
    await c.box(["rm", "-f", "talker"]);
  });

  test("addresses return to the pool: after rm, after a --rm exit, and after kill -9 of container and monitor", async () => {
    const ip = async () => (await c.box(["run", "--rm", "base", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"])).stdout.trim();
    const first = await ip();
    expect(first).toMatch(/^172\.17\.0\.\d+\/16$/);
    expect(await ip()).toBe(first);
    const d = await c.box(["run", "-d", "--name", "victim", "base", "sleep", "60"]);
    const id = d.stdout.trim();
    expect((await c.box(["inspect", "--format", "{{.NetworkSettings.IPAddress}}/16", "victim"])).stdout.trim()).toBe(first);
    expect(await ip()).not.toBe(first);
    const state = JSON.parse(readFileSync(join(c.env.runroot, "containers", id, "state.json"), "utf8")) as { pid: number; shimPid: number };
    process.kill(state.shimPid, "SIGKILL");
    process.kill(state.pid, "SIGKILL");
    await Bun.sleep(100);
    // Nobody cleaned up, yet the address is free again: its owner is dead.
    expect(await ip()).toBe(first);
    await c.box(["rm", "-f", "victim"]);
    expect(sh(["ip", "-n", c.ns, "-o", "link", "show", "type", "veth"]).stdout).toBe("");
  });

  test("--network container:NAME shares the target's network namespace, hosts and hostname; a stopped target is refused", async () => {
    expect((await c.box(["run", "-d", "--name", "host1", "--hostname", "host1", "base", "sh", "-c", HTTPD])).code).toBe(0);
    const ip = (await c.box(["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "host1"])).stdout.trim();
    const r = await c.box(["run", "--rm", "--network", "container:host1", "base", "sh", "-c", "hostname; wget -qO- http://127.0.0.1:8080/; ip -4 -o addr show eth0 | awk '{print $4}'; grep -c host1 /etc/hosts"]);
    expect(r.stdout).toBe(`host1\nhello-from-host1\n${ip}/16\n2\n`);
    expect((await c.box(["run", "-d", "--name", "guest1", "--network", "container:host1", "base", "sleep", "30"])).code).toBe(0);
    const connect = await c.box(["network", "connect", "bridge", "guest1"]);
    expect(connect.code).toBe(125);
    expect(connect.stderr).toBe("box: container guest1 uses --network container:host1 and cannot be connected to other networks; connect a container that has a network namespace of its own (bridge, none, pasta)\n");
    await c.box(["rm", "-f", "guest1"]);
    const conflict = await c.box(["run", "--rm", "--network", "container:host1", "-p", "8081:80", "base", "true"]);
    expect(conflict.code).toBe(125);
    expect(conflict.stderr).toBe("box: conflicting options: port publishing and the network mode; --network container:host1 shares that container's network: set it there, or leave it out here\n");
    expect((await c.box(["stop", "-t", "0", "host1"])).code).toBe(0);
    const stopped = await c.box(["run", "--rm", "--network", "container:host1", "base", "true"]);
    expect(stopped.code).toBe(125);
    expect(stopped.stderr).toBe("box: cannot join the network of container host1: it is not running; start it first with box start host1\n");
    await c.box(["rm", "-f", "host1"]);
  });

  test("user networks: create with IPv4 and IPv6 subnets, connect, disconnect, rm, prune", async () => {
    const created = await c.box(["network", "create", "--subnet", "10.77.0.0/24", "--gateway", "10.77.0.254", "--ipv6", "--subnet", "fd00:77::/64", "appnet"]);
    expect(created.code).toBe(0);
    expect((await c.box(["network", "ls", "--quiet"])).stdout.split("\n").filter(Boolean).length).toBe(2);
    const inspect = JSON.parse((await c.box(["network", "inspect", "appnet"])).stdout) as { IPAM: { Config: unknown[] }; EnableIPv6: boolean }[];
    expect(inspect[0]?.IPAM.Config).toEqual([{ Subnet: "10.77.0.0/24", Gateway: "10.77.0.254" }, { Subnet: "fd00:77::/64", Gateway: "fd00:77::1" }]);
    expect((await c.box(["run", "-d", "--name", "srv", "--network", "appnet", "--ip", "10.77.0.10", "base", "sh", "-c", HTTPD])).code).toBe(0);
    const r = await c.box(["run", "--rm", "--network", "appnet", "base", "sh", "-c", "wget -qO- http://srv:8080/ && wget -qO- http://10.77.0.10:8080/ && ip -6 route show default"]);
    expect(r.stdout).toMatch(/^hello-from-\w+\nhello-from-\w+\ndefault via fd00:77::1 dev eth0/);
    // The default bridge cannot reach it until connected.
    expect((await c.box(["run", "-d", "--name", "client", "base", "sleep", "60"])).code).toBe(0);
    expect((await c.box(["network", "connect", "appnet", "client"])).code).toBe(0);
    expect((await c.box(["exec", "client", "wget", "-qO-", "http://srv:8080/"])).stdout).toStartWith("hello-from-");
    expect((await c.box(["network", "disconnect", "appnet", "client"])).code).toBe(0);
    expect((await c.box(["exec", "client", "ip", "link", "show", "eth1"])).code).not.toBe(0);

    const inUse = await c.box(["network", "rm", "appnet"]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toBe("box: network appnet is in use by container srv; remove that container first (box rm -f srv)\n");
    await c.box(["rm", "-f", "srv", "client"]);
    expect((await c.box(["network", "create", "spare"])).code).toBe(0);
    expect((await c.box(["network", "rm", "appnet"])).stdout).toBe("appnet\n");
    expect(sh(["ip", "-n", c.ns, "link", "show", "type", "bridge"]).stdout).not.toContain("br-");
    expect((await c.box(["network", "prune", "-f"])).stdout).toBe("Deleted Networks:\nspare\n");
  });

  test("--internal networks reach only each other; --fixed-cidr-v6 gives the IPv6 subnet", async () => {
    expect((await c.box(["network", "create", "--internal", "--fixed-cidr-v6", "fd00:66::/64", "--subnet", "10.66.0.0/24", "intnet"])).code).toBe(0);
    const inspect = JSON.parse((await c.box(["network", "inspect", "intnet"])).stdout) as { Internal: boolean; EnableIPv6: boolean; IPAM: { Config: unknown[] } }[];
    expect(inspect[0]).toMatchObject({ Internal: true, EnableIPv6: true, IPAM: { Config: [{ Subnet: "10.66.0.0/24", Gateway: "10.66.0.1" }, { Subnet: "fd00:66::/64", Gateway: "fd00:66::1" }] } });
    expect((await c.box(["run", "-d", "--name", "in1", "--network", "intnet", "base", "sh", "-c", HTTPD])).code).toBe(0);
    const r = await c.box(["run", "--rm", "--network", "intnet", "base", "sh", "-c", "wget -qO- http://in1:8080/; ip -6 -o addr show eth0 scope global | awk '{print $4}'; ip route | grep -c default; ip -6 route | grep -c default"]);
    expect(r.stdout).toMatch(/^hello-from-\w+\nfd00:66::\d+\/64\n0\n0\n$/);
    // Its bridge is in the firewall's `internal` set (forwarding to and from it dropped), and not masqueraded.
    const table = sh(["ip", "netns", "exec", c.ns, "nft", "list", "table", "inet", "box"]).stdout;
    expect(table).toMatch(/set internal \{[^}]*elements = \{ "br-[0-9a-f]{12}" \}/);
    expect(table).not.toContain("10.66.0.0/24");
    await c.box(["rm", "-f", "in1"]);
    expect((await c.box(["network", "rm", "intnet"])).code).toBe(0);
    expect(sh(["ip", "netns", "exec", c.ns, "nft", "list", "set", "inet", "box", "internal"]).stdout).not.toContain("br-");
  });

  test("networks are isolated from each other, as docker's: a container reaches another network's only through a published port", async () => {
    expect((await c.box(["network", "create", "--subnet", "10.71.0.0/24", "isoa"])).code).toBe(0);
    expect((await c.box(["network", "create", "--subnet", "10.72.0.0/24", "isob"])).code).toBe(0);
    expect((await c.box(["run", "-d", "--name", "isob1", "--network", "isob", "-p", "18071:8080", "base", "sh", "-c", HTTPD])).code).toBe(0);
    const addr = (await c.box(["inspect", "--format", "{{.NetworkSettings.Networks.isob.IPAddress}}", "isob1"])).stdout.trim();
    expect(addr).toMatch(/^10\.72\.0\.\d+$/);
    const gw = "10.71.0.1";
    const fetch = (net: string, url: string) => c.box(["run", "--rm", "--network", net, "base", "sh", "-c", `timeout 3 wget -qO- ${url} 2>/dev/null || echo unreachable`]);
    expect(await until(async () => (await fetch("isob", `http://${addr}:8080/`)).stdout.startsWith("hello-from-"), 8000)).toBe(true);
    expect((await fetch("isoa", `http://${addr}:8080/`)).stdout).toBe("unreachable\n");
    // The published port is an explicit opening: DNAT'd traffic crosses between networks.
    expect((await fetch("isoa", `http://${gw}:18071/`)).stdout).toStartWith("hello-from-");
    await c.box(["rm", "-f", "isob1"]);
    expect((await c.box(["network", "rm", "isoa", "isob"])).code).toBe(0);
    expect(sh(["ip", "netns", "exec", c.ns, "nft", "list", "set", "inet", "box", "bridge_self"]).stdout).not.toMatch(/br-[0-9a-f]{12}/);
  }, 30000);

  test("bad input: overlapping subnets, an invalid CIDR, an unknown network, a host address the host does not have", async () => {
    const overlap = await c.box(["network", "create", "--subnet", "172.17.5.0/24", "clash"]);
    expect(overlap.code).toBe(125);
    expect(overlap.stderr).toBe("box: subnet 172.17.5.0/24 overlaps network box (172.17.0.0/16); choose a subnet that overlaps no other network, or omit --subnet to get a free one\n");
    const bad = await c.box(["network", "create", "--subnet", "10.1.2.300/24", "bad"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe("box: --subnet: invalid CIDR `10.1.2.300/24`; write a subnet as ADDRESS/PREFIX, e.g. 10.89.0.0/24 or fd00:89::/64\n");
    const missing = await c.box(["run", "--rm", "--network", "nosuchnet", "base", "true"]);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toBe("box: network nosuchnet not found; list networks with box network ls, or create it with box network create\n");
    const badPort = await c.box(["run", "--rm", "-p", "99999:80", "base", "true"]);
    expect(badPort.stderr).toStartWith("box: -p 99999:80: port `99999` is out of range 1-65535;");
    // An address the host does not have is refused by name, IPv6 as IPv4; [::1] works on a network without IPv6.
    expect((await c.box(["network", "create", "v4only"])).code).toBe(0);
    const v6 = await c.box(["run", "--rm", "--network", "v4only", "-p", "[2001:db8::1]:18098:8080", "base", "true"]);
    expect(v6.code).toBe(125);
    expect(v6.stderr).toBe("box: -p [2001:db8::1]:18098:8080: 2001:db8::1 is not an address of this host; publish on one of the host's addresses (ip addr), or on all of them with -p HOST:CONTAINER\n");
    const v4 = await c.box(["run", "--rm", "--network", "v4only", "-p", "192.0.2.9:18098:8080", "base", "true"]);
    expect(v4.code).toBe(125);
    expect(v4.stderr).toStartWith("box: -p 192.0.2.9:18098:8080: 192.0.2.9 is not an address of this host;");
    expect((await c.box(["run", "-d", "--name", "v4web", "--network", "v4only", "-p", "[::1]:18098:8080", "base", "sh", "-c", HTTPD])).code).toBe(0);
    expect(await until(async () => (await inNs(c.ns, ["curl", "-s", "-m", "2", "http://[::1]:18098/"])).stdout.startsWith("hello-from-"))).toBe(true);
    expect((await c.box(["port", "v4web"])).stdout).toBe("8080/tcp -> [::1]:18098\n");
    await c.box(["rm", "-f", "v4web"]);
    expect((await c.box(["network", "rm", "v4only"])).code).toBe(0);
  });
});

describe.skipIf(!can.rootlessUser || !haveIp || !Bun.which("pasta"))(`rootless publishing through pasta${!can.rootlessUser || !Bun.which("pasta") ? " (skipped: needs the boxtest user and pasta)" : ""}`, () => {
  let c: Ctx;
  beforeAll(async () => {
    c = setup("rootless");
    sh(["ip", "netns", "add", c.ns]);
    // pasta copies the addresses and routes of an interface with a default route; a veth pair
    // inside the test namespace stands in for the host's uplink.
    for (const cmd of [
      ["link", "set", "lo", "up"], ["link", "add", "up0", "type", "veth", "peer", "name", "up1"], ["addr", "add", "192.0.2.1/24", "dev", "up0"],
      ["-6", "addr", "add", "2001:db8::1/64", "dev", "up0", "nodad"],
      ["link", "set", "up0", "up"], ["link", "set", "up1", "up"], ["route", "add", "default", "via", "192.0.2.254"],
      // pasta forwards IPv6 (and listens on [::]) only when the host has an IPv6 route out.
      ["-6", "route", "add", "default", "via", "2001:db8::fe", "dev", "up0"],
    ]) sh(["ip", "-n", c.ns, ...cmd]);
    expect((await c.box(["pull", "-q", "base"])).code).toBe(0);
  });
  afterAll(async () => {
    const all = await c.box(["ps", "-aq", "--no-trunc"]);
    for (const id of all.stdout.split("\n").filter(Boolean)) await c.box(["rm", "-f", id]);
    sh(["ip", "netns", "del", c.ns]);
    c.env.dispose();
  });

  test("a rootless container's published port answers on loopback over IPv4 and IPv6", async () => {
    const r = await c.box(["run", "-d", "--name", "pweb", "-p", "18090:8080", "base", "sh", "-c", HTTPD]);
    expect(r.code).toBe(0);
    expect(await until(async () => (await inNs(c.ns, ["curl", "-s", "-m", "2", "http://127.0.0.1:18090/"])).stdout.startsWith("hello-from-"))).toBe(true);
    expect((await inNs(c.ns, ["curl", "-s", "-m", "2", "http://[::1]:18090/"])).stdout).toStartWith("hello-from-");
    expect((await c.box(["port", "pweb", "8080"])).stdout).toBe("0.0.0.0:18090\n[::]:18090\n");
    await c.box(["rm", "-f", "pweb"]);
  });

  test.skipIf(!Bun.which("slirp4netns"))(`rootless publishing through slirp4netns (its API's add_hostfwd; [::1] through box's proxy)${Bun.which("slirp4netns") ? "" : " (skipped: slirp4netns missing)"}`, async () => {
    expect((await c.box(["run", "-d", "--name", "sweb", "--network", "slirp4netns", "-p", "18091:8080", "base", "sh", "-c", HTTPD])).code).toBe(0);
    expect(await until(async () => (await inNs(c.ns, ["curl", "-s", "-m", "2", "http://127.0.0.1:18091/"])).stdout.startsWith("hello-from-"))).toBe(true);
    expect((await inNs(c.ns, ["curl", "-s", "-m", "2", "http://[::1]:18091/"])).stdout).toStartWith("hello-from-");
    // slirp4netns binds IPv4 only; box's proxy holds [::] beside it, so the uplink's IPv6 address answers too.
    expect((await inNs(c.ns, ["curl", "-s", "-m", "2", "http://[2001:db8::1]:18091/"])).stdout).toStartWith("hello-from-");
    expect((await c.box(["port", "sweb"])).stdout).toBe("8080/tcp -> 0.0.0.0:18091\n8080/tcp -> [::]:18091\n");
    const taken = await c.box(["run", "--rm", "--network", "slirp4netns", "-p", "18091:80", "base", "true"]);
    expect(taken.code).toBe(125);
    expect(taken.stderr).toStartWith("box: host port 18091/tcp is already allocated;");
    expect((await c.box(["rm", "-f", "sweb"])).code).toBe(0);
    expect(await until(async () => sh(["pgrep", "-f", "network _proxy .*18091"]).stdout === "" && (await inNs(c.ns, ["curl", "-s", "-m", "1", "http://127.0.0.1:18091/"])).stdout === "")).toBe(true);
  });

  test("a rootless container joins another's network with --network container:NAME", async () => {
    expect((await c.box(["run", "-d", "--name", "rweb", "--hostname", "rweb", "base", "sh", "-c", HTTPD])).code).toBe(0);
    const r = await c.box(["run", "--rm", "--network", "container:rweb", "base", "sh", "-c", "hostname; wget -qO- http://127.0.0.1:8080/"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("rweb\nhello-from-rweb\n");
    expect((await c.box(["run", "-d", "--name", "rside", "--network", "container:rweb", "base", "sleep", "30"])).code).toBe(0);
    expect((await c.box(["exec", "rside", "wget", "-qO-", "http://127.0.0.1:8080/"])).stdout).toBe("hello-from-rweb\n");
    expect((await c.box(["rm", "-f", "rside", "rweb"])).code).toBe(0);
    expect((await c.box(["ps", "-a", "--format", "{{.Names}}"])).stdout).not.toMatch(/rweb|rside/);
  });

  test("a bridge network is refused with the rootless alternatives", async () => {
    const r = await c.box(["run", "--rm", "--network", "bridge", "base", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("box: --network box: bridge networks need root; rootless containers use --network pasta (the default), slirp4netns or none\n");
  });
});
