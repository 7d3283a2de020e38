/**
 * The libc symbols box calls from JavaScript. Only calls that are safe in a multi-threaded
 * process belong here: everything that must happen single-threaded (unshare of a user namespace,
 * setns into a mount namespace, the steps up to execve) lives in ffi/shim/ instead.
 */
import { dlopen, FFIType } from "bun:ffi";

const { i32, u32, ptr, cstring } = FFIType;

let lib: ReturnType<typeof open> | undefined;

function open() {
  return dlopen("libc.so.6", {
    flock: { args: [i32, i32], returns: i32 },
    open: { args: [cstring, i32, u32], returns: i32 },
    close: { args: [i32], returns: i32 },
    fsync: { args: [i32], returns: i32 },
    __errno_location: { args: [], returns: ptr },
    getuid: { args: [], returns: u32 },
    geteuid: { args: [], returns: u32 },
    getgid: { args: [], returns: u32 },
    kill: { args: [i32, i32], returns: i32 },
    isatty: { args: [i32], returns: i32 },
    ioctl: { args: [i32, u32, ptr], returns: i32 },
    umount2: { args: [cstring, i32], returns: i32 },
  });
}

export function libc() {
  lib ??= open();
  return lib.symbols;
}
