/**
 * The two calls layer unpacking needs beyond node:fs, passed in so tests can refuse them the way
 * a rootless kernel would (EPERM from mknod, EOPNOTSUPP from setxattr) without being rootless.
 */
import { lsetxattr, mknod } from "../../ffi/fsnodes.ts";

export interface LayerSyscalls {
  /** mknod(2): `mode` holds S_IFCHR, S_IFBLK or S_IFIFO plus permission bits. Throws SyscallError. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2), never following a final symlink. Throws SyscallError. */
  lsetxattr(path: string, name: string, value: Uint8Array): void;
}

export const linuxLayerSyscalls: LayerSyscalls = { mknod, lsetxattr };

export { S_IFBLK, S_IFCHR, S_IFIFO } from "../../ffi/fsnodes.ts";
