/**
 * The CLI's only way to print. It writes straight to fds 1 and 2: touching process.stdout or
 * process.stderr makes Bun build Node's stream objects, which measured 12-16 ms of start-up,
 * more than the rest of `box run` together.
 */
import { writeSync } from "node:fs";

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      // A closed pipe (box ps | head) is not an error worth reporting.
      if ((e as NodeJS.ErrnoException).code === "EPIPE") return;
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
      throw e;
    }
  }
}

export function out(text: string): void {
  writeAll(1, text);
}

export function err(text: string): void {
  writeAll(2, text);
}
