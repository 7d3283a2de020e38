/**
 * Files box reads back are written atomically (temp file, fsync, rename) and guarded by flock
 * locks, so concurrent invocations and a kill -9 at any point leave files that the next
 * invocation reads without error: a reader sees the old content or the new, never half of one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { SyscallError } from "../errors.ts";
import { closeFd, flock, fsyncFd, LOCK_EX, LOCK_SH, LOCK_UN, openDirectory, openLockFile } from "../../ffi/syscalls.ts";

let tmpCounter = 0;

/** flock(2) flags not exported by ffi/syscalls.ts: fail at once instead of waiting. */
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

export interface WriteOptions {
  mode?: number;
  /**
   * fsync the file and its directory so the write survives a power cut. Volatile state (under
   * /run, gone at reboot anyway) skips it: rename alone already makes it atomic for readers and
   * safe against a killed writer, and two fsyncs on ext4 cost milliseconds per container.
   */
  durable?: boolean;
}

export function writeFileAtomic(path: string, data: string | Uint8Array, options: WriteOptions = {}): void {
  const { mode = 0o644, durable = true } = options;
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  if (!durable) return;
  // The rename is durable only once the directory entry is on disk.
  const dfd = openDirectory(dir);
  try {
    fsyncFd(dfd, dir);
  } finally {
    closeFd(dfd);
  }
}

export function writeJsonAtomic(path: string, value: unknown, options: WriteOptions = {}): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}

/** An flock held on `path`; the kernel drops it if the process dies. */
export class FileLock implements Disposable {
  private fd: number;

  private constructor(fd: number, readonly path: string) {
    this.fd = fd;
  }

  static acquire(path: string, mode: "shared" | "exclusive" = "exclusive"): FileLock {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openLockFile(path);
    try {
      flock(fd, mode === "shared" ? LOCK_SH : LOCK_EX, path);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return new FileLock(fd, path);
  }

  /** The lock if it is free now, undefined if another open file holds it. */
  static tryAcquire(path: string, mode: "shared" | "exclusive" = "exclusive"): FileLock | undefined {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openLockFile(path);
    try {
      flock(fd, (mode === "shared" ? LOCK_SH : LOCK_EX) | LOCK_NB, path);
    } catch (e) {
      closeFd(fd);
      if (e instanceof SyscallError && e.errno === EWOULDBLOCK) return undefined;
      throw e;
    }
    return new FileLock(fd, path);
  }

  /**
   * Wait for the lock without blocking the thread. A blocking flock would freeze the event loop,
   * and with it every other transfer of the same process, for as long as another process (a
   * parallel pull unpacking the same layer) holds the lock; and two holders inside one process
   * would deadlock. Polling costs a few milliseconds of latency, only while someone else holds it.
   */
  static async acquireAsync(path: string, mode: "shared" | "exclusive" = "exclusive"): Promise<FileLock> {
    for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
      const lock = FileLock.tryAcquire(path, mode);
      if (lock !== undefined) return lock;
      await Bun.sleep(delay);
    }
  }

  release(): void {
    if (this.fd < 0) return;
    flock(this.fd, LOCK_UN, this.path);
    closeFd(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** Run `fn` holding an exclusive lock on `path`. */
export function withLock<T>(path: string, fn: () => T): T {
  using _lock = FileLock.acquire(path);
  return fn();
}
