/**
 * Typed wrappers over ffi/libc.ts: each reads errno right after its call and throws a
 * SyscallError naming the call and its object, so no caller ever sees a bare -1.
 */
import { read, type Pointer } from "bun:ffi";
import { SyscallError } from "../core/errors.ts";
import { libc } from "./libc.ts";

const O_RDONLY = 0;
const O_RDWR = 2;
const O_CREAT = 0o100;
const O_CLOEXEC = 0o2000000;
const O_DIRECTORY = 0o200000;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_UN = 8;
export const MNT_DETACH = 2;

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

export function errno(): number {
  return read.i32(libc().__errno_location() as Pointer, 0);
}

/** Open (creating if needed) a lock file and return its fd, close-on-exec. */
export function openLockFile(path: string): number {
  const fd = libc().open(cstr(path), O_RDWR | O_CREAT | O_CLOEXEC, 0o600);
  if (fd < 0) throw new SyscallError(`open \`${path}\``, errno());
  return fd;
}

export function openDirectory(path: string): number {
  const fd = libc().open(cstr(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError(`open \`${path}\``, errno());
  return fd;
}

/**
 * flock(2) blocks the calling thread. That is acceptable here: the locks box takes are held for
 * milliseconds (a state-file update), and flock is released by the kernel if the holder dies,
 * which is what makes a kill -9 at any moment safe.
 */
export function flock(fd: number, op: number, what: string): void {
  for (;;) {
    if (libc().flock(fd, op) === 0) return;
    const e = errno();
    if (e !== 4) throw new SyscallError(`flock \`${what}\``, e);
  }
}

export function fsyncFd(fd: number, what: string): void {
  if (libc().fsync(fd) !== 0) throw new SyscallError(`fsync \`${what}\``, errno());
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

// Bun's own getters where it has them: opening libc through bun:ffi compiles a trampoline per
// symbol, about a millisecond that a start need not pay for two integers.
export function getuid(): number {
  return process.getuid?.() ?? libc().getuid();
}

export function getgid(): number {
  return process.getgid?.() ?? libc().getgid();
}

export function isatty(fd: number): boolean {
  return libc().isatty(fd) === 1;
}

/** kill(pid, 0) semantics: true when the process exists (even if owned by someone else). */
export function processExists(pid: number): boolean {
  if (libc().kill(pid, 0) === 0) return true;
  return errno() === 1;
}

export function sendSignal(pid: number, signal: number): boolean {
  return libc().kill(pid, signal) === 0;
}

export function umount(path: string, flags: number): void {
  if (libc().umount2(cstr(path), flags) !== 0) throw new SyscallError(`umount \`${path}\``, errno());
}
