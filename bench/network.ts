/**
 * Networking: container start on the default bridge (box's `box`, podman's `--network bridge`)
 * in one interleaved run, and TCP throughput from loopback through a published port into a
 * container, box against podman. Everything runs inside a network namespace this script makes,
 * so no bridge, NAT rule or forwarding switch reaches the host's own interfaces.
 *   bun bench/network.ts [runs]      (root; podman optional)
 *   BOX_BIN=/path/to/box bun bench/network.ts     (another build than dist/box)
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compare, median, report, type Contender } from "./lib.ts";

const repo = join(import.meta.dir, "..");
const runs = Number(process.argv[2] ?? 20);

if (process.env.BOX_BENCH_NETNS === undefined) {
  // Re-run this script inside a fresh network namespace, and delete it afterwards.
  const ns = `boxbench-${process.pid}`;
  Bun.spawnSync(["ip", "netns", "add", ns]);
  Bun.spawnSync(["ip", "-n", ns, "link", "set", "lo", "up"]);
  // nsenter joins the network namespace only: `ip netns exec` also remounts /sys, which hides
  // the cgroup mounts podman's runc needs.
  const r = Bun.spawnSync(["nsenter", `--net=/run/netns/${ns}`, process.execPath, import.meta.path, String(runs)], { stdout: "inherit", stderr: "inherit", env: { ...process.env, BOX_BENCH_NETNS: ns } });
  Bun.spawnSync(["ip", "netns", "del", ns]);
  process.exit(r.exitCode ?? 1);
}

const box = process.env.BOX_BIN ?? join(repo, "dist/box");
const work = mkdtempSync(join(tmpdir(), "box-bench-net-"));
const B = [box, "--root", join(work, "storage"), "--runroot", join(work, "state")];
Bun.spawnSync([...B, "pull", "-q", "base"]);
const podmanImage = "localhost/box-bench-base:latest";
const podman = ["podman", "--runtime", "runc"];
const podmanRun = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
let havePodman = existsSync("/usr/bin/podman");
if (havePodman) {
  Bun.spawnSync(["podman", "import", join(repo, "build/base.tar.gz"), podmanImage], { stdout: "ignore", stderr: "ignore" });
  const probe = Bun.spawnSync([...podman, "run", "--rm", "--network", "bridge", ...podmanRun, podmanImage, "/bin/true"], { stderr: "pipe" });
  if (probe.exitCode !== 0) {
    console.log(`podman --network bridge cannot run here: ${probe.stderr.toString().trim().split("\n").pop()}`);
    havePodman = false;
  }
}

const contenders: Contender[] = [
  { name: "box run --rm base true (bridge)", cmd: [...B, "run", "--rm", "base", "/bin/true"] },
  { name: "box run --rm -p 15300:80 (bridge)", cmd: [...B, "run", "--rm", "-p", "15300:80", "base", "/bin/true"] },
  { name: "box run --rm --network none", cmd: [...B, "run", "--rm", "--network", "none", "base", "/bin/true"] },
];
if (havePodman) {
  contenders.push(
    { name: "podman run --rm --network bridge", cmd: [...podman, "run", "--rm", "--network", "bridge", ...podmanRun, podmanImage, "/bin/true"] },
    { name: "podman run --rm -p 15301:80 bridge", cmd: [...podman, "run", "--rm", "--network", "bridge", "-p", "15301:80", ...podmanRun, podmanImage, "/bin/true"] },
    { name: "podman run --rm --network none", cmd: [...podman, "run", "--rm", "--network", "none", ...podmanRun, podmanImage, "/bin/true"] },
  );
}
report("container start, default bridge vs none", compare(contenders, runs, 2), "box run --rm base true (bridge)");

/** Send `bytes` of zeros to host:port through bash's /dev/tcp; MB/s, median of three transfers. */
async function throughput(host: string, port: number, start: () => string | void, stop: () => void, bytes = 256 << 20): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const target = start() ?? host;
    await Bun.sleep(300);
    const t0 = performance.now();
    const r = Bun.spawnSync(["timeout", "30", "bash", "-c", `head -c ${bytes} /dev/zero > /dev/tcp/${target}/${port}`], { stderr: "pipe" });
    const dt = (performance.now() - t0) / 1000;
    stop();
    if (r.exitCode !== 0) throw new Error(`transfer to ${target}:${port} failed (exit ${r.exitCode}): ${r.stderr.toString().trim()}`);
    rates.push(bytes / 1e6 / dt);
  }
  return median(rates);
}

const sink = ["sh", "-c", "nc -l -p 5201 >/dev/null"];
const boxSink = () => {
  Bun.spawnSync([...B, "run", "-d", "--name", "sink", "-p", "15201:5201", "base", ...sink]);
};
const boxStop = () => {
  Bun.spawnSync([...B, "rm", "-f", "sink"]);
};
const boxRate = await throughput("127.0.0.1", 15201, boxSink, boxStop);
// [::1] is served by box's userland proxy (core/network/proxy.ts), not by the kernel's NAT.
const boxRate6 = await throughput("::1", 15201, boxSink, boxStop);
// The same container reached at its own address: what the bridge costs without the NAT.
const direct = await throughput("", 5201, () => {
  boxSink();
  return Bun.spawnSync([...B, "inspect", "--format", "{{.NetworkSettings.IPAddress}}", "sink"]).stdout.toString().trim();
}, boxStop);
console.log("\nTCP into a container (256 MiB of zeros from bash /dev/tcp to busybox nc, median of 3)");
console.log(`  box, 127.0.0.1 -> published port   ${boxRate.toFixed(0).padStart(6)} MB/s`);
console.log(`  box, [::1] -> published port (proxy) ${boxRate6.toFixed(0).padStart(5)} MB/s`);
console.log(`  box, container address directly   ${direct.toFixed(0).padStart(6)} MB/s`);
if (havePodman) {
  const podRate = await throughput("127.0.0.1", 15202, () => {
    Bun.spawnSync([...podman, "run", "-d", "--name", "boxbench-sink", "-p", "15202:5201", ...podmanRun, podmanImage, ...sink]);
  }, () => {
    Bun.spawnSync([...podman, "rm", "-f", "boxbench-sink"], { stdout: "ignore" });
  });
  console.log(`  podman, 127.0.0.1 -> published port ${podRate.toFixed(0).padStart(6)} MB/s`);
  try {
    const podRate6 = await throughput("::1", 15202, () => {
      Bun.spawnSync([...podman, "run", "-d", "--name", "boxbench-sink", "-p", "15202:5201", ...podmanRun, podmanImage, ...sink]);
    }, () => {
      Bun.spawnSync([...podman, "rm", "-f", "boxbench-sink"], { stdout: "ignore" });
    }, 64 << 20);
    console.log(`  podman, [::1] -> published port     ${podRate6.toFixed(0).padStart(6)} MB/s`);
  } catch (e) {
    console.log(`  podman, [::1] -> published port     fails: ${(e as Error).message.split("\n")[0]}`);
  }
}
rmSync(work, { recursive: true, force: true });
