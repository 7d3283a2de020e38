/**
 * The client end of a detached container's attach socket, which its monitor serves
 * (ffi/shim/attach.c documents the frames). A session carries the container's output to
 * handlers, and input, window sizes and signals back; the terminal is the caller's business.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { closeFd, openDirectory } from "../../ffi/syscalls.ts";
import { BoxError } from "../errors.ts";
import type { ContainerState } from "../schema/container.ts";
import type { ContainerDirs } from "./container-dirs.ts";

const HEAD = 5;
const STDOUT = 1;
const STDERR = 2;
const EXIT = "x".charCodeAt(0);
/** Input travels in frames of at most this size: the monitor reads clients 4 KiB at a time. */
const MAX_INPUT_FRAME = 4096;
/** Input box holds while the container does not read it; past this, box stops reading its own stdin. */
const MAX_QUEUED_INPUT = 256 << 10;

export function attachSocketPath(dirs: Pick<ContainerDirs, "state">): string {
  return join(dirs.state, "attach");
}

/** Whether the monitor of a container still runs: its recorded pid is a box-shim, and no zombie. */
export function monitorRunning(state: Pick<ContainerState, "shimPid">): boolean {
  if (state.shimPid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${state.shimPid}/stat`, "utf8");
    const end = stat.lastIndexOf(")");
    const status = stat[end + 2];
    return stat.slice(stat.indexOf("(") + 1, end) === "box-shim" && status !== "Z" && status !== "X";
  } catch {
    return false;
  }
}

export interface AttachHandlers {
  output(stream: "stdout" | "stderr", bytes: Uint8Array): void;
}

export interface AttachSession {
  /** The container's exit code, or undefined when the socket closed without one (the monitor died). */
  readonly ended: Promise<number | undefined>;
  /** Queue input for the container; false when the queue is long and the caller should pause
   * its source until `whenDrained` calls back. */
  input(bytes: Uint8Array): boolean;
  whenDrained(fn: () => void): void;
  /** End of input: the monitor closes the container's stdin (^D on a TTY). */
  endInput(): void;
  resize(rows: number, cols: number): void;
  signal(signal: number): void;
  close(): void;
}

function frame(type: string, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEAD + payload.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, HEAD);
  return out;
}

/** Splits the byte stream from the monitor into frames. */
class FrameReader {
  private buf = new Uint8Array(0);

  constructor(private readonly onFrame: (type: number, payload: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    let data = chunk;
    if (this.buf.length > 0) {
      data = new Uint8Array(this.buf.length + chunk.length);
      data.set(this.buf);
      data.set(chunk, this.buf.length);
    }
    let off = 0;
    while (data.length - off >= HEAD) {
      const len = new DataView(data.buffer, data.byteOffset + off + 1, 4).getUint32(0);
      if (data.length - off - HEAD < len) break;
      this.onFrame(data[off] as number, data.subarray(off + HEAD, off + HEAD + len));
      off += HEAD + len;
    }
    this.buf = data.slice(off);
  }
}

/**
 * Connect to the attach socket of container `name`. The socket's path may exceed the 108 bytes
 * of a unix address, so it is reached through /proc/self/fd and a descriptor of its directory.
 */
export async function connectAttach(dirs: Pick<ContainerDirs, "state">, name: string, handlers: AttachHandlers): Promise<AttachSession> {
  let dirFd: number;
  try {
    dirFd = openDirectory(dirs.state);
  } catch (e) {
    throw noMonitor(name, e);
  }
  let resolveEnded!: (code: number | undefined) => void;
  const ended = new Promise<number | undefined>((res) => {
    resolveEnded = res;
  });
  let exitCode: number | undefined;
  const reader = new FrameReader((type, payload) => {
    if (type === STDOUT) handlers.output("stdout", payload);
    else if (type === STDERR) handlers.output("stderr", payload);
    else if (type === EXIT && payload.length === 4) exitCode = new DataView(payload.buffer, payload.byteOffset, 4).getInt32(0);
  });
  // What the socket has not taken yet; sent again when it drains.
  const queue: Uint8Array[] = [];
  let queued = 0;
  let drained: (() => void) | undefined;
  const flush = (s: Socket<undefined>) => {
    while (queue.length > 0) {
      const head = queue[0] as Uint8Array;
      const n = Math.max(s.write(head), 0);
      queued -= n;
      if (n < head.length) {
        queue[0] = head.subarray(n);
        return;
      }
      queue.shift();
    }
    const fn = drained;
    drained = undefined;
    fn?.();
  };
  let socket: Socket<undefined>;
  try {
    socket = await Bun.connect({
      unix: join(`/proc/self/fd/${dirFd}`, "attach"),
      socket: {
        data: (_s, chunk) => reader.push(chunk),
        drain: (s) => flush(s),
        close: () => resolveEnded(exitCode),
        error: () => resolveEnded(exitCode),
      },
    });
  } catch (e) {
    throw noMonitor(name, e);
  } finally {
    closeFd(dirFd);
  }
  const send = (bytes: Uint8Array) => {
    queue.push(bytes);
    queued += bytes.length;
    if (queue.length === 1) flush(socket);
  };
  return {
    ended,
    input(bytes) {
      for (let off = 0; off < bytes.length; off += MAX_INPUT_FRAME) send(frame("i", bytes.subarray(off, off + MAX_INPUT_FRAME)));
      return queued < MAX_QUEUED_INPUT;
    },
    whenDrained(fn) {
      if (queue.length === 0) fn();
      else drained = fn;
    },
    endInput: () => send(frame("e", new Uint8Array(0))),
    resize(rows, cols) {
      const p = new Uint8Array(4);
      new DataView(p.buffer).setUint16(0, rows);
      new DataView(p.buffer).setUint16(2, cols);
      send(frame("r", p));
    },
    signal: (sig) => send(frame("s", Uint8Array.of(sig))),
    close: () => socket.end(),
  };
}

function noMonitor(name: string, cause: unknown): BoxError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ECONNREFUSED") {
    return new BoxError("E_BAD_STATE", `cannot attach to container ${name}: its monitor is not running`, { cause, hint: "see box ps -a and box logs" });
  }
  return new BoxError("E_BAD_STATE", `cannot attach to container ${name}: it has no attach socket (started in the foreground, or by an older box)`, {
    cause,
    hint: "attach works for containers started with -d or box start; see box logs",
  });
}
