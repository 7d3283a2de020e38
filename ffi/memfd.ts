/**
 * An executable held in a sealed memfd. box ships its shim inside the compiled binary; running it
 * from a sealed, nameless memory file means there is no file on disk a container could overwrite
 * through /proc/PID/exe (CVE-2019-5736, which runc fixed the same way).
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { SyscallError } from "../core/errors.ts";
import { errno } from "./syscalls.ts";

const MFD_CLOEXEC = 1;
const MFD_ALLOW_SEALING = 2;
const F_ADD_SEALS = 1033;
const F_SEAL_SEAL = 1;
const F_SEAL_SHRINK = 2;
const F_SEAL_GROW = 4;
const F_SEAL_WRITE = 8;

let lib: ReturnType<typeof load> | undefined;

function load() {
  return dlopen("libc.so.6", {
    memfd_create: { args: [FFIType.cstring, FFIType.u32], returns: FFIType.i32 },
    write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
    fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  });
}

/** Copy `bytes` into a sealed memfd and return a path that execve accepts for it. */
export function sealedExecutable(name: string, bytes: Uint8Array): string {
  lib ??= load();
  const s = lib.symbols;
  // Not close-on-exec: the path below names this process's fd table, which stays valid while
  // box runs; the shim itself closes every inherited fd it does not need.
  const fd = s.memfd_create(Buffer.from(`${name}\0`), MFD_ALLOW_SEALING | MFD_CLOEXEC);
  if (fd < 0) throw new SyscallError(`memfd_create \`${name}\``, errno());
  let off = 0;
  while (off < bytes.length) {
    const chunk = bytes.subarray(off);
    const n = Number(s.write(fd, ptr(chunk), chunk.length));
    if (n <= 0) throw new SyscallError(`write memfd \`${name}\``, errno());
    off += n;
  }
  if (s.fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
    throw new SyscallError(`seal memfd \`${name}\``, errno());
  }
  return `/proc/${process.pid}/fd/${fd}`;
}
