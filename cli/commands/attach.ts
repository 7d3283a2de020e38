/** `box attach [OPTIONS] CONTAINER`: this terminal to a detached container's stdio, through its monitor. */
import { writeSync } from "node:fs";
import { BoxError } from "../../core/errors.ts";
import { connectAttach, monitorRunning, type AttachSession } from "../../core/runtime/attach.ts";
import { DEFAULT_DETACH_KEYS, DetachKeyMatcher, parseDetachKeys } from "../../core/runtime/detach-keys.ts";
import { finalState, isRunning } from "../../core/runtime/lifecycle.ts";
import { SIGNALS } from "../../core/runtime/signals.ts";
import type { BoxPaths } from "../../core/paths.ts";
import { findContainer, loadContainer, type ContainerRecord } from "../../core/state/containers.ts";
import { isatty, windowSize } from "../../core/terminal.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

export const ATTACH_FLAGS: FlagTable = {
  "detach-keys": { type: "string", description: "Override the key sequence for detaching a container", default: DEFAULT_DETACH_KEYS },
  "no-stdin": { type: "boolean", description: "Do not attach STDIN" },
  "sig-proxy": { type: "boolean", description: "Proxy all received signals to the process (non-TTY mode only)", default: true },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box attach [OPTIONS] CONTAINER";

/** Signals passed on to a non-TTY container, as docker's sig-proxy does (a TTY gets its keys raw). */
const PROXIED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM"];

export interface StdioAttachOptions {
  /** The container has a TTY: box's terminal goes raw and its size follows. */
  tty: boolean;
  /** Send box's stdin to the container. */
  stdin: boolean;
  /** When box's stdin ends, so does the container's (docker's StdinOnce: `start -ai`). */
  stdinOnce: boolean;
  detachKeys: Uint8Array;
  sigProxy: boolean;
}

function writeBytes(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A non-blocking stdout that is full: wait for the reader rather than spin.
      if (code === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      // Nobody reads box's output any more; the container itself is not disturbed.
      if (code === "EPIPE") return;
      throw e;
    }
  }
}

export function printOutput(stream: "stdout" | "stderr", bytes: Uint8Array): void {
  writeBytes(stream === "stderr" ? 2 : 1, bytes);
}

/** The TTY check docker makes before it attaches stdin to a container's terminal. */
export function requireTerminal(opts: { tty: boolean; stdin: boolean }): void {
  if (opts.tty && opts.stdin && !isatty(0)) {
    throw new BoxError("E_INVALID_INPUT", "the input device is not a TTY", { hint: "run box from a terminal, or attach with --no-stdin" });
  }
}

/**
 * Drive an attach session from box's own stdio. Resolves with the container's exit code,
 * "detached" after the detach keys, or undefined if the monitor went away without a code.
 * Killed by a signal it does not proxy, box leaves (128+N) with the terminal restored.
 */
export async function attachStdio(session: AttachSession, o: StdioAttachOptions): Promise<number | "detached" | undefined> {
  const undo: (() => void)[] = [];
  let finish!: (how: "detached" | number) => void;
  const finished = new Promise<"detached" | number>((res) => {
    finish = res;
  });
  const detach = () => finish("detached");
  try {
    if (o.tty) {
      const sendSize = () => {
        const size = windowSize(1) ?? windowSize(0);
        if (size) session.resize(size.rows, size.cols);
      };
      sendSize();
      process.on("SIGWINCH", sendSize);
      undo.push(() => process.off("SIGWINCH", sendSize));
    }
    if (o.stdin) {
      const stdin = process.stdin;
      if (o.tty && isatty(0)) {
        stdin.setRawMode(true);
        undo.push(() => stdin.setRawMode(false));
      }
      const keys = new DetachKeyMatcher(o.detachKeys);
      const onData = (chunk: Buffer) => {
        const { forward, detach: done } = keys.feed(chunk);
        if (forward.length > 0 && !session.input(forward)) {
          // The container is not reading: stop reading box's stdin until it catches up.
          stdin.pause();
          session.whenDrained(() => stdin.resume());
        }
        if (done) detach();
      };
      const onEnd = () => {
        if (o.stdinOnce) session.endInput();
      };
      stdin.on("data", onData);
      stdin.on("end", onEnd);
      undo.push(() => {
        stdin.off("data", onData);
        stdin.off("end", onEnd);
        stdin.pause();
      });
    }
    const proxy = o.sigProxy && !o.tty;
    for (const name of PROXIED) {
      const n = SIGNALS[name.slice(3)] as number;
      const handler = proxy ? () => session.signal(n) : () => finish(128 + n);
      process.on(name, handler);
      undo.push(() => process.off(name, handler));
    }
    return await Promise.race([session.ended, finished]);
  } finally {
    for (const fn of undo.reverse()) fn();
    session.close();
  }
}

/** What `attach` and `start -a` return once the session is over. */
export async function exitStatus(paths: BoxPaths, r: ContainerRecord, result: number | "detached" | undefined): Promise<number> {
  if (result === "detached") return 0;
  if (result !== undefined) return result;
  // The connection ended without an exit code: the monitor died (kill -9), or dropped this
  // client for reading too slowly. The state, as box ps reports it, tells which.
  const now = loadContainer(paths, r.config.id);
  if (now && isRunning(now) && monitorRunning(now.state)) {
    throw new BoxError("E_BAD_STATE", `container ${r.config.name}'s monitor closed the connection: this client fell more than 1 MiB behind the container's output`, {
      hint: "read box attach's output faster, or follow the log with box logs -f",
    });
  }
  const final = await finalState(paths, r);
  if (final.state.status === "exited" && final.state.exitCode !== undefined && final.state.exitCode >= 0) return final.state.exitCode;
  throw new BoxError("E_INTERNAL", `lost the connection to container ${r.config.name}'s monitor`, { hint: "see box ps -a and box logs" });
}

/** The flags checked before the container is looked at, so a typo fails the same whatever its state. */
export function stdioFlags(flags: Record<string, unknown>): { detachKeys: Uint8Array; sigProxy: boolean } {
  return { detachKeys: parseDetachKeys((flags["detach-keys"] as string | undefined) ?? DEFAULT_DETACH_KEYS), sigProxy: flags["sig-proxy"] !== false };
}

const command: Command = {
  summary: "Attach local standard input, output, and error streams to a running container",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("attach", ATTACH_FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Attach local standard input, output, and error streams to a running container", ATTACH_FLAGS));
      return 0;
    }
    requireArgs("attach", USAGE, positionals, 1, 1);
    const parsed = stdioFlags(flags);
    const paths = pathsFor(globals);
    const r = findContainer(paths, positionals[0] as string);
    if (r.state.status === "paused") {
      throw new BoxError("E_BAD_STATE", `cannot attach to container ${r.config.name}: it is paused`, { hint: `unpause it first: box unpause ${r.config.name}` });
    }
    if (!isRunning(r)) {
      throw new BoxError("E_BAD_STATE", `cannot attach to container ${r.config.name}: it is not running`, { hint: `start it first: box start -a ${r.config.name}` });
    }
    // As docker: stdin is attached only to a container that keeps one open (-i).
    const stdin = !(flags["no-stdin"] as boolean) && r.config.options.interactive;
    const opts = { ...parsed, tty: r.config.options.tty !== undefined, stdin, stdinOnce: false };
    requireTerminal(opts);
    const session = await connectAttach(r.dirs, r.config.name, { output: printOutput });
    return exitStatus(paths, r, await attachStdio(session, opts));
  },
};
export default command;
