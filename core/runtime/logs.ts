/**
 * Reading a detached container's log, which its monitor writes in the CRI format:
 * `<RFC 3339 nano time> <stdout|stderr> <F|P> <text>`, P for a piece of a longer line.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { loadContainer, type ContainerRecord } from "../state/containers.ts";
import { isRunning } from "./lifecycle.ts";

export interface LogEntry {
  time: string;
  stream: "stdout" | "stderr";
  text: string;
}

export interface LogOptions {
  timestamps: boolean;
  tail?: number | undefined;
  since?: number | undefined;
}

/** Parse log text into whole lines; an unfinished last piece is returned as `rest`. */
export function parseLog(text: string): { entries: LogEntry[]; rest: string } {
  const entries: LogEntry[] = [];
  const pending: Record<string, { time: string; text: string }> = {};
  let start = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break;
    const line = text.slice(start, nl);
    start = nl + 1;
    const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
    if (!m) continue;
    const [, time, stream, tag, body] = m as unknown as [string, string, "stdout" | "stderr", string, string];
    const p = pending[stream];
    const joined = (p?.text ?? "") + body;
    if (tag === "P") {
      pending[stream] = { time: p?.time ?? time, text: joined };
      continue;
    }
    delete pending[stream];
    entries.push({ time: p?.time ?? time, stream, text: `${joined}\n` });
  }
  return { entries, rest: text.slice(start) };
}

/** `--since`: an RFC 3339 time, a unix timestamp, or a duration back from now (10s, 42m, 2h). */
export function parseSince(spec: string, now = Date.now()): number {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(spec);
  if (d) {
    const unit = { ms: 1, s: 1000, m: 60000, h: 3600000 }[d[2] as "ms" | "s" | "m" | "h"];
    return now - Number(d[1]) * unit;
  }
  if (/^\d+(\.\d+)?$/.test(spec)) return Number(spec) * 1000;
  const t = Date.parse(spec);
  if (Number.isNaN(t)) {
    throw new BoxError("E_INVALID_INPUT", `--since: cannot parse \`${spec}\``, { hint: "use 2024-01-02T13:23:37Z, a unix time, or a duration like 10m" });
  }
  return t;
}

function select(entries: LogEntry[], opts: LogOptions): LogEntry[] {
  let list = opts.since !== undefined ? entries.filter((e) => Date.parse(e.time) >= (opts.since as number)) : entries;
  if (opts.tail !== undefined) list = opts.tail <= 0 ? [] : list.slice(-opts.tail);
  return list;
}

type Emit = (stream: "stdout" | "stderr", text: string) => void;

function emitAll(list: LogEntry[], opts: LogOptions, emit: Emit): void {
  for (const e of list) emit(e.stream, opts.timestamps ? `${e.time} ${e.text}` : e.text);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export function readLog(r: ContainerRecord, opts: LogOptions, emit: Emit): void {
  emitAll(select(parseLog(readText(r.dirs.log)).entries, opts), opts, emit);
}

/** Print the log, then what is appended, until the container has stopped. */
export async function followLog(paths: BoxPaths, r: ContainerRecord, opts: LogOptions, emit: Emit): Promise<void> {
  const first = readText(r.dirs.log);
  const parsed = parseLog(first);
  emitAll(select(parsed.entries, opts), opts, emit);
  let offset = Buffer.byteLength(first) - Buffer.byteLength(parsed.rest);
  let rest = "";
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    const current = loadContainer(paths, r.config.id);
    const running = current !== undefined && isRunning(current);
    let size = 0;
    try {
      size = statSync(r.dirs.log).size;
    } catch {
      size = 0;
    }
    if (size > offset) {
      const fd = openSync(r.dirs.log, "r");
      try {
        let chunk = "";
        while (offset < size) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
          if (n <= 0) break;
          offset += n;
          chunk += buf.toString("utf8", 0, n);
        }
        const p = parseLog(rest + chunk);
        rest = p.rest;
        emitAll(p.entries.filter((e) => opts.since === undefined || Date.parse(e.time) >= (opts.since as number)), opts, emit);
      } finally {
        closeSync(fd);
      }
      continue;
    }
    if (!running) return;
    await Bun.sleep(50);
  }
}
