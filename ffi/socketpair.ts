/**
 * socketpair(2), which node:fs and Bun lack. box talks to its shim over a socket on the shim's
 * fd 3; a synchronous run of the shim (Bun.spawnSync, which cannot write while it waits) needs
 * that socket made, and the plan already written into it, before the shim starts.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { SyscallError } from "../core/errors.ts";
import { errno } from "./syscalls.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;

let lib: ReturnType<typeof load> | undefined;

function load() {
  return dlopen("libc.so.6", {
    socketpair: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  });
}

/** A connected pair of AF_UNIX stream sockets, both close-on-exec (spawn passes one on by dup2). */
export function socketPair(): [number, number] {
  lib ??= load();
  const fds = new Int32Array(2);
  if (lib.symbols.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ptr(fds)) !== 0) throw new SyscallError("socketpair", errno());
  return [fds[0] as number, fds[1] as number];
}
