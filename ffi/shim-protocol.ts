/**
 * The contract between box and ffi/shim/: the plan the shim interprets and the status lines it
 * writes back on fd 3. Field order here must match the C reader exactly; the unit tests decode
 * what this encodes to keep the two in step.
 */
import { BoxError } from "../core/errors.ts";

export interface ShimHeader {
  /** CLONE_NEW* flags for the clone that creates the container's first process. */
  cloneFlags: number;
  /** Unshare a cgroup namespace after the process has joined its cgroups. */
  cgroupns: boolean;
  /** Written by the monitor to /proc/PID/uid_map (root, or a single-id map of one's own uid). */
  uidMap?: string;
  gidMap?: string;
  setgroups?: "allow" | "deny";
  /** Arguments after the PID for the setuid newuidmap/newgidmap helpers (subordinate ranges). */
  newuidmap?: string;
  newgidmap?: string;
  tty?: { rows: number; cols: number };
  stdinNull: boolean;
  /** Put the shim in its own process group so terminal signals reach it only through box. */
  ownProcessGroup: boolean;
  /** Run a reaping init as PID 1 and the command as its child. */
  init: boolean;
  /** Stop after the clone, report `created PID`, and wait for a `G` message before running. */
  hold?: boolean;
  /** exec: join the namespaces (by /proc/PID/ns name) of the running container whose PID 1 is `pid`. */
  join?: { pid: number; namespaces: string[] };
  /** -d: outlive box, log the output, record the exit status, then run the exit command. */
  detach?: { log: string; exitFile: string; exitCommand: string[]; attach?: ShimAttach };
  /** Restore a checkpoint instead of cloning: the monitor runs criu (ffi/shim/restore.c). */
  restore?: ShimRestore;
}

/**
 * Where the restore monitor puts the write ends of the container's new stdout and stderr pipes
 * while criu runs, for criu's `--inherit-fd fd[N]:pipe:[INODE]` (ffi/shim/restore.c).
 */
export const RESTORE_STDOUT_FD = 100;
export const RESTORE_STDERR_FD = 101;

export interface ShimRestore {
  /** The criu executable and the pidfile its `--pidfile` argument names. */
  criu: string;
  pidFile: string;
  /** The container's overlay, mounted by the monitor in a private mount namespace at `target`. */
  rootfs: { target: string; overlay: string };
  /** criu's arguments after argv[0] (`restore ...`). */
  args: string[];
}

/** The attach socket a detached monitor serves (ffi/shim/attach.c has the frame format). */
export interface ShimAttach {
  socket: string;
  /** Give the container a stdin that attached clients write to (-i). */
  stdin: boolean;
}

export type ShimOp =
  | { op: "mount-private" }
  | { op: "mount-host"; source: string; target: string; fstype: string; flags: number; data: string }
  | { op: "root"; path: string }
  | {
      op: "mount";
      source: string;
      /** Path inside the root, without a leading slash; resolved with RESOLVE_IN_ROOT. */
      target: string;
      fstype: string;
      flags: number;
      data: string;
      kind: "dir" | "file";
      optional: boolean;
    }
  | { op: "symlink"; target: string; path: string }
  | { op: "mknod"; path: string; mode: number; major: number; minor: number }
  | { op: "remount-ro"; path: string }
  | { op: "pivot"; path: string }
  | { op: "mask"; path: string }
  | { op: "readonly"; path: string }
  | { op: "hostname"; name: string }
  | { op: "lo" }
  | { op: "pty" }
  | { op: "chdir"; path: string }
  | { op: "caps"; bounding: bigint; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint }
  | { op: "user"; uid: number; gid: number }
  | { op: "groups"; gids: number[] }
  | { op: "nnp" }
  /** The seccomp filter as struct sock_filter[] bytes; ffi/shim/seccomp.c decides when it goes in. */
  | { op: "seccomp"; program: Uint8Array }
  | { op: "arg"; value: string }
  | { op: "env"; value: string }
  | { op: "exec"; file: string };

export interface ShimPlan {
  header: ShimHeader;
  ops: ShimOp[];
}

function fields(op: ShimOp): (string | number | bigint)[] {
  switch (op.op) {
    case "mount-private":
    case "lo":
    case "pty":
    case "nnp":
      return [];
    case "mount-host":
      return [op.source, op.target, op.fstype, op.flags, op.data];
    case "root":
    case "remount-ro":
    case "pivot":
    case "mask":
    case "readonly":
    case "chdir":
      return [op.path];
    case "mount":
      return [op.source, op.target, op.fstype, op.flags, op.data, op.kind, op.optional ? 1 : 0];
    case "symlink":
      return [op.target, op.path];
    case "mknod":
      return [op.path, op.mode, op.major, op.minor];
    case "hostname":
      return [op.name];
    case "caps":
      return [op.bounding, op.effective, op.permitted, op.inheritable, op.ambient];
    case "user":
      return [op.uid, op.gid];
    case "groups":
      return [op.gids.join(",")];
    case "seccomp":
      return [op.program.toHex()];
    case "arg":
    case "env":
      return [op.value];
    case "exec":
      return [op.file];
  }
}

