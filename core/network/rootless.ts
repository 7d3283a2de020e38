/**
 * Networks for rootless containers, which cannot have a bridge on the host: pasta (Debian's
 * `passt`), attached to the container's namespaces by pid, copies the host's addresses and
 * routes into the namespace and forwards the published ports; slirp4netns is the fallback when
 * pasta is missing or cannot run. Both outlive box; box stops them when the container goes.
 */
import { existsSync, rmSync } from "node:fs";
import { BoxError } from "../errors.ts";
import { isProcessState } from "../state/containers.ts";
import type { PortMapping } from "./pool.ts";

function which(name: string): string | undefined {
  for (const dir of ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin"]) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

export function rootlessDefault(): "pasta" | "slirp4netns" | "none" {
  return which("pasta") ? "pasta" : which("slirp4netns") ? "slirp4netns" : "none";
}

/** slirp4netns, when it is installed: the default's second choice. */
export function rootlessFallback(): string | undefined {
  return which("slirp4netns");
}

/** pasta's port spec: `[ADDRESS/]HOST:CONTAINER`, comma separated, or `none`. */
export function pastaPortSpec(ports: PortMapping[], proto: "tcp" | "udp"): string {
  const list = ports.filter((p) => p.proto === proto).map((p) => `${p.hostIp === "" ? "" : `${p.hostIp}/`}${p.hostPort}:${p.containerPort}`);
  return list.length === 0 ? "none" : list.join(",");
}

/**
 * Start pasta for the container `pid`; returns pasta's own pid. pasta 2023.03 (Debian 12) keeps
 * running after the namespace's last process exits (it holds the namespace itself: measured,
 * 142 orphans after a test run), so box stops it at teardown by the pid it writes to `pidFile`.
 */
export async function startPasta(pid: number, ports: PortMapping[], pidFile: string): Promise<number> {
  const pasta = which("pasta");
  if (!pasta) throw new BoxError("E_UNSUPPORTED", "--network pasta: the pasta program is missing", { hint: "install Debian's passt package, or use --network slirp4netns or none" });
  const argv = [
    pasta, "--config-net", "--quiet", "--pid", pidFile,
    "-t", pastaPortSpec(ports, "tcp"), "-u", pastaPortSpec(ports, "udp"), "-T", "none", "-U", "none",
    String(pid),
  ];
  // pasta daemonizes once the namespace is configured: its exit status is the verdict.
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) {
    const why = `${err}\n${out}`.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("Failed to send")).pop() ?? `exit status ${code}`;
    throw new BoxError("E_SYSCALL", `pasta: ${why}`, { hint: "rootless pasta needs /dev/net/tun usable by you and a host interface with a default route; or use --network none" });
  }
  return Number.parseInt(await Bun.file(pidFile).text(), 10);
}

/** Stop a network helper if `pid` is still the process started at `startTime`. */
export function stopHelper(pid: number, startTime: string | undefined): void {
  if (!isProcessState(pid, startTime)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // gone meanwhile
  }
}

/** One request to slirp4netns's API socket; it answers once and closes the connection. */
async function slirpRequest(socket: string, request: unknown): Promise<{ return?: unknown; error?: { desc?: string } }> {
  // Loaded here, not at the top: node:net costs every `box run` a few milliseconds to load.
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    let text = "";
    const s = connect({ path: socket }, () => s.write(JSON.stringify(request)));
    s.on("data", (d) => {
      text += d.toString();
    });
    s.on("error", reject);
    s.on("close", () => {
      try {
        resolve(JSON.parse(text) as { return?: unknown; error?: { desc?: string } });
      } catch {
        reject(new Error(`unreadable answer \`${text}\``));
      }
    });
  });
}

/**
 * Forward the published ports through slirp4netns (podman's port_handler=slirp4netns): its API
 * socket's add_hostfwd makes slirp4netns listen on the host and connect to the container's
 * 10.0.2.100. slirp4netns 1.2 takes IPv4 host addresses only ("bad arguments.host_addr" for
 * `::`): a port on ::1 is bound on 127.0.0.1 here and reached from [::1] through box's proxy.
 */
async function slirpForward(socket: string, ports: PortMapping[]): Promise<void> {
  for (const p of ports) {
    const host = p.hostIp === "" ? "0.0.0.0" : p.hostIp === "::1" ? "127.0.0.1" : p.hostIp;
    if (host.includes(":")) {
      throw new BoxError("E_UNSUPPORTED", `slirp4netns cannot publish on the IPv6 address ${p.hostIp}`, { hint: "publish on all addresses or on ::1, or use --network pasta" });
    }
    const r = await slirpRequest(socket, { execute: "add_hostfwd", arguments: { proto: p.proto, host_addr: host, host_port: p.hostPort, guest_port: p.containerPort } });
    if (r.error) {
      throw new BoxError("E_SYSCALL", `slirp4netns: publish ${host}:${p.hostPort}/${p.proto}: ${r.error.desc ?? JSON.stringify(r.error)}`, { hint: "publish on another host port, or use --network pasta" });
    }
  }
}

export async function startSlirp4netns(pid: number, ports: PortMapping[], apiSocket: string): Promise<number> {
  const slirp = which("slirp4netns");
  if (!slirp) throw new BoxError("E_UNSUPPORTED", "--network slirp4netns: the slirp4netns program is missing", { hint: "install slirp4netns, or use --network pasta or none" });
  // slirp4netns stays in the foreground, in a session of its own so box's exit leaves it be;
  // box stops it at teardown.
  rmSync(apiSocket, { force: true });
  const argv = [slirp, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-ipv6", "--api-socket", apiSocket, String(pid), "tap0"];
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true });
  proc.unref();
  // --configure has finished when tap0 is up inside and the API socket exists; give it the
  // time it needs, bounded.
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new BoxError("E_SYSCALL", `slirp4netns exited with status ${proc.exitCode}`, { hint: "check that /dev/net/tun is usable by you" });
    try {
      const dev = await Bun.file(`/proc/${pid}/net/dev`).text();
      if (dev.includes("tap0") && existsSync(apiSocket)) {
        try {
          await slirpForward(apiSocket, ports);
        } catch (e) {
          proc.kill();
          throw e;
        } finally {
          // box asks nothing more of it: slirp4netns keeps serving an unlinked socket.
          rmSync(apiSocket, { force: true });
        }
        return proc.pid;
      }
    } catch (e) {
      if (e instanceof BoxError) throw e;
      // not yet
    }
    await Bun.sleep(5);
  }
  proc.kill();
  throw new BoxError("E_SYSCALL", "slirp4netns did not configure tap0 within 500 ms", { hint: "check that /dev/net/tun is usable by you" });
}
