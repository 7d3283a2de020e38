/**
 * Save and load of a ~300 MB image (busybox base + 5 layers of random, incompressible files),
 * box against podman (private store, overlay driver), interleaved, medians; plus the peak RSS
 * of every box load, which must stay flat however big the image is.
 *   bun bench/save-load.ts [runs]      (root; needs podman and skopeo: scripts/setup.sh)
 *
 * Each engine saves from its own store (box keeps the compressed blobs it was given, podman keeps
 * unpacked layers), and each load goes into an empty store. Both archives are loaded by both
 * engines: box's archive carries gzip layers (decompressed on load), podman's uncompressed ones.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { TarWriterEntry } from "../core/image/tar-writer.ts";
import { buildImage, randomBytes, writeOciLayout } from "../test/helpers/image-builder.ts";
import { median } from "./lib.ts";

const repo = join(import.meta.dir, "..");
const box = process.env.BOX_BIN ?? join(repo, "dist/box");
const runs = Number(process.argv[2] ?? 3);

for (const tool of ["/usr/bin/podman", "/usr/bin/skopeo"]) {
  if (!existsSync(tool)) throw new Error(`${tool} is missing: run scripts/setup.sh`);
}

/** One layer: three 20 MB random files and a hundred 4 KB ones. */
function layerEntries(i: number): TarWriterEntry[] {
  const entries: TarWriterEntry[] = [{ name: `data${i}`, type: "directory" }];
  for (let f = 0; f < 3; f++) entries.push({ name: `data${i}/blob${f}.bin`, type: "file", body: randomBytes(20 << 20) });
  for (let f = 0; f < 100; f++) entries.push({ name: `data${i}/small${f}.bin`, type: "file", body: randomBytes(4096) });
  return entries;
}

interface Contender {
  name: string;
  cmd: () => string[];
  before?: () => void;
  /** Record the peak RSS of each run. */
  rss?: boolean;
}

/**
 * Time a command; its peak RSS comes from GNU time. (Bun's own resourceUsage.maxRSS of a child
 * includes this process's RSS at fork time, which here holds the whole image in memory.)
 */
