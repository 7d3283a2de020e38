import { readSync } from "node:fs";
import { out } from "./output.ts";

/** Ask a yes/no question on stdout and read one line from stdin; anything but y/yes is no. */
export async function confirm(question: string): Promise<boolean> {
  out(question);
  const buf = Buffer.alloc(256);
  let line = "";
  for (;;) {
    let n = 0;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
        await Bun.sleep(10);
        continue;
      }
      return false;
    }
    if (n === 0) break;
    line += buf.toString("utf8", 0, n);
    if (line.includes("\n")) break;
  }
  return /^y(es)?$/i.test(line.split("\n")[0]?.trim() ?? "");
}
