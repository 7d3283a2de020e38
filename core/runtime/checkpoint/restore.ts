/**
 * `box container restore`: bring a checkpointed process tree back, in place or from an exported
 * archive into this store. The container's monitor (the shim) runs `criu restore` itself with
 * --restore-sibling, so the restored tree is the monitor's child like any detached container's
 * process, and logs, ps, stop, wait and the exit command work unchanged (ffi/shim/restore.c).
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { encodePlan, RESTORE_STDERR_FD, RESTORE_STDOUT_FD, type ShimPlan } from "../../../ffi/shim-protocol.ts";
import { BoxError } from "../../errors.ts";
import { applyLayer } from "../../image/layer.ts";
import { resolveRunImage } from "../../image/run-image.ts";
import type { BoxPaths } from "../../paths.ts";
import { findContainer, processStartTime, saveState, type ContainerRecord } from "../../state/containers.ts";
import { writeJsonAtomic } from "../../state/atomic.ts";
import { removeTree } from "../../state/remove.ts";
import { createContainerCgroups, removeCgroupsOf } from "../cgroups.ts";
import { isRunning } from "../lifecycle.ts";
import { overlayData } from "../plan.ts";
import { applyResources } from "../resources.ts";
import { createContainer, type ExitCommand, type RunnableImage } from "../run.ts";
import { ContainerStartError, startShim } from "../shim.ts";
import type { ContainerSpec } from "../spec.ts";
import { readCheckpointArchive } from "./archive.ts";
import { criuFailure, criuPath } from "./criu.ts";
import { requireRoot } from "./dump.ts";
import { checkpointDirs, RESTORE_LOG } from "./layout.ts";
import { layerIdOf, readManifest, type CheckpointManifest } from "./manifest.ts";
import { externalMountSources } from "./mounts.ts";
import { unwind, type Undo } from "../undo.ts";

export interface RestoreOptions {
  /** Restore this checkpointed container in place. */
  ref?: string;
  /** Or create a container from this archive (box container checkpoint --export). */
  importFile?: string;
  /** With importFile: the new container's name (default: the checkpointed one's). */
  name?: string;
  exitCommand: (id: string) => ExitCommand;
}

/** The shim takes at most this many criu arguments (MAX_CRIU_ARGS in ffi/shim/restore.c). */
const MAX_CRIU_ARGS = 256;

/** The image the archive's container ran from, as this store has it; it must be the same one. */
async function imageFor(paths: BoxPaths, imported: { config: ContainerRecord["config"]; manifest: CheckpointManifest }): Promise<RunnableImage> {
  const c = imported.config;
  const directory = c.layers.length === 1 && c.layers[0] === c.image;
  let image: RunnableImage;
  try {
    image = await resolveRunImage(paths, directory ? { ref: "", rootfs: c.image } : { ref: c.image, policy: "never" });
  } catch (e) {
    if (e instanceof BoxError && (e.code === "E_NOT_FOUND" || e.code === "E_INVALID_INPUT")) {
      throw new BoxError("E_NOT_FOUND", `cannot restore: the checkpoint's image \`${c.image}\` is not in this store`, {
        hint: directory ? `the root filesystem directory must exist at ${c.image}` : `pull or load ${c.image} first`,
      });
    }
    throw e;
  }
  const here = image.layers.map(layerIdOf);
  if (!directory && here.join(",") !== imported.manifest.layerIds.join(",")) {
    throw new BoxError("E_BAD_STATE", `cannot restore: image \`${c.image}\` in this store is not the image the container was checkpointed from`, {
      hint: `load the image it ran from (layers ${imported.manifest.layerIds.map((l) => l.slice(0, 12)).join(", ")})`,
    });
  }
  return { name: c.image, layers: image.layers, config: c.imageConfig };
}