function run(cmd: string[]): { ms: number; rss: number } {
  const t0 = Bun.nanoseconds();
  const r = Bun.spawnSync(["/usr/bin/time", "-f", "maxrss=%M", ...cmd], { stdout: "ignore", stderr: "pipe" });
  const ms = (Bun.nanoseconds() - t0) / 1e6;
  const stderr = r.stderr.toString();
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${stderr.trim()}`);
  return { ms, rss: Number(/maxrss=(\d+)/.exec(stderr)?.[1] ?? 0) * 1024 };
}

/** podman's overlay driver bind-mounts its storage directory; undo that before removing it. */
function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((m) => m.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) Bun.spawnSync(["umount", "-l", m]);
}

function measure(title: string, contenders: Contender[], reference: string): void {
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const rss = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let i = 0; i < runs + 1; i++) {
    for (const c of contenders) {
      c.before?.();
      const r = run(c.cmd());
      if (i === 0) continue; // warm-up: page cache, binaries
      times.get(c.name)?.push(r.ms);
      rss.get(c.name)?.push(r.rss);
    }
  }
  const ref = median(times.get(reference) ?? []);
  console.log(`\n${title} (median of ${runs} interleaved runs)`);
  for (const c of contenders) {
    const ms = median(times.get(c.name) ?? []);
    const ratio = c.name === reference ? "" : `  ${(ms / ref).toFixed(2)}x ${reference}`;
    const peak = c.rss ? `  peak RSS ${(Math.max(...(rss.get(c.name) ?? [0])) / 2 ** 20).toFixed(0)} MiB` : "";
    console.log(`  ${c.name.padEnd(40)} ${ms.toFixed(0).padStart(7)} ms${ratio}${peak}`);
  }
}

// Short: podman refuses a runroot path over 50 characters.
const scratch = mkdtempSync("/var/tmp/bsl-");
const podmanStore = (d: string): string[] => ["podman", "--root", join(d, "storage"), "--runroot", join(d, "run"), "--storage-driver", "overlay"];
const boxStore = (d: string): string[] => [box, "--root", join(d, "storage"), "--runroot", join(d, "state")];
try {
  const image = await buildImage({ base: true, layers: [0, 1, 2, 3, 4].map(layerEntries) });
  const bytes = [...image.blobs.values()].reduce((s, b) => s + b.byteLength, 0);
  writeOciLayout(join(scratch, "src"), image, "latest");
  console.log(`image: base + 5 layers of random data, ${(bytes / 1e6).toFixed(0)} MB of blobs`);

  // Seed one store per engine with the image.
  const boxSeed = join(scratch, "box-seed");
  const podSeed = join(scratch, "podman-seed");
  const loaded = run([...boxStore(boxSeed), "load", "-q", "-i", join(scratch, "src")]);
  console.log(`box load of the OCI layout directory: ${loaded.ms.toFixed(0)} ms, peak RSS ${(loaded.rss / 2 ** 20).toFixed(0)} MiB`);
  run([...boxStore(boxSeed), "tag", image.configDigest, "bench/big:latest"]);
  run(["skopeo", "copy", "--quiet", `oci:${join(scratch, "src")}:latest`, `containers-storage:[overlay@${join(podSeed, "storage")}+${join(podSeed, "run")}]localhost/bench/big:latest`]);
  rmSync(join(scratch, "src"), { recursive: true });

  const out = (name: string): string => join(scratch, name);
  const saves: Contender[] = [
    { name: "box save (docker-archive)", before: () => rmSync(out("box.tar"), { force: true }), cmd: () => [...boxStore(boxSeed), "save", "-o", out("box.tar"), "bench/big:latest"] },
    { name: "podman save (docker-archive)", before: () => rmSync(out("podman.tar"), { force: true }), cmd: () => [...podmanStore(podSeed), "save", "-q", "-o", out("podman.tar"), "localhost/bench/big:latest"] },
    { name: "box save --format oci-archive", before: () => rmSync(out("box-oci.tar"), { force: true }), cmd: () => [...boxStore(boxSeed), "save", "--format", "oci-archive", "-o", out("box-oci.tar"), "bench/big:latest"] },
    { name: "podman save --format oci-archive", before: () => rmSync(out("podman-oci.tar"), { force: true }), cmd: () => [...podmanStore(podSeed), "save", "-q", "--format", "oci-archive", "-o", out("podman-oci.tar"), "localhost/bench/big:latest"] },
  ];
  measure("save to a file", saves, "podman save (docker-archive)");
  for (const f of ["box.tar", "podman.tar", "box-oci.tar", "podman-oci.tar"]) console.log(`  ${f}: ${(statSync(out(f)).size / 1e6).toFixed(0)} MB`);

  let n = 0;
  const fresh = (): string => {
    const d = join(scratch, "loads", `r${n++}`);
    unmountUnder(join(scratch, "loads"));
    rmSync(join(scratch, "loads"), { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    return d;
  };
  const loadInto = (name: string, store: (d: string) => string[], archive: string, viaPipe = false): Contender => {
    let dir = "";
    return {
      name,
      rss: store === boxStore,
      before: () => {
        dir = fresh();
      },
      cmd: () => viaPipe
        ? ["sh", "-c", `cat ${out(archive)} | ${store(dir).join(" ")} load -q`]
        : [...store(dir), "load", "-q", "-i", out(archive)],
    };
  };
  const loads: Contender[] = [
    loadInto("box load (podman's docker-archive)", boxStore, "podman.tar"),
    loadInto("podman load (podman's docker-archive)", podmanStore, "podman.tar"),
    loadInto("box load (box's docker-archive)", boxStore, "box.tar"),
    loadInto("podman load (box's docker-archive)", podmanStore, "box.tar"),
    loadInto("box load (podman's oci-archive)", boxStore, "podman-oci.tar"),
    loadInto("podman load (podman's oci-archive)", podmanStore, "podman-oci.tar"),
    loadInto("box load < pipe (podman's docker-archive)", boxStore, "podman.tar", true),
  ];
  measure("load into an empty store", loads, "podman load (podman's docker-archive)");
} finally {
  unmountUnder(scratch);
  rmSync(scratch, { recursive: true, force: true });
}
