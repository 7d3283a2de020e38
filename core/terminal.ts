/** Whether an fd is a terminal, and its size: the CLI asks before it draws progress, allows
 * `-it`, or attaches to a container's TTY. */
import { ptr } from "bun:ffi";
import { libc } from "../ffi/libc.ts";
export { isatty } from "../ffi/syscalls.ts";

const TIOCGWINSZ = 0x5413;

export function windowSize(fd: number): { rows: number; cols: number } | undefined {
  const ws = new Uint16Array(4);
  if (libc().ioctl(fd, TIOCGWINSZ, ptr(ws)) !== 0) return undefined;
  const [rows = 0, cols = 0] = ws;
  return rows > 0 && cols > 0 ? { rows, cols } : undefined;
}
