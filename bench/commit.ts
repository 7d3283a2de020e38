/**
 * `box commit` and `box export` of a container holding a 100 MB change (one file of random
 * bytes plus 2,000 small files), against `podman commit` and `podman export` of a container with
 * the same change, on the same busybox base, interleaved in one run.
 *   bun bench/commit.ts [runs] [box binary]      (root; needs podman)
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compare, report, type Contender } from "./lib.ts";

const repo = join(import.meta.dir, "..");
const runs = Number(process.argv[2] ?? 5);
const box = process.argv[3] ?? process.env.BOX_BIN ?? join(repo, "dist/box");
const work = mkdtempSync(join(tmpdir(), "box-bench-commit-"));
const boxCmd = [box, "--root", join(work, "box-storage"), "--runroot", join(work, "box-state")];
const podman = ["podman", "--root", join(work, "pm-storage"), "--runroot", join(work, "pm-state"), "--storage-driver", "overlay"];

function must(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}

/** The change both containers carry, written into a directory that is the container's upper view. */
function writeChange(root: string, payload: string): void {
  must(["cp", payload, join(root, "big.bin")]);
  mkdirSync(join(root, "many"), { recursive: true });
  for (let i = 0; i < 2000; i++) writeFileSync(join(root, "many", `f${i}`), `file ${i}\n`);
  rmSync(join(root, "etc/os-release"), { force: true });
}

try {
  const payload = join(work, "payload");
  must(["dd", "if=/dev/urandom", `of=${payload}`, "bs=1M", "count=100", "status=none"]);

  must([...boxCmd, "pull", "-q", "base"]);
  must([...boxCmd, "create", "--name", "c", "base", "true"]);
  const boxUpper = join(work, "box-storage", "containers", must([...boxCmd, "inspect", "--format", "{{.Id}}", "c"]), "upper");
  writeChange(boxUpper, payload);
  // The whiteout box's overlay would have made for the deletion.
  mkdirSync(join(boxUpper, "etc"), { recursive: true });
  must(["mknod", join(boxUpper, "etc/os-release"), "c", "0", "0"]);

  // podman cannot run a container on this host (its rlimits), but it can create and mount one.
  must([...podman, "import", "--change", 'CMD ["/bin/sh"]', join(repo, "build/base.tar.gz"), "base"]);
  must([...podman, "create", "--name", "c", "base", "true"]);
  const mnt = must([...podman, "mount", "c"]);
  writeChange(mnt, payload);
  must([...podman, "unmount", "c"]);

  const exportTo = join(work, "out.tar");
  const rmImage = (cmd: string[]) => () => void Bun.spawnSync([...cmd, "rmi", "-f", "snap"], { stdout: "ignore", stderr: "ignore" });
  const commit: Contender[] = [
    { name: "box commit", cmd: [...boxCmd, "commit", "c", "snap"], before: rmImage(boxCmd) },
    { name: "podman commit", cmd: [...podman, "commit", "-q", "c", "snap"], before: rmImage(podman) },
  ];
  const exp: Contender[] = [
    { name: "box export -o", cmd: [...boxCmd, "export", "-o", exportTo, "c"] },
    { name: "podman export -o", cmd: [...podman, "export", "-o", exportTo, "c"] },
  ];
  report(`commit of a 100 MB change (${runs} runs)`, compare(commit, runs, 1), "box commit");
  report(`export of a container with a 100 MB change (${runs} runs)`, compare(exp, runs, 1), "box export -o");
} finally {
  Bun.spawnSync([...podman, "rm", "-a", "-f"], { stdout: "ignore", stderr: "ignore" });
  Bun.spawnSync([...podman, "rmi", "--all", "--force"], { stdout: "ignore", stderr: "ignore" });
  Bun.spawnSync(["umount", "-R", join(work, "pm-storage", "overlay")], { stdout: "ignore", stderr: "ignore" });
  rmSync(work, { recursive: true, force: true });
}
