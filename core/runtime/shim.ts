/**
 * Starting ffi/shim/ and following what it reports. The shim binary is compiled by
 * scripts/build.ts and embedded in box; in a development checkout it runs from build/.
 */
import { closeSync, readFileSync, readSync, writeSync } from "node:fs";
import { sealedExecutable } from "../../ffi/memfd.ts";
import { encodeCgroups, frame, parseStatusLine, type ShimStatus } from "../../ffi/shim-protocol.ts";
import { socketPair } from "../../ffi/socketpair.ts";
import { BoxError } from "../errors.ts";
// Bun embeds the file in the compiled binary and hands back its path ($bunfs inside the binary).
import embeddedShim from "../../build/box-shim" with { type: "file" };

let shimPath: string | undefined;

/** Inside the compiled binary the shim lives in Bun's virtual filesystem, which execve cannot
 * read; it is copied once per invocation into a sealed memfd (about 0.2 ms). */
async function resolveShim(): Promise<string> {
  if (shimPath) return shimPath;
  const p = embeddedShim as unknown as string;
  if (!p.startsWith("/$bunfs") && !p.startsWith("B:/~BUN")) {
    shimPath = p;
    return p;
  }
  const bytes = await Bun.file(p).bytes();
  shimPath = sealedExecutable("box-shim", bytes);
  return shimPath;
}

/** resolveShim for synchronous callers: the same file, read without awaiting. */
function resolveShimSync(): string {
  if (shimPath) return shimPath;
  const p = embeddedShim as unknown as string;
  shimPath = !p.startsWith("/$bunfs") && !p.startsWith("B:/~BUN") ? p : sealedExecutable("box-shim", readFileSync(p));
  return shimPath;
}

/**
 * Run the shim with `plan` to the end, synchronously, for work that callers which cannot await
 * need done in a namespace (removing a store entry rootless). The plan is written into the
 * socket before the shim starts; what it reported is read back once it has exited. The process
 * gets no stdin and no stdout; its stderr is returned.
 */
export function runShimSync(plan: Uint8Array): { code: number; stderr: string; failure?: ContainerStartError } {
  const path = resolveShimSync();
  const [ours, theirs] = socketPair();
  let theirsOpen = true;
  let failure: ContainerStartError | undefined;
  let code: number;
  let stderr: string;
  try {
    writeAll(ours, frame("P", plan));
    const proc = Bun.spawnSync([path], { stdio: ["ignore", "ignore", "pipe", theirs] as unknown as ["ignore", "ignore", "pipe"], argv0: "box-shim" });
    code = proc.exitCode ?? 128 + 9;
    stderr = proc.stderr?.toString() ?? "";
    // Our copy of the shim's end closed, the status reads to EOF.
    closeSync(theirs);
    theirsOpen = false;
    let text = "";
    const buf = Buffer.alloc(4096);
    for (let n = readSync(ours, buf); n > 0; n = readSync(ours, buf)) text += buf.toString("utf8", 0, n);
    for (const line of text.split("\n")) {
      const st = parseStatusLine(line);
      if (st?.kind === "error") failure ??= new ContainerStartError(st);
    }
  } finally {
    if (theirsOpen) closeSync(theirs);
    closeSync(ours);
  }
  return failure === undefined ? { code, stderr } : { code, stderr, failure };
}

export interface ShimHandle {
  /** Ask the shim to join the container's cgroups now, while box prepares the rest. */
  sendCgroups(pairs: { container: string; own: string }[]): void;
  /** Hand over the plan; the shim clones the container as soon as it has it. */
  sendPlan(plan: Uint8Array): void;
  /** With `hold` in the plan: resolves with the container's pid once it exists, before it runs. */
  created: Promise<number>;
  /** With `hold`: let the held container run. */
  release(): void;
  /** Give up before the plan was sent: the shim exits without starting anything. */
  abort(): Promise<void>;
  /** Resolves with the container's host pid once it has exec'd, or rejects with its failure. */
  started: Promise<number>;
  /** The container's exit code (128+N for a signal), once the shim has exited. */
  exited: Promise<number>;
  signal(sig: NodeJS.Signals | number): void;
  readonly shimPid: number;
  /** With `stderr: "pipe"`: what the process wrote there. */
  readonly stderr?: ReadableStream<Uint8Array>;
}

