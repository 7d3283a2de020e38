/**
 * `npm run build`: compile the shim (C), assemble the built-in `base` image from Debian's
 * busybox-static, and compile box with both embedded into one executable at dist/box.
 * Build-time tools (gcc, tar) are fine here; box itself shells out to none of them.
 */
import { $ } from "bun";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const repo = join(import.meta.dir, "..");
const build = join(repo, "build");
mkdirSync(build, { recursive: true });

async function compileShim(): Promise<void> {
  const out = join(build, "box-shim");
  const dir = join(repo, "ffi/shim");
  const sources = readdirSync(dir).filter((f) => f.endsWith(".c") || f.endsWith(".h")).map((f) => join(dir, f));
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs > newest) return;
  // Static, so the shim runs the same whatever libc a container or host has. musl makes it
  // 80 KB instead of glibc's 830 KB: less to copy into a memfd and to map at every `box run`.
  const cc = Bun.which("musl-gcc") ?? "gcc";
  const units = sources.filter((f) => f.endsWith(".c"));
  await $`${cc} -static -Os -ffunction-sections -fdata-sections -Wl,--gc-sections -Wall -Wextra -Werror -Wno-unused-parameter -o ${out}.tmp ${units}`;
  await $`strip ${out}.tmp`;
  await $`mv ${out}.tmp ${out}`;
}

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;
const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
staff:x:50:
users:x:100:
nogroup:x:65534:
`;
const OS_RELEASE = `NAME="box base"
ID=box-base
PRETTY_NAME="box base (busybox)"
HOME_URL="https://github.com/box"
`;

async function buildBase(): Promise<void> {
  const out = join(build, "base.tar.gz");
  const busybox = "/bin/busybox";
  if (!existsSync(busybox)) {
    throw new Error("build: /bin/busybox is missing; install Debian's busybox-static (scripts/setup.sh does)");
  }
  if (existsSync(out) && statSync(out).mtimeMs > statSync(busybox).mtimeMs && statSync(out).mtimeMs > statSync(import.meta.path).mtimeMs) return;
  const stage = join(build, "base-rootfs");
  rmSync(stage, { recursive: true, force: true });
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home", "tmp", "var/tmp", "run", "proc", "sys", "dev", "mnt", "opt", "srv"]) {
    mkdirSync(join(stage, d), { recursive: true });
  }
  await $`cp ${busybox} ${join(stage, "bin/busybox")}`;
  const applets = (await $`${busybox} --list-full`.text()).split("\n").filter(Boolean);
  for (const a of applets) {
    if (a === "bin/busybox") continue;
    const depth = a.split("/").length - 1;
    const target = `${"../".repeat(depth)}bin/busybox`;
    await $`ln -sf ${target} ${join(stage, a)}`.quiet();
  }
  await Bun.write(join(stage, "etc/passwd"), PASSWD);
  await Bun.write(join(stage, "etc/group"), GROUP);
  await Bun.write(join(stage, "etc/os-release"), OS_RELEASE);
  // Mount points for the files box bind-mounts at run time: present in the image, they need no
  // copy-up of /etc into each container's writable layer.
  for (const f of ["hostname", "hosts", "resolv.conf"]) await Bun.write(join(stage, "etc", f), "");
  await $`chmod 1777 ${join(stage, "tmp")} ${join(stage, "var/tmp")}`;
  await $`chmod 700 ${join(stage, "root")}`;
  // Deterministic: sorted, fixed owner and mtime, so the same busybox gives the same digest.
  await $`tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C ${stage} -cf - . | gzip -n -9 > ${out}.tmp`;
  await $`mv ${out}.tmp ${out}`;
  rmSync(stage, { recursive: true, force: true });
}

/** The digest is computed here so box never hashes its own image at run time. */
async function writeBaseDigest(): Promise<void> {
  const bytes = await Bun.file(join(build, "base.tar.gz")).bytes();
  const digest = `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
  await Bun.write(join(build, "base.json"), `${JSON.stringify({ digest, size: bytes.length })}\n`);
}

await compileShim();
await buildBase();
await writeBaseDigest();
if (!process.argv.includes("--assets-only")) {
  // BOX_OUT lets several people (or agents) build from one tree without replacing each other's binary.
  const outfile = process.env.BOX_OUT ? resolve(process.env.BOX_OUT) : join(repo, "dist/box");
  mkdirSync(dirname(outfile), { recursive: true });
  // --splitting (which needs ESM) puts each lazily imported command in a chunk of its own, so
  // a start deserializes only the bytecode it runs: `box --version` 15 -> 11 ms, `box run` -4 ms.
  await $`${process.execPath} build --compile --minify --bytecode --format esm --splitting --sourcemap=none ${join(repo, "cli/main.ts")} --outfile ${outfile}`.quiet();
  const size = statSync(outfile).size;
  console.log(`${relative(repo, outfile)}: ${(size / 1048576).toFixed(1)} MiB`);
}