function criuArgs(paths: BoxPaths, r: ContainerRecord, manifest: CheckpointManifest, cgroupRoot: string | undefined): string[] {
  const cp = checkpointDirs(r.dirs);
  const args = [
    "restore", "-W", cp.root, "-o", RESTORE_LOG, "-v4", "-D", cp.images, "--root", r.dirs.merged,
    "--restore-detached", "--restore-sibling", "--pidfile", cp.pidFile, "--manage-cgroups=soft",
  ];
  if (cgroupRoot) args.push("--cgroup-root", cgroupRoot);
  const sources = externalMountSources(paths, r.config, r.dirs);
  for (const m of manifest.externalMounts) {
    const src = sources.get(m);
    if (!src) {
      throw new BoxError("E_BAD_STATE", `cannot restore container ${r.config.name}: its checkpoint has a bind mount on \`${m}\` that its configuration lacks`, {
        hint: "the checkpoint and the container's configuration do not belong together; checkpoint it again",
      });
    }
    args.push("--ext-mount-map", `${m}:${src}`);
  }
  // The old stdout and stderr pipes led to the old monitor: criu is given the new monitor's.
  const fds = [undefined, RESTORE_STDOUT_FD, RESTORE_STDERR_FD];
  manifest.descriptors.forEach((d, i) => {
    const fd = fds[i];
    if (fd !== undefined && /^pipe:\[\d+\]$/.test(d)) args.push("--inherit-fd", `fd[${fd}]:${d}`);
  });
  if (manifest.tcpEstablished) args.push("--tcp-established");
  if (args.length > MAX_CRIU_ARGS) {
    throw new BoxError("E_UNSUPPORTED", `cannot restore container ${r.config.name}: it has too many mounts for one criu command line`);
  }
  return args;
}

