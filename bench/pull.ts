/**
 * Pull of a ~300 MB, 5-layer image from a loopback registry into an empty store: box against
 * `podman pull` and against the floor (`skopeo copy` to a directory, then `tar -xzf` of each
 * layer), interleaved, on / (ext4) and on tmpfs, fresh directories every run.
 *   bun bench/pull.ts [runs]      (root; needs docker-registry, skopeo and podman: scripts/setup.sh)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TarWriterEntry } from "../core/image/tar-writer.ts";
import { buildImage, randomBytes, writeOciLayout } from "../test/helpers/image-builder.ts";
import { startRegistry } from "../test/helpers/registry.ts";
import { compare, report, type Contender } from "./lib.ts";

const repo = join(import.meta.dir, "..");
const box = join(repo, "dist/box");
const runs = Number(process.argv[2] ?? 3);

/** Text that compresses about 4:1, like source code and man pages. */
function compressible(n: number, seed: number): Uint8Array {
  const words = ["container", "layer", "overlay", "namespace", "registry", "digest", "manifest", "config", "runtime", "cgroup"];
  let s = "";
  let x = seed;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += `${words[x % 10]}_${x % 9973} = ${(x >>> 8) % 100000};\n`;
  }
  return new TextEncoder().encode(s.slice(0, n));
}

/** One layer: a few big random files, many small text files (inode creation is part of the cost). */
function layerEntries(i: number): TarWriterEntry[] {
  const entries: TarWriterEntry[] = [{ name: `layer${i}`, type: "directory" }, { name: `layer${i}/small`, type: "directory" }];
  for (let f = 0; f < 3; f++) entries.push({ name: `layer${i}/blob${f}.bin`, type: "file", body: randomBytes(10 << 20) });
  entries.push({ name: `layer${i}/text.txt`, type: "file", body: compressible(20 << 20, i) });
  for (let f = 0; f < 1500; f++) entries.push({ name: `layer${i}/small/f${f}.txt`, type: "file", body: compressible(4096, i * 10000 + f) });
  return entries;
}

const reg = await startRegistry();
const scratch = mkdtempSync("/var/tmp/box-bench-pull-");
try {
  const image = await buildImage({ layers: [0, 1, 2, 3, 4].map(layerEntries) });
  const compressed = image.layerDigests.reduce((s, d) => s + (image.blobs.get(d)?.byteLength ?? 0), 0);
  writeOciLayout(join(scratch, "src"), image, "latest");
  const ref = `${reg.host}/bench/big:latest`;
  const pushed = Bun.spawnSync(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", `oci:${join(scratch, "src")}:latest`, `docker://${ref}`]);
  if (pushed.exitCode !== 0) throw new Error(`skopeo copy failed: ${pushed.stderr.toString()}`);
  rmSync(join(scratch, "src"), { recursive: true });
  console.log(`image: 5 layers, ${(compressed / 1e6).toFixed(0)} MB compressed, pushed to ${ref}`);

  for (const [where, base] of [["/ (ext4)", join(scratch, "runs")], ["tmpfs", "/dev/shm/box-bench-pull"]] as const) {
    mkdirSync(base, { recursive: true });
    let n = 0;
    const fresh = (): string => {
      rmSync(base, { recursive: true, force: true });
      const d = join(base, `r${n++}`);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const contenders: Contender[] = [];
    const boxC: Contender = { name: `box pull`, cmd: [] };
    boxC.before = () => {
      const d = fresh();
      boxC.cmd = [box, "--root", join(d, "storage"), "--runroot", join(d, "state"), "pull", "-q", ref];
    };
    contenders.push(boxC);
    if (existsSync("/usr/bin/podman")) {
      const podman: Contender = { name: "podman pull", cmd: [] };
      podman.before = () => {
        const d = fresh();
        podman.cmd = ["podman", "--root", join(d, "storage"), "--runroot", join(d, "run"), "--storage-driver", "overlay", "pull", "-q", "--tls-verify=false", ref];
      };
      contenders.push(podman);
    }
    const floor: Contender = { name: "floor: skopeo copy dir: + tar -xzf", cmd: [] };
    floor.before = () => {
      const d = fresh();
      const extract = image.layerDigests.map((l) => `mkdir -p ${d}/rootfs/${l.slice(7, 19)} && tar -xzf ${d}/blobs/${l.slice(7)} -C ${d}/rootfs/${l.slice(7, 19)}`).join(" && ");
      floor.cmd = ["sh", "-c", `skopeo copy --quiet --src-tls-verify=false docker://${ref} dir:${d}/blobs && ${extract}`];
    };
    contenders.push(floor);
    const medians = compare(contenders, runs, 1);
    report(`pull into an empty store on ${where}, ${runs} runs each`, medians, "floor: skopeo copy dir: + tar -xzf");
    rmSync(base, { recursive: true, force: true });
  }
} finally {
  await reg.stop();
  rmSync(scratch, { recursive: true, force: true });
  rmSync("/dev/shm/box-bench-pull", { recursive: true, force: true });
}
