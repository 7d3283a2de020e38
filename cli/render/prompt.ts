import { readSync } from "node:fs";
import { BoxError } from "../../core/errors.ts";
import { isatty } from "../../core/terminal.ts";
import { out } from "./output.ts";

/** One byte chunk from stdin; 0 at its end. stdin may be non-blocking (a shared terminal). */
async function readSome(buf: Buffer): Promise<number> {
  for (;;) {
    try {
      return readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
        await Bun.sleep(10);
        continue;
      }
      return 0;
    }
  }
}

async function readLine(): Promise<string> {
  const buf = Buffer.alloc(256);
  let line = "";
  for (;;) {
    const n = await readSome(buf);
    if (n === 0) break;
    line += buf.toString("utf8", 0, n);
    if (line.includes("\n")) break;
  }
  return (line.split("\n")[0] ?? "").replace(/\r$/, "");
}

/** Ask a yes/no question on stdout and read one line from stdin; anything but y/yes is no. */
export async function confirm(question: string): Promise<boolean> {
  out(question);
  return /^y(es)?$/i.test((await readLine()).trim());
}

/**
 * Ask for a line on the terminal, as `docker login` asks for a username and password. A secret
 * is read with the terminal's echo off (raw mode), Backspace editing it and Ctrl-C giving up.
 */
export async function ask(question: string, secret = false): Promise<string> {
  if (!secret || !isatty(0)) {
    out(question);
    return readLine();
  }
  // Echo goes off before the question shows: a fast typist's first keys are not echoed either.
  const stdin = process.stdin;
  stdin.setRawMode(true);
  try {
    out(question);
    const buf = Buffer.alloc(64);
    const bytes: number[] = [];
    for (;;) {
      const n = await readSome(buf);
      if (n === 0) break;
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0d || b === 0x0a) return Buffer.from(bytes).toString("utf8");
        if (b === 0x03) throw new BoxError("E_INVALID_INPUT", "cancelled at the password prompt");
        if (b === 0x04 && bytes.length === 0) return "";
        if (b === 0x7f || b === 0x08) bytes.pop();
        else bytes.push(b);
      }
    }
    return Buffer.from(bytes).toString("utf8");
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    out("\n");
  }
}
