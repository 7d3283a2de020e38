/**
 * The checkpoint archive and the restore plan, without criu: an exported archive read back by box
 * and by GNU tar, the container's writable layer carried through it, and the restore header the
 * shim's C reader expects (ffi/shim/restore.c). The e2e tests cover the same code with criu.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePlan, type ShimPlan } from "../../../ffi/shim-protocol.ts";
import { applyLayer } from "../../../core/image/layer.ts";
import type { BoxPaths } from "../../../core/paths.ts";
import { checkExportTarget, readCheckpointArchive, writeCheckpointArchive } from "../../../core/runtime/checkpoint/archive.ts";
import { checkpointDirs } from "../../../core/runtime/checkpoint/layout.ts";
import { CHECKPOINT_FORMAT, type CheckpointManifest } from "../../../core/runtime/checkpoint/manifest.ts";
import { containerDirs } from "../../../core/runtime/container-dirs.ts";
import type { ContainerConfig } from "../../../core/schema/container.ts";
import type { ContainerRecord } from "../../../core/state/containers.ts";

const base = mkdtempSync(join(tmpdir(), "box-checkpoint-archive-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;

const paths: BoxPaths = { state: join(base, "state"), storage: join(base, "storage"), config: join(base, "config"), rootless: !isRoot };
const id = "a".repeat(64);

const config: ContainerConfig = {
  id,
  name: "counter",
  created: "2026-01-01T00:00:00.000Z",
  image: "base",
  layers: [join(base, "layers", "f".repeat(64), "diff")],
  imageConfig: { env: ["PATH=/bin"], cmd: ["sh"], entrypoint: [], workingDir: "/", user: "" },
  options: {
    command: ["sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done"], env: [], envFiles: [], readOnly: false, readOnlyTmpfs: true,
    volumes: [], tmpfs: [], mounts: [], network: "none", dns: [], rm: false, interactive: false, init: false, privileged: false,
    capAdd: [], capDrop: [], securityOpt: [], detach: true,
  },
};

const manifest: CheckpointManifest = {
  format: CHECKPOINT_FORMAT,
  created: "2026-01-01T00:00:01.000Z",
  descriptors: ["/dev/null", "pipe:[1234]", "pipe:[1235]"],
  externalMounts: ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"],
  etc: { hostname: "aaaaaaaaaaaa\n", hosts: "127.0.0.1 localhost\n", resolvConf: "" },
  layerIds: ["f".repeat(64)],
  tcpEstablished: false,
};

function record(): ContainerRecord {
  const dirs = containerDirs(paths, id);
  const images = checkpointDirs(dirs).images;
  mkdirSync(images, { recursive: true });
  writeFileSync(join(images, "inventory.img"), new Uint8Array([1, 2, 3, 0, 255]));
  writeFileSync(join(images, "pages-1.img"), new Uint8Array(300_000).map((_, i) => i % 251));
  mkdirSync(join(dirs.upper, "var/lib"), { recursive: true });
  writeFileSync(join(dirs.upper, "state.txt"), "written before checkpoint\n");
  symlinkSync("../state.txt", join(dirs.upper, "var/link"));
  return { config, state: { status: "exited", checkpointed: true }, dirs };
}

function gnuTarList(file: string): string[] {
  const r = Bun.spawnSync(["tar", "-tf", file]);
  expect(r.exitCode).toBe(0);
  return r.stdout.toString().split("\n").filter(Boolean);
}

describe("checkpoint archive", () => {
  const r = record();

  for (const name of ["counter.tar.gz", "counter.tar"]) {
    test(`${name}: GNU tar reads it, and box reads back the manifest, config, criu images and rootfs changes`, async () => {
      const file = join(base, name);
      await writeCheckpointArchive(file, r, manifest);
      const head = readFileSync(file).subarray(0, 2);
      expect(head[0] === 0x1f && head[1] === 0x8b).toBe(name.endsWith(".gz"));
      expect(gnuTarList(file)).toEqual(["checkpoint.json", "config.dump", "checkpoint/", "checkpoint/inventory.img", "checkpoint/pages-1.img", "rootfs-diff.tar"]);
      // The spooled layer tar is not left beside the checkpoint.
      expect(existsSync(join(checkpointDirs(r.dirs).root, "rootfs-diff.tar"))).toBe(false);

      const dest = join(base, `read-${name}`);
      const back = await readCheckpointArchive(file, dest);
      expect(back.manifest).toEqual(manifest);
      expect(back.config).toEqual(config);
      for (const img of ["inventory.img", "pages-1.img"]) {
        expect(readFileSync(join(back.images, img))).toEqual(readFileSync(join(checkpointDirs(r.dirs).images, img)));
      }
      expect(gnuTarList(back.rootfsDiff)).toEqual(["state.txt", "var/", "var/lib/", "var/link"]);
      const upper = join(base, `upper-${name}`);
      await applyLayer(Bun.file(back.rootfsDiff).stream(), upper, { mode: "overlay" });
      expect(readFileSync(join(upper, "state.txt"), "utf8")).toBe("written before checkpoint\n");
      expect(readlinkSync(join(upper, "var/link"))).toBe("../state.txt");
      expect(lstatSync(join(upper, "var/lib")).isDirectory()).toBe(true);
    });
  }

  test.skipIf(!isRoot)(`a deleted file (an overlay whiteout) travels as an OCI .wh. entry and comes back as a whiteout${isRoot ? "" : " (skipped: mknod of a whiteout needs root)"}`, async () => {
    const whiteout = join(r.dirs.upper, "etc-removed");
    expect(Bun.spawnSync(["mknod", whiteout, "c", "0", "0"]).exitCode).toBe(0);
    try {
      const file = join(base, "whiteout.tar");
      await writeCheckpointArchive(file, r, manifest);
      const back = await readCheckpointArchive(file, join(base, "read-whiteout"));
      expect(gnuTarList(back.rootfsDiff)).toContain(".wh.etc-removed");
      const upper = join(base, "upper-whiteout");
      await applyLayer(Bun.file(back.rootfsDiff).stream(), upper, { mode: "overlay" });
      const st = lstatSync(join(upper, "etc-removed"));
      expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
    } finally {
      rmSync(whiteout);
    }
  });

  test("an export path in a missing directory, or naming a directory, is refused before anything is written", async () => {
    const file = join(base, "no-such-dir", "x.tar");
    expect(() => checkExportTarget(file)).toThrow(`--export: directory \`${join(base, "no-such-dir")}\` does not exist`);
    await expect(writeCheckpointArchive(file, r, manifest)).rejects.toThrow("does not exist");
    expect(existsSync(join(base, "no-such-dir"))).toBe(false);
    expect(() => checkExportTarget(base)).toThrow(`--export: \`${base}\` is a directory`);
  });
});

describe("restore plan", () => {
  test("the restore header reaches the shim in the order its C reader takes it, before the ops", () => {
    const plan: ShimPlan = {
      header: {
        cloneFlags: 0, cgroupns: false, stdinNull: true, ownProcessGroup: false, init: false,
        detach: { log: "/l", exitFile: "/e", exitCommand: ["box", "_cleanup", id] },
        restore: { criu: "/usr/sbin/criu", pidFile: "/p", rootfs: { target: "/m", overlay: "lowerdir=/a,upperdir=/u,workdir=/w" }, args: ["restore", "-D", "/i"] },
      },
      ops: [],
    };
    const fields = new TextDecoder().decode(encodePlan(plan)).split("\0");
    const at = fields.indexOf("restore");
    expect(fields.slice(at, at + 13)).toEqual([
      "restore", "/usr/sbin/criu", "/p", "restore-rootfs", "/m", "lowerdir=/a,upperdir=/u,workdir=/w",
      "criuarg", "restore", "criuarg", "-D", "criuarg", "/i", "ops",
    ]);
  });
});
