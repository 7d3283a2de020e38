/**
 * `box container checkpoint`: dump a running container's process tree with `criu dump`, as runc
 * and crun drive it — the tree rooted at the container's PID 1 with all its namespaces, the
 * host's bind mounts declared external, cgroups in criu's soft mode — then, unless asked to leave
 * it running, let criu kill it and record the container as exited and checkpointed.
 */
import { existsSync, mkdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { getuid } from "../../../ffi/syscalls.ts";
import { BoxError } from "../../errors.ts";
import type { BoxPaths } from "../../paths.ts";
import { loadContainer, saveState, type ContainerRecord } from "../../state/containers.ts";
import { writeJsonAtomic } from "../../state/atomic.ts";
import { removeTree } from "../../state/remove.ts";
import { cgroupDirsOf } from "../cgroups.ts";
import { finalState, isRunning, waitForExit } from "../lifecycle.ts";
import { parseNetworkChoice } from "../options.ts";
import { checkExportTarget, writeCheckpointArchive } from "./archive.ts";
import { criuPath, runCriu } from "./criu.ts";
import { checkpointDirs, DUMP_LOG } from "./layout.ts";
import { CHECKPOINT_FORMAT, layerIdOf, type CheckpointManifest } from "./manifest.ts";
import { externalMountPoints } from "./mounts.ts";

export interface CheckpointOptions {
  /** Also write the checkpoint, the config and the rootfs changes to this tar(.gz). */
  export?: string;
  /** Keep the container running after the dump (criu --leave-running). */
  leaveRunning: boolean;
  /** Dump established TCP connections too (criu --tcp-established). */
  tcpEstablished: boolean;
}

/** CRIU needs CAP_SYS_ADMIN in the initial user namespace; podman refuses rootless users the same way. */
export function requireRoot(paths: BoxPaths, verb: "checkpoint" | "restore"): void {
  if (paths.rootless || getuid() !== 0) {
    throw new BoxError("E_PERMISSION", `${verb} requires root`, { hint: "CRIU needs CAP_SYS_ADMIN: run box as root to checkpoint and restore containers" });
  }
}

/** What a checkpoint cannot carry here, refused before criu touches the container. */
function refuseUnsupported(r: ContainerRecord): void {
  const name = r.config.name;
  const o = r.config.options;
  if (!isRunning(r)) {
    throw new BoxError("E_BAD_STATE", `cannot checkpoint container ${name}: container is not running`, { hint: "only a running container can be checkpointed" });
  }
  if (r.state.status === "paused") {
    throw new BoxError("E_BAD_STATE", `cannot checkpoint container ${name}: container is paused`, { hint: `unpause it first with box unpause ${name}` });
  }
  if (o.tty) {
    throw new BoxError("E_UNSUPPORTED", `cannot checkpoint container ${name}: it has a terminal (-t)`, { hint: "checkpoint works for containers run without -t" });
  }
  if (o.rm) {
    throw new BoxError("E_UNSUPPORTED", `cannot checkpoint container ${name}: it was started with --rm`, { hint: "a checkpointed container must outlive its process; run it without --rm" });
  }
  const net = parseNetworkChoice(o.network).kind;
  if (net !== "none" && net !== "host") {
    throw new BoxError("E_UNSUPPORTED", `cannot checkpoint container ${name}: its network (${o.network}) is set up by box outside the container`, {
      hint: "checkpoint works for containers run with --network none or --network host",
    });
  }
}

function fdTargets(pid: number): string[] {
  return [0, 1, 2].map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return "";
    }
  });
}

/** v1's freezer group: criu freezes the whole tree through it at once instead of task by task. */
function freezerGroup(id: string): string | undefined {
  return cgroupDirsOf(id).find((d) => existsSync(join(d, "freezer.state")));
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export async function checkpointContainer(paths: BoxPaths, r: ContainerRecord, opts: CheckpointOptions): Promise<void> {
  requireRoot(paths, "checkpoint");
  refuseUnsupported(r);
  if (opts.export !== undefined) checkExportTarget(opts.export);
  criuPath();
  const pid = r.state.pid as number;
  const cp = checkpointDirs(r.dirs);
  removeTree(cp.root);
  mkdirSync(cp.images, { recursive: true, mode: 0o700 });
  const external = externalMountPoints(r.config);
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    created: new Date().toISOString(),
    descriptors: fdTargets(pid),
    externalMounts: external,
    etc: { hostname: readText(r.dirs.hostname), hosts: readText(r.dirs.hosts), resolvConf: readText(r.dirs.resolvConf) },
    layerIds: r.config.layers.map(layerIdOf),
    tcpEstablished: opts.tcpEstablished,
  };
  const args = ["-t", String(pid), "-D", cp.images, "--root", r.dirs.merged, "--manage-cgroups=soft"];
  for (const m of external) args.push("--ext-mount-map", `${m}:${m}`);
  const freezer = freezerGroup(r.config.id);
  if (freezer) args.push("--freeze-cgroup", freezer);
  if (opts.leaveRunning) args.push("--leave-running");
  if (opts.tcpEstablished) args.push("--tcp-established");

  // Recorded before criu kills the tree: the monitor's exit command then finds a container
  // stopped on purpose (no restart policy applies) and keeps the mark when it records the exit.
  const before = r.state;
  if (!opts.leaveRunning) saveState(r.dirs, { ...before, checkpointed: true, checkpointedAt: manifest.created, stoppedByUser: true });
  try {
    await runCriu("dump", args, cp.root, DUMP_LOG);
  } catch (e) {
    if (!opts.leaveRunning && isRunning(r)) saveState(r.dirs, before);
    removeTree(cp.images);
    throw e;
  }
  writeJsonAtomic(cp.manifest, manifest);
  if (opts.leaveRunning) saveState(r.dirs, { ...before, checkpointed: true, checkpointedAt: manifest.created });
  else {
    await waitForExit(r, 10000);
    await finalState(paths, r);
  }
  if (opts.export) {
    const now = loadContainer(paths, r.config.id) ?? r;
    await writeCheckpointArchive(opts.export, now, manifest);
  }
}
