/**
 * Container start-up: `box run --rm base true` against the floor (unshare of the same
 * namespaces), crun on the same busybox rootfs, and podman with the same image, in one run.
 *   bun bench/run.ts [runs]      (root; needs crun and podman: scripts/setup.sh installs them;
 *                                 BOX_BIN picks another box binary than dist/box)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compare, report, type Contender } from "./lib.ts";

const repo = join(import.meta.dir, "..");
const box = process.env.BOX_BIN ?? join(repo, "dist/box");
const runs = Number(process.argv[2] ?? 30);
const work = mkdtempSync(join(tmpdir(), "box-bench-run-"));
const root = join(work, "storage");
const runroot = join(work, "state");

// The same userland for every contender: the built-in base image's tarball.
const bundle = join(work, "bundle");
mkdirSync(join(bundle, "rootfs"), { recursive: true });
Bun.spawnSync(["tar", "-xzf", join(repo, "build/base.tar.gz"), "-C", join(bundle, "rootfs")]);
Bun.spawnSync(["crun", "spec"], { cwd: bundle });
const spec = await Bun.file(join(bundle, "config.json")).json();
spec.process.terminal = false;
spec.process.args = ["/bin/true"];
spec.root.readonly = false;
spec.mounts = spec.mounts.filter((m: { type: string }) => m.type !== "cgroup");
spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== "cgroup");
delete spec.linux.resources;
writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));

Bun.spawnSync([box, "--root", root, "--runroot", runroot, "pull", "-q", "base"]);

const contenders: Contender[] = [
  { name: "floor: unshare -fpmuin true", cmd: ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "true"] },
  { name: "box run --rm base true", cmd: [box, "--root", root, "--runroot", runroot, "run", "--rm", "--network", "none", "base", "/bin/true"] },
  // The default seccomp filter is compiled and installed on every run; without it, its cost shows.
  { name: "box run --rm seccomp=unconfined", cmd: [box, "--root", root, "--runroot", runroot, "run", "--rm", "--security-opt", "seccomp=unconfined", "--network", "none", "base", "/bin/true"] },
  // crun refuses this host's hybrid cgroup layout, so it is measured without cgroups; box is
  // measured both ways so the like-for-like ratio is visible.
  { name: "box run --rm --cgroups=disabled", cmd: [box, "--root", root, "--runroot", runroot, "run", "--rm", "--cgroups=disabled", "--network", "none", "base", "/bin/true"] },
];
if (existsSync("/usr/bin/crun")) {
  let n = 0;
  // crun 1.8 refuses a hybrid host whose cgroup2 holds a controller (hugetlb here); it runs in a
  // mount namespace where the unified tree is unmounted. That wrapper is timed on its own below.
  const crun = (id: string) => ["unshare", "-m", "sh", "-c", `umount -l /sys/fs/cgroup/unified && exec crun --cgroup-manager=disabled run --bundle ${bundle} ${id}`];
  const c: Contender = { name: "crun run (same rootfs, no cgroups)", cmd: crun("box-bench-0") };
  c.before = () => {
    c.cmd = crun(`box-bench-${process.pid}-${n++}`);
  };
  contenders.push(c, { name: "(crun's wrapper alone)", cmd: ["unshare", "-m", "sh", "-c", "umount -l /sys/fs/cgroup/unified && exec true"] });
}
const podmanImage = "localhost/box-bench-base:latest";
if (existsSync("/usr/bin/podman")) {
  Bun.spawnSync(["podman", "import", join(repo, "build/base.tar.gz"), podmanImage], { stdout: "ignore", stderr: "ignore" });
  // podman's crun refuses this hybrid cgroup host, and its default rlimits exceed the hard
  // limits here (no CAP_SYS_RESOURCE), so it runs with runc and limits it may set.
  contenders.push({
    name: "podman run --rm --network none",
    cmd: ["podman", "--runtime", "runc", "run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", podmanImage, "/bin/true"],
  });
}

try {
  const medians = compare(contenders, runs);
  report(`container start, ${runs} runs each`, medians, "box run --rm base true");
} finally {
  if (existsSync("/usr/bin/podman")) Bun.spawnSync(["podman", "rmi", "-f", podmanImage], { stdout: "ignore", stderr: "ignore" });
  rmSync(work, { recursive: true, force: true });
}