function field(value: string | number | bigint, what: string): string {
  const s = typeof value === "bigint" ? `0x${value.toString(16)}` : String(value);
  if (s.includes("\0")) throw new BoxError("E_INVALID_INPUT", `${what} contains a NUL byte`);
  return `${s}\0`;
}

/** A message on the shim's fd 3: "<kind> <length>\n<payload>". */
export function frame(kind: "C" | "P" | "G", payload: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(`${kind} ${payload.length}\n`);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/** The cgroups message: for each hierarchy, the container's cgroup.procs then box's own. */
export function encodeCgroups(pairs: { container: string; own: string }[]): Uint8Array {
  let out = "";
  for (const p of pairs) out += field(p.container, "cgroup path") + field(p.own, "cgroup path");
  return new TextEncoder().encode(out);
}

export function encodePlan(plan: ShimPlan): Uint8Array {
  const h = plan.header;
  let out = field("clone", "plan") + field(h.cloneFlags, "clone flags");
  if (h.cgroupns) out += field("cgroupns", "plan");
  if (h.uidMap !== undefined) out += field("uidmap", "plan") + field(h.uidMap, "uid map");
  if (h.setgroups !== undefined) out += field("setgroups", "plan") + field(h.setgroups, "setgroups");
  if (h.gidMap !== undefined) out += field("gidmap", "plan") + field(h.gidMap, "gid map");
  if (h.newuidmap !== undefined) out += field("newuidmap", "plan") + field(h.newuidmap, "newuidmap arguments");
  if (h.newgidmap !== undefined) out += field("newgidmap", "plan") + field(h.newgidmap, "newgidmap arguments");
  if (h.tty) out += field("tty", "plan") + field(h.tty.rows, "rows") + field(h.tty.cols, "cols");
  if (h.stdinNull) out += field("stdin-null", "plan");
  if (h.ownProcessGroup) out += field("own-pgrp", "plan");
  if (h.init) out += field("init", "plan");
  if (h.hold) out += field("hold", "plan");
  if (h.join) out += field("join", "plan") + field(h.join.pid, "pid") + field(h.join.namespaces.join(","), "namespaces");
  if (h.detach) {
    out += field("detach", "plan") + field("log", "plan") + field(h.detach.log, "log path");
    if (h.detach.exitFile) out += field("exitfile", "plan") + field(h.detach.exitFile, "exit file path");
    for (const a of h.detach.exitCommand) out += field("exitcmd", "plan") + field(a, "exit command");
    if (h.detach.attach) {
      out += field("attach", "plan") + field(h.detach.attach.socket, "attach socket path");
      if (h.detach.attach.stdin) out += field("attach-stdin", "plan");
    }
  }
  if (h.restore) {
    const r = h.restore;
    out += field("restore", "plan") + field(r.criu, "criu path") + field(r.pidFile, "criu pidfile");
    out += field("restore-rootfs", "plan") + field(r.rootfs.target, "rootfs target") + field(r.rootfs.overlay, "overlay options");
    for (const a of r.args) out += field("criuarg", "plan") + field(a, "criu argument");
  }
  out += field("ops", "plan");
  for (const op of plan.ops) {
    out += field(op.op, "operation");
    for (const f of fields(op)) out += field(f, `${op.op} argument`);
  }
  return new TextEncoder().encode(out);
}

/** What the shim reports on fd 3. */
export type ShimStatus =
  | { kind: "created"; pid: number }
  | { kind: "pid"; pid: number }
  | { kind: "exit"; code: number }
  | { kind: "error"; exitCode: number; opIndex: number; errno: number; message: string };

export function parseStatusLine(line: string): ShimStatus | undefined {
  const created = /^created (\d+)$/.exec(line);
  if (created) return { kind: "created", pid: Number(created[1]) };
  const pid = /^pid (\d+)$/.exec(line);
  if (pid) return { kind: "pid", pid: Number(pid[1]) };
  const exit = /^exit (\d+)$/.exec(line);
  if (exit) return { kind: "exit", code: Number(exit[1]) };
  const err = /^error (\d+) (-?\d+) (\d+) (.*)$/s.exec(line);
  if (err) {
    return { kind: "error", exitCode: Number(err[1]), opIndex: Number(err[2]), errno: Number(err[3]), message: err[4] ?? "" };
  }
  return undefined;
}
