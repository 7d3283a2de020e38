/**
 * `box exec`: a new process in a running container. The shim joins the container's namespaces
 * (user first, then mount, uts, ipc, net, cgroup; pid through its own setns before the clone)
 * and its cgroups, then runs the same identity and exec steps as a container's first process.
 */
import { getgid, getuid } from "../../ffi/syscalls.ts";
import { encodePlan, type ShimOp, type ShimPlan } from "../../ffi/shim-protocol.ts";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import type { ContainerRecord } from "../state/containers.ts";
import { capNames, currentBoundingSet, processCaps, resolveCapabilities } from "./caps.ts";
import { createContainerCgroups } from "./cgroups.ts";
import { isMapped, rootlessMaps } from "./idmap.ts";
import { isRunning } from "./lifecycle.ts";
import { DEFAULT_PATH, mergeEnv, parseEnvFlag, parseSecurityOpts, readEnvFile } from "./options.ts";
import { seccompFilter } from "./seccomp/index.ts";
import { startShim, type ShimHandle } from "./shim.ts";
import { resolveUser } from "./user.ts";

export interface ExecOptions {
  command: string[];
  env: string[];
  envFiles: string[];
  user?: string;
  workdir?: string;
  tty: boolean;
  interactive: boolean;
  detach: boolean;
  privileged: boolean;
}

export async function execInContainer(
  paths: BoxPaths,
  r: ContainerRecord,
  opts: ExecOptions,
  forwardSignals?: (h: ShimHandle) => () => void,
): Promise<number> {
  if (!isRunning(r) || r.state.pid === undefined) {
    throw new BoxError("E_BAD_STATE", `container ${r.config.name} is not running`, { hint: "start it first with box start" });
  }
  if (r.state.status === "paused") throw new BoxError("E_BAD_STATE", `container ${r.config.name} is paused`, { hint: "unpause it first" });
  if (opts.command.length === 0) throw new BoxError("E_INVALID_INPUT", "no command specified", { hint: "usage: box exec CONTAINER COMMAND [ARG...]" });
  const pid = r.state.pid;
  const o = r.config.options;
  const image = r.config.imageConfig;

  const handle = await startShim({
    stdin: !opts.detach && (opts.interactive || opts.tty) ? "inherit" : "ignore",
    stdout: opts.detach ? "ignore" : "inherit",
    stderr: opts.detach ? "ignore" : "inherit",
  });
  let sent = false;
  try {
    // The container's groups (a rootless user's only where a cgroup2 subtree is delegated to them:
    // there are none to join otherwise), so limits and stats count what exec runs.
    const cgroups = o.cgroups === "disabled" ? { procs: [] } : createContainerCgroups(r.config.id);
    if (cgroups.procs.length > 0) handle.sendCgroups(cgroups.procs);

    // The container's own files, seen through its root: names resolve as they do inside.
    const user = resolveUser(`/proc/${pid}/root`, opts.user ?? o.user ?? (image.user || undefined));
    const userns = paths.rootless ? rootlessMaps(getuid(), getgid()) : undefined;
    if (userns && !isMapped(userns.uidRanges, user.uid)) {
      throw new BoxError("E_PERMISSION", `user ${user.uid} does not exist in this rootless container's user namespace`);
    }
    const caps = resolveCapabilities({ privileged: o.privileged || opts.privileged, add: o.capAdd, drop: o.capDrop });
    const hostname = o.hostname ?? r.config.id.slice(0, 12);
    const env = mergeEnv(
      [DEFAULT_PATH],
      image.env,
      [`HOSTNAME=${hostname}`],
      opts.tty ? ["TERM=xterm"] : [],
      [`HOME=${user.home}`],
      o.envFiles.flatMap(readEnvFile),
      o.env.map((e) => parseEnvFlag(e)).filter((e): e is string => e !== undefined),
      opts.envFiles.flatMap(readEnvFile),
      opts.env.map((e) => parseEnvFlag(e)).filter((e): e is string => e !== undefined),
    );
    const namespaces = ["mnt", "uts", "ipc", "net", "cgroup", "pid"];
    if (userns) namespaces.unshift("user");
    const ops: ShimOp[] = [];
    if (opts.tty) ops.push({ op: "pty" });
    ops.push({ op: "chdir", path: opts.workdir ?? o.workdir ?? (image.workingDir || "/") });
    const processCapsSet = processCaps(caps, user.uid, currentBoundingSet());
    ops.push({ op: "caps", ...processCapsSet });
    if (userns?.kind !== "single") ops.push({ op: "groups", gids: user.groups });
    ops.push({ op: "user", uid: user.uid, gid: user.gid });
    for (const so of o.securityOpt) if (so.startsWith("no-new-privileges") && !so.endsWith("=false")) ops.push({ op: "nnp" });
    // The container's filter holds for every process in it, as runc applies it to an exec.
    const filter = o.privileged ? undefined : seccompFilter(parseSecurityOpts(o.securityOpt).seccomp, capNames(processCapsSet.bounding));
    if (filter) ops.push({ op: "seccomp", program: filter });
    for (const a of opts.command) ops.push({ op: "arg", value: a });
    for (const e of env) ops.push({ op: "env", value: e });
    ops.push({ op: "exec", file: opts.command[0] as string });
    const plan: ShimPlan = {
      header: {
        cloneFlags: 0,
        cgroupns: false,
        stdinNull: opts.detach || !opts.interactive,
        ownProcessGroup: !opts.tty && !opts.interactive && !opts.detach,
        init: false,
        join: { pid, namespaces },
        ...(opts.tty && !opts.detach ? { tty: { rows: 0, cols: 0 } } : {}),
        ...(opts.detach ? { detach: { log: "/dev/null", exitFile: "", exitCommand: [] } } : {}),
      },
      ops,
    };
    handle.sendPlan(encodePlan(plan));
    sent = true;
    const stop = opts.detach ? undefined : forwardSignals?.(handle);
    try {
      await handle.started;
      if (opts.detach) return 0;
      return await handle.exited;
    } finally {
      stop?.();
    }
  } finally {
    if (!sent) await handle.abort();
  }
}