/** Run criu restore under a new monitor for a container whose checkpoint is in its own directory. */
async function restoreCheckpoint(paths: BoxPaths, r: ContainerRecord, exitCommand: ExitCommand): Promise<ContainerRecord> {
  const { config, dirs } = r;
  const cp = checkpointDirs(dirs);
  const manifest = readManifest(cp.manifest);
  const criu = criuPath();
  const undo: Undo[] = [];
  try {
    mkdirSync(dirs.state, { recursive: true, mode: 0o700 });
    mkdirSync(dirs.merged, { recursive: true });
    writeFileSync(dirs.hostname, manifest.etc.hostname);
    writeFileSync(dirs.hosts, manifest.etc.hosts);
    writeFileSync(dirs.resolvConf, manifest.etc.resolvConf);
    rmSync(dirs.exitFile, { force: true });
    rmSync(cp.restoreLog, { force: true });
    const cgroups = config.options.cgroups === "disabled" ? { dirs: [], procs: [] } : createContainerCgroups(config.id);
    undo.push(() => removeCgroupsOf(cgroups.dirs));
    applyResources(cgroups.dirs, config.options.resources);
    const handle = await startShim({ stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    let planSent = false;
    undo.push(async () => {
      if (!planSent) await handle.abort();
      else await handle.exited.catch(() => undefined);
    });
    // The monitor joins the container's groups, so criu and the tree it restores start there;
    // criu's soft mode then places each task under --cgroup-root as it was dumped.
    if (cgroups.procs.length > 0) handle.sendCgroups(cgroups.procs);
    // The same overlay options a fresh start uses; overlayData reads only the rootfs (and the
    // user namespace, which a root-only restore never has).
    const overlay = overlayData({ rootfs: { lower: config.layers, upper: dirs.upper, work: dirs.work, merged: dirs.merged, volatile: false } } as ContainerSpec);
    const plan: ShimPlan = {
      header: {
        cloneFlags: 0,
        cgroupns: false,
        stdinNull: true,
        ownProcessGroup: false,
        init: false,
        detach: { log: dirs.log, exitFile: dirs.exitFile, exitCommand: exitCommand.argv },
        restore: {
          criu,
          pidFile: cp.pidFile,
          rootfs: { target: dirs.merged, overlay },
          args: criuArgs(paths, r, manifest, cgroups.dirs.length > 0 ? `/box/${config.id}` : undefined),
        },
      },
      ops: [],
    };
    const startedAt = new Date().toISOString();
    handle.sendPlan(encodePlan(plan));
    planSent = true;
    let pid: number;
    try {
      pid = await handle.started;
    } catch (e) {
      if (e instanceof ContainerStartError && e.message.startsWith("criu restore")) throw criuFailure("restore", cp.restoreLog);
      throw e;
    }
    const pidStartTime = processStartTime(pid);
    const state = { status: "running" as const, pid, ...(pidStartTime ? { pidStartTime } : {}), shimPid: handle.shimPid, startedAt, restoredAt: startedAt };
    saveState(dirs, state);
    undo.length = 0;
    // The images describe a process that has run on since: they must not be restored twice.
    removeTree(cp.images);
    rmSync(cp.manifest, { force: true });
    return { config, state, dirs };
  } finally {
    await unwind(undo);
  }
}

async function restoreInPlace(paths: BoxPaths, ref: string, opts: RestoreOptions): Promise<ContainerRecord> {
  const r = findContainer(paths, ref);
  if (isRunning(r)) {
    throw new BoxError("E_BAD_STATE", `cannot restore container ${r.config.name}: container is running`, { hint: "stop it first, or checkpoint it" });
  }
  if (!r.state.checkpointed || !existsSync(checkpointDirs(r.dirs).manifest)) {
    throw new BoxError("E_BAD_STATE", `cannot restore container ${r.config.name}: it has no checkpoint`, {
      hint: `checkpoint it first with box container checkpoint ${r.config.name}`,
    });
  }
  return restoreCheckpoint(paths, r, opts.exitCommand(r.config.id));
}

/** A failed import removes its container, and with it criu's log: keep the log in the state root. */
function keepRestoreLog(paths: BoxPaths, dirs: ContainerRecord["dirs"], e: unknown): BoxError | undefined {
  const log = checkpointDirs(dirs).restoreLog;
  if (!(e instanceof BoxError) || !e.message.startsWith("criu restore failed") || !existsSync(log)) return undefined;
  const kept = join(paths.state, `restore-${basename(dirs.storage).slice(0, 12)}.log`);
  try {
    copyFileSync(log, kept);
  } catch {
    return undefined;
  }
  return new BoxError(e.code, e.message, { hint: `criu's full log is ${kept}` });
}

async function restoreImport(paths: BoxPaths, file: string, opts: RestoreOptions): Promise<ContainerRecord> {
  const staging = join(paths.storage, "tmp", `checkpoint-${process.pid}-${Date.now()}`);
  try {
    const imported = await readCheckpointArchive(file, staging);
    const image = await imageFor(paths, imported);
    const name = opts.name ?? imported.config.name;
    const { record, undo } = createContainer(paths, image, { ...imported.config.options, name });
    try {
      const cp = checkpointDirs(record.dirs);
      mkdirSync(cp.root, { recursive: true, mode: 0o700 });
      renameSync(imported.images, cp.images);
      writeJsonAtomic(cp.manifest, imported.manifest);
      await applyLayer(Bun.file(imported.rootfsDiff).stream(), record.dirs.upper, { mode: "overlay", digest: "rootfs-diff.tar" });
      saveState(record.dirs, { status: "exited", checkpointed: true, checkpointedAt: imported.manifest.created, stoppedByUser: true });
      return await restoreCheckpoint(paths, { ...record, state: { status: "exited" } }, opts.exitCommand(record.config.id));
    } catch (e) {
      const kept = keepRestoreLog(paths, record.dirs, e);
      await unwind(undo);
      throw kept ?? e;
    }
  } finally {
    removeTree(staging);
  }
}

export async function restoreContainer(paths: BoxPaths, opts: RestoreOptions): Promise<ContainerRecord> {
  requireRoot(paths, "restore");
  if (opts.importFile !== undefined) return restoreImport(paths, opts.importFile, opts);
  if (opts.name !== undefined) {
    throw new BoxError("E_INVALID_INPUT", "--name can only be used with --import", { hint: "a container restored in place keeps its name" });
  }
  if (opts.ref === undefined) throw new BoxError("E_INVALID_INPUT", "give a container to restore, or --import FILE");
  criuPath();
  return restoreInPlace(paths, opts.ref, opts);
}
