/**
 * Daemonless lifecycle, box against podman in one run:
 *   1. resident memory of the process that watches a detached container (box's monitor, the
 *      shim, against podman's conmon), median over 10 containers each;
 *   2. `ps -a` over 100 containers (median of interleaved runs).
 *   bun bench/lifecycle.ts        (root; podman from scripts/setup.sh)
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compare, median, report } from "./lib.ts";

const repo = join(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "box-bench-life-"));
const box = [join(repo, "dist/box"), "--root", join(work, "storage"), "--runroot", join(work, "state")];
const podmanImage = "localhost/box-bench-base:latest";
const podman = ["podman", "--runtime", "runc"];
const podmanRun = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
const havePodman = existsSync("/usr/bin/podman");

function run(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
}

function pidsNamed(name: string): number[] {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, "utf8").trim() === name;
    } catch {
      return false;
    }
  });
}

try {
  run([...box, "pull", "-q", "base"]);
  if (havePodman) Bun.spawnSync(["podman", "import", join(repo, "build/base.tar.gz"), podmanImage], { stdout: "ignore", stderr: "ignore" });

  // 1. memory per detached container
  const before = new Set(pidsNamed("box-shim"));
  for (let i = 0; i < 10; i++) run([...box, "run", "-d", "--network", "none", "--name", `mem${i}`, "base", "sleep", "600"]);
  const shims = pidsNamed("box-shim").filter((p) => !before.has(p));
  const boxRss = median(shims.map(rssKiB));
  let conmonRss = Number.NaN;
  if (havePodman) {
    const beforeConmon = new Set(pidsNamed("conmon"));
    for (let i = 0; i < 10; i++) run([...podman, "run", "-d", ...podmanRun, "--network", "none", "--name", `boxbench-mem${i}`, podmanImage, "sleep", "600"]);
    const conmons = pidsNamed("conmon").filter((p) => !beforeConmon.has(p));
    conmonRss = median(conmons.map(rssKiB));
  }
  console.log("\nresident memory of a detached container's monitor (median of 10)");
  console.log(`  box monitor (box-shim)      ${(boxRss / 1024).toFixed(2)} MiB`);
  if (havePodman) console.log(`  podman's conmon             ${(conmonRss / 1024).toFixed(2)} MiB  (${(conmonRss / boxRss).toFixed(1)}x box)`);
  run([...box, "rm", "-f", ...Array.from({ length: 10 }, (_, i) => `mem${i}`)]);
  if (havePodman) Bun.spawnSync([...podman, "rm", "-f", ...Array.from({ length: 10 }, (_, i) => `boxbench-mem${i}`)], { stdout: "ignore", stderr: "ignore" });

  // 2. ps over 100 containers
  for (let i = 0; i < 100; i++) run([...box, "create", "--name", `ps${i}`, "base", "true"]);
  if (havePodman) for (let i = 0; i < 100; i++) run([...podman, "create", ...podmanRun, "--network", "none", "--name", `boxbench-ps${i}`, podmanImage, "true"]);
  const contenders = [{ name: "box ps -a (100 containers)", cmd: [...box, "ps", "-a"] }];
  if (havePodman) contenders.push({ name: "podman ps -a (100 containers)", cmd: ["podman", "ps", "-a", "--filter", "name=boxbench-ps"] });
  report("ps over 100 containers", compare(contenders, 20), "box ps -a (100 containers)");
} finally {
  if (havePodman) {
    const ids = Bun.spawnSync(["podman", "ps", "-aq", "--filter", "name=boxbench-"]).stdout.toString().split("\n").filter(Boolean);
    if (ids.length) Bun.spawnSync([...podman, "rm", "-f", ...ids], { stdout: "ignore", stderr: "ignore" });
    Bun.spawnSync(["podman", "rmi", "-f", podmanImage], { stdout: "ignore", stderr: "ignore" });
  }
  const ids = Bun.spawnSync([...box, "ps", "-aq"]).stdout.toString().split("\n").filter(Boolean);
  if (ids.length) Bun.spawnSync([...box, "rm", "-f", ...ids]);
  rmSync(work, { recursive: true, force: true });
}