export interface ShimStdio {
  /** Bytes: what the process reads on stdin (box _chown's list), fed by Bun through a pipe. */
  stdin: "inherit" | "ignore" | Uint8Array;
  stdout: "inherit" | "ignore";
  /** "pipe": read it from the handle's `stderr` (a helper whose failure box words itself). */
  stderr: "inherit" | "ignore" | "pipe";
}

/** A failure the shim reported: its exit code decides 125/126/127. */
export class ContainerStartError extends BoxError {
  constructor(readonly status: Extract<ShimStatus, { kind: "error" }>) {
    super(status.exitCode === 127 ? "E_COMMAND_NOT_FOUND" : status.exitCode === 126 ? "E_CANNOT_EXECUTE" : "E_SYSCALL", renderShimError(status));
  }
}

const ERRNO_SUFFIX: Record<number, string> = {
  1: "operation not permitted", 2: "no such file or directory", 13: "permission denied", 22: "invalid argument",
  20: "not a directory", 21: "is a directory", 30: "read-only file system", 8: "exec format error", 16: "device or resource busy",
  17: "file exists", 28: "no space left on device", 40: "too many levels of symbolic links", 95: "operation not supported",
};

function renderShimError(s: Extract<ShimStatus, { kind: "error" }>): string {
  if (s.message.endsWith("no such file or directory") || s.message.endsWith("not found in $PATH")) return s.message;
  const text = ERRNO_SUFFIX[s.errno] ?? `errno ${s.errno}`;
  return `${s.message}: ${text}`;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
      throw new BoxError("E_INTERNAL", "the container monitor exited before it received the container's plan", { cause: e });
    }
  }
}

/**
 * Start the shim. It waits on fd 3 for the cgroups to join and the plan, so box can start it
 * first and prepare the container while the shim execs and the kernel migrates it.
 */
export async function startShim(stdio: ShimStdio): Promise<ShimHandle> {
  const path = await resolveShim();
  const proc = Bun.spawn([path], {
    stdio: [stdio.stdin, stdio.stdout, stdio.stderr, "pipe"],
    argv0: "box-shim",
  });
  const statusFd = proc.stdio[3] as unknown as number;
  let resolveStarted!: (pid: number) => void;
  let rejectStarted!: (e: unknown) => void;
  const started = new Promise<number>((res, rej) => {
    resolveStarted = res;
    rejectStarted = rej;
  });
  let resolveCreated!: (pid: number) => void;
  let rejectCreated!: (e: unknown) => void;
  const created = new Promise<number>((res, rej) => {
    resolveCreated = res;
    rejectCreated = rej;
  });
  created.catch(() => undefined);
  let settled = false;
  let failure: ContainerStartError | undefined;
  const reader = (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of Bun.file(statusFd).stream()) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const st = parseStatusLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (!st) continue;
        if (st.kind === "created") resolveCreated(st.pid);
        else if (st.kind === "pid" && !settled) {
          settled = true;
          resolveStarted(st.pid);
        } else if (st.kind === "error" && !settled) {
          settled = true;
          failure = new ContainerStartError(st);
          rejectStarted(failure);
          rejectCreated(failure);
        }
      }
    }
  })();
  // Killed by abort() with our frames still unread, the shim's end resets the socket and the
  // read fails (ECONNRESET) before anything awaits the reader: not an error worth a report.
  reader.catch(() => undefined);
  const exited = (async () => {
    const code = await proc.exited;
    await reader.catch(() => undefined);
    if (!settled) {
      settled = true;
      const e = new BoxError("E_INTERNAL", `the container monitor exited with status ${code} before the container started`);
      rejectStarted(e);
      rejectCreated(e);
    }
    if (failure) throw failure;
    return code;
  })();
  // A start failure is also reported through `exited`; keep the unobserved copy quiet.
  started.catch(() => undefined);
  return {
    started,
    exited,
    signal: (sig) => proc.kill(sig),
    shimPid: proc.pid,
    ...(stdio.stderr === "pipe" ? { stderr: proc.stderr as ReadableStream<Uint8Array> } : {}),
    sendCgroups: (pairs) => writeAll(statusFd, frame("C", encodeCgroups(pairs))),
    sendPlan: (plan) => writeAll(statusFd, frame("P", plan)),
    created,
    release: () => writeAll(statusFd, frame("G", new Uint8Array(0))),
    async abort() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}
