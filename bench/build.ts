/**
 * `box build` against `buildah bud` on one 6-step Dockerfile FROM the same busybox base, cold
 * (--no-cache) and fully cached, interleaved in one run. Targets (issue 6): a fully cached
 * rebuild under 150 ms, a cold build faster than buildah's.
 *   bun bench/build.ts [runs]      (root; needs buildah and podman)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compare, report, type Contender } from "./lib.ts";

const repo = join(import.meta.dir, "..");
const box = join(repo, "dist/box");
const runs = Number(process.argv[2] ?? 10);
const work = mkdtempSync(join(tmpdir(), "box-bench-build-"));
const ctx = join(work, "ctx");
mkdirSync(ctx);
writeFileSync(join(ctx, "a.txt"), "hello\n");
writeFileSync(join(ctx, "Dockerfile"), [
  "FROM base",
  "ENV APP=/app",
  "WORKDIR /app",
  "COPY a.txt ./",
  "RUN echo built > /app/r.txt && ls /app > /app/list",
  'CMD ["cat", "/app/r.txt"]',
  "",
].join("\n"));

const boxRoots = ["--root", join(work, "box-storage"), "--runroot", join(work, "box-state")];
// chroot isolation: buildah's default OCI isolation needs cgroup delegation this host lacks.
const buildah = ["buildah", "--root", join(work, "bh-storage"), "--runroot", join(work, "bh-state"), "--storage-driver", "overlay"];
const podman = ["podman", "--root", join(work, "bh-storage"), "--runroot", join(work, "bh-state"), "--storage-driver", "overlay"];

try {
  const imp = Bun.spawnSync([...podman, "import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", join(repo, "build/base.tar.gz"), "base"], { stderr: "pipe" });
  if (imp.exitCode !== 0) throw new Error(`podman import: ${imp.stderr.toString()}`);
  Bun.spawnSync([box, ...boxRoots, "pull", "-q", "base"]);

  const contenders = (cached: boolean): Contender[] => [
    { name: `box build${cached ? "" : " --no-cache"}`, cmd: [box, ...boxRoots, "build", "-q", ...(cached ? [] : ["--no-cache"]), "-t", "app", ctx] },
    { name: `buildah bud --layers${cached ? "" : " --no-cache"}`, cmd: [...buildah, "bud", "-q", "--isolation", "chroot", "--layers", ...(cached ? [] : ["--no-cache"]), "-t", "app", ctx] },
  ];
  report(`cold build, 6 steps (${runs} runs)`, compare(contenders(false), runs, 1), "box build --no-cache");
  report(`fully cached rebuild, 6 steps (${runs} runs)`, compare(contenders(true), runs, 1), "box build");
} finally {
  Bun.spawnSync([...buildah, "rmi", "--all", "--force"], { stdout: "ignore", stderr: "ignore" });
  Bun.spawnSync(["umount", "-R", join(work, "bh-storage", "overlay")], { stdout: "ignore", stderr: "ignore" });
  rmSync(work, { recursive: true, force: true });
}
