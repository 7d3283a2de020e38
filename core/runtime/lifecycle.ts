/**
 * What happens to a container after it starts, without a daemon: signals go straight to its
 * process (checked to still be ours by its start time), and the state is what the kernel and
 * the monitor's exit file say it is.
 */
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { isProcessState, loadContainer, readExitFile, saveState, type ContainerRecord } from "../state/containers.ts";
import { sendSignal } from "../../ffi/syscalls.ts";
import { cgroupDirsOf, removeCgroupsOf } from "./cgroups.ts";
import { oomKilled } from "./cgroups/layout.ts";
import { removeContainerFiles } from "./run.ts";
import { teardownNetwork } from "../network/hook.ts";
import { thawAfterSignal } from "./freezer.ts";

function alive(r: ContainerRecord): boolean {
  const s = r.state;
  return (s.status === "running" || s.status === "paused") && s.pid !== undefined && isProcessState(s.pid, s.pidStartTime);
}

export function isRunning(r: ContainerRecord): boolean {
  return alive(r);
}

export async function killContainer(r: ContainerRecord, signal: number): Promise<void> {
  if (!alive(r)) {
    throw new BoxError("E_BAD_STATE", `cannot kill container ${r.config.name}: container is not running`, { hint: "start it first with box start" });
  }
  saveState(r.dirs, { ...r.state, stoppedByUser: true });
  if (!sendSignal(r.state.pid as number, signal)) {
    throw new BoxError("E_PERMISSION", `cannot send signal ${signal} to container ${r.config.name}`);
  }
  await thawAfterSignal(r);
}

/** Wait until the container's process is gone; false when `timeoutMs` passed first. */
export async function waitForExit(r: ContainerRecord, timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  let delay = 2;
  while (alive(r)) {
    if (performance.now() >= deadline) return false;
    await Bun.sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  return true;
}

/** The state after the process is gone: the monitor's exit file, once it has written it. */
export async function finalState(paths: BoxPaths, r: ContainerRecord): Promise<ContainerRecord> {
  for (let i = 0; i < 100; i++) {
    const now = loadContainer(paths, r.config.id);
    if (!now) return r;
    if (now.state.status === "exited" && (now.state.exitCode !== -1 || i > 40)) return now;
    if (now.state.status === "created") return now;
    await Bun.sleep(5);
  }
  return loadContainer(paths, r.config.id) ?? r;
}

/** docker stop: the stop signal, then SIGKILL after `timeoutSec`. */
export async function stopContainer(paths: BoxPaths, r: ContainerRecord, timeoutSec: number, stopSignal = 15): Promise<void> {
  // Recorded first, even for a container between two restarts: the exit this causes (or the
  // one being cleaned up) must not trigger the restart policy.
  saveState(r.dirs, { ...r.state, stoppedByUser: true });
  if (!alive(r)) return;
  sendSignal(r.state.pid as number, stopSignal);
  await thawAfterSignal(r);
  if (!(await waitForExit(r, timeoutSec * 1000))) {
    sendSignal(r.state.pid as number, 9);
    await waitForExit(r, 10000);
  }
  await finalState(paths, r);
}

/** docker wait: block until the container exits and return its code. */
export async function waitContainer(paths: BoxPaths, r: ContainerRecord): Promise<number> {
  await waitForExit(r);
  const final = await finalState(paths, r);
  return final.state.exitCode ?? 0;
}

export async function removeContainer(paths: BoxPaths, r: ContainerRecord, force: boolean): Promise<void> {
  if (alive(r)) {
    if (!force) {
      throw new BoxError("E_BAD_STATE", `cannot remove container ${r.config.name}: container is running`, {
        hint: "stop the container before removing it, or use box rm -f",
      });
    }
    sendSignal(r.state.pid as number, 9);
    await thawAfterSignal(r);
    await waitForExit(r, 10000);
  }
  await removeCgroupsOf(cgroupDirsOf(r.config.id));
  await teardownNetwork(paths, r.config.id);
  removeContainerFiles(paths, r);
}

/**
 * Run by a detached container's monitor when the container exits (`box _cleanup ID`): record
 * the final state, remove its cgroups, and remove the container if it was started with --rm.
 */
export async function cleanupContainer(paths: BoxPaths, id: string): Promise<void> {
  const r = loadContainer(paths, id);
  if (!r) return;
  const dirs = cgroupDirsOf(id);
  // The memory group's OOM counter goes with the group: read it first.
  const oom = oomKilled(dirs);
  await removeCgroupsOf(dirs);
  await teardownNetwork(paths, id);
  if (r.config.options.rm) {
    removeContainerFiles(paths, r);
    return;
  }
  const exit = readExitFile(r.dirs.exitFile);
  if (r.state.status === "exited" && exit) {
    saveState(r.dirs, { ...r.state, exitCode: exit.code, finishedAt: exit.finishedAt, ...(oom ? { oomKilled: true } : {}) });
  }
}
