/**
 * `box stats --no-stream` over 50 running containers against `podman stats --no-stream` over 50
 * podman containers, interleaved in one run, medians.
 *   bun bench/stats.ts [containers] [runs]      (root; podman from scripts/setup.sh)
 *   BOX_BIN=/path/to/box bun bench/stats.ts     (another build than dist/box)
 * box's --no-stream does not wait: its CPU % is measured from the reading the previous run left
 * (docs/design.md, "box stats"), so back-to-back runs measure what a polling script would see.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compare, report, type Contender } from "./lib.ts";

const repo = join(import.meta.dir, "..");
const box = process.env.BOX_BIN ?? join(repo, "dist/box");
const count = Number(process.argv[2] ?? 50);
const runs = Number(process.argv[3] ?? 15);
const work = mkdtempSync(join(tmpdir(), "box-bench-stats-"));
const b = [box, "--root", join(work, "storage"), "--runroot", join(work, "state")];
const podmanImage = "localhost/box-bench-base:latest";
const podmanLabel = `box-bench-stats-${process.pid}`;
const podman = ["podman", "--runtime", "runc"];

function must(cmd: string[], what: string): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

const podmanIds: string[] = [];
try {
  must([...b, "pull", "-q", "base"], "box pull base");
  // Named: a random name is picked from 900, and createContainer checks it with existsSync on
  // a dangling symlink, so at 50 containers a collision fails a run now and then.
  for (let i = 0; i < count; i++) must([...b, "run", "-d", "--network", "none", "--name", `bench-${i}`, "base", "sleep", "1000"], "box run -d");
  const contenders: Contender[] = [
    { name: `box stats --no-stream (${count})`, cmd: [...b, "stats", "--no-stream"] },
  ];
  if (existsSync("/usr/bin/podman")) {
    must(["podman", "import", join(repo, "build/base.tar.gz"), podmanImage], "podman import");
    for (let i = 0; i < count; i++) {
      podmanIds.push(must([...podman, "run", "-d", "--label", podmanLabel, "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", podmanImage, "sleep", "1000"], "podman run -d").trim());
    }
    contenders.push({ name: `podman stats --no-stream (${count})`, cmd: [...podman, "stats", "--no-stream"] });
  }
  const lines = must([...b, "stats", "--no-stream"], "box stats").trim().split("\n").length - 1;
  if (lines !== count) throw new Error(`box stats listed ${lines} containers, expected ${count}`);
  const medians = compare(contenders, runs, 2);
  report(`stats --no-stream over ${count} running containers, ${runs} runs each`, medians, `box stats --no-stream (${count})`);
} finally {
  const ids = Bun.spawnSync([...b, "ps", "-aq", "--no-trunc"]).stdout.toString().split("\n").filter(Boolean);
  if (ids.length > 0) Bun.spawnSync([...b, "rm", "-f", ...ids]);
  if (podmanIds.length > 0) Bun.spawnSync(["podman", "rm", "-f", "-t", "0", ...podmanIds], { stdout: "ignore", stderr: "ignore" });
  if (existsSync("/usr/bin/podman")) Bun.spawnSync(["podman", "rmi", "-f", podmanImage], { stdout: "ignore", stderr: "ignore" });
  rmSync(work, { recursive: true, force: true });
}
