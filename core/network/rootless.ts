/**
 * Networks for rootless containers, which cannot have a bridge on the host: pasta (Debian's
 * `passt`), attached to the container's namespaces by pid, copies the host's addresses and
 * routes into the namespace and forwards the published ports; slirp4netns is the fallback when
 * pasta is missing or cannot run. Both outlive box; box stops them when the container goes.
 */
import { existsSync } from "node:fs";
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

export async function startSlirp4netns(pid: number, ports: PortMapping[]): Promise<number> {
  const slirp = which("slirp4netns");
  if (!slirp) throw new BoxError("E_UNSUPPORTED", "--network slirp4netns: the slirp4netns program is missing", { hint: "install slirp4netns, or use --network pasta or none" });
  if (ports.length > 0) throw new BoxError("E_UNSUPPORTED", "publishing ports with slirp4netns is not supported by box", { hint: "use --network pasta (the rootless default) to publish ports" });
  // slirp4netns stays in the foreground, in a session of its own so box's exit leaves it be;
  // box stops it at teardown.
  const proc = Bun.spawn([slirp, "--configure", "--mtu=65520", "--disable-host-loopback", String(pid), "tap0"], { stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true });
  proc.unref();
  // --configure has finished when tap0 is up inside; give it the time it needs, bounded.
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new BoxError("E_SYSCALL", `slirp4netns exited with status ${proc.exitCode}`, { hint: "check that /dev/net/tun is usable by you" });
    try {
      const dev = await Bun.file(`/proc/${pid}/net/dev`).text();
      if (dev.includes("tap0")) return proc.pid;
    } catch {
      // not yet
    }
    await Bun.sleep(5);
  }
  throw new BoxError("E_SYSCALL", "slirp4netns did not configure tap0 within 500 ms", { hint: "check that /dev/net/tun is usable by you" });
}
