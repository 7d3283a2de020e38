/**
 * The file-system calls that node:fs lacks and layer unpacking needs: mknod(2) for device nodes,
 * fifos and overlay whiteouts, and the l*xattr(2) family for extended attributes. The l-variants
 * never follow a final symlink, which is what an unpacker must do with names an archive chose.
 *
 * Kept apart from libc.ts so the image code can load it lazily: `box ps` never pays for it.
 */
import { dlopen, FFIType } from "bun:ffi";
import { SyscallError } from "../core/errors.ts";
import { errno } from "./syscalls.ts";

const { i32, u32, u64, i64, ptr, cstring } = FFIType;

let lib: ReturnType<typeof open> | undefined;

function open() {
  return dlopen("libc.so.6", {
    mknod: { args: [cstring, u32, u64], returns: i32 },
    lsetxattr: { args: [cstring, cstring, ptr, u64, i32], returns: i32 },
    lgetxattr: { args: [cstring, cstring, ptr, u64], returns: i64 },
  });
}

function sym() {
  lib ??= open();
  return lib.symbols;
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
const ENODATA = 61;
const ERANGE = 34;

/** glibc's makedev(): 12 bits of major and 8 of minor in the low word, the rest above. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** mknod(2); `mode` carries the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits. */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  if (sym().mknod(cstr(path), mode >>> 0, makedev(major, minor)) !== 0) {
    throw new SyscallError(`mknod \`${path}\``, errno());
  }
}

/** lsetxattr(2): sets `name` on the link itself when `path` is a symlink. */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  // bun:ffi cannot pass a pointer to an empty buffer, and the kernel reads nothing when size is 0.
  const buf = value.byteLength === 0 ? new Uint8Array(1) : value;
  if (sym().lsetxattr(cstr(path), cstr(name), buf, value.byteLength, 0) !== 0) {
    throw new SyscallError(`lsetxattr \`${path}\` ${name}`, errno());
  }
}

/** lgetxattr(2); null when the attribute is absent (ENODATA). */
export function lgetxattr(path: string, name: string): Uint8Array | null {
  let size = 256;
  for (;;) {
    const buf = new Uint8Array(size);
    const n = Number(sym().lgetxattr(cstr(path), cstr(name), buf, size));
    if (n >= 0) return buf.slice(0, n);
    const e = errno();
    if (e === ENODATA) return null;
    if (e !== ERANGE || size >= 1 << 16) throw new SyscallError(`lgetxattr \`${path}\` ${name}`, e);
    size *= 16;
  }
}
