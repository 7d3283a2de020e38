/**
 * The built-in `base` image: a busybox userland assembled at build time (scripts/build.ts) and
 * embedded in the binary, so `box run base` works on a machine with no network at all. It is
 * unpacked once into the store, keyed by its digest, and shared read-only by every container.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { BoxPaths } from "../paths.ts";
import { FileLock } from "../state/atomic.ts";
import { applyLayer } from "./layer.ts";
import embeddedBase from "../../build/base.tar.gz" with { type: "file" };
import baseInfo from "../../build/base.json";

export const BASE_CONFIG = {
  env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  cmd: ["/bin/sh"],
  entrypoint: [] as string[],
  workingDir: "/",
  user: "",
};

/** Returns the unpacked root filesystem of `base`, unpacking it on first use. */
export async function ensureBaseImage(paths: BoxPaths): Promise<string> {
  const digest = baseInfo.digest.replace(/^sha256:/, "");
  const dir = join(paths.storage, "builtin", `base-${digest.slice(0, 16)}`);
  const rootfs = join(dir, "rootfs");
  if (existsSync(rootfs)) return rootfs;
  mkdirSync(dir, { recursive: true });
  // Unpack beside the final path and rename: a concurrent or interrupted unpack never leaves a
  // half-filled rootfs where a container could start from it.
  await withLockAsync(join(dir, "lock"), async () => {
    if (existsSync(rootfs)) return;
    const tmp = join(dir, `rootfs.tmp-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    const stream = Bun.file(embeddedBase as unknown as string).stream();
    await applyLayer(stream, tmp, { rootless: paths.rootless, digest: baseInfo.digest });
    renameSync(tmp, rootfs);
  });
  return rootfs;
}

async function withLockAsync(path: string, fn: () => Promise<void>): Promise<void> {
  // flock is per open file description: holding it across an await is safe within one process.
  const lock = FileLock.acquire(path);
  try {
    await fn();
  } finally {
    lock.release();
  }
}
