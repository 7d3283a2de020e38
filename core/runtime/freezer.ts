/**
 * pause/unpause through the freezer: v1's `freezer.state` (FROZEN/THAWED) or v2's
 * `cgroup.freeze`, on the container's own group, waiting until the kernel reports the change.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import { saveState, type ContainerRecord } from "../state/containers.ts";
import { cgroupDirsOf } from "./cgroups.ts";
import { isRunning } from "./lifecycle.ts";

interface FreezerFile {
  path: string;
  frozen: string;
  thawed: string;
  /** What reading the file shows once the change took effect. */
  done(content: string, freeze: boolean): boolean;
}

function freezerOf(id: string): FreezerFile {
  for (const dir of cgroupDirsOf(id)) {
    const v1 = join(dir, "freezer.state");
    if (existsSync(v1)) {
      return { path: v1, frozen: "FROZEN", thawed: "THAWED", done: (c, f) => c.trim() === (f ? "FROZEN" : "THAWED") };
    }
    const v2 = join(dir, "cgroup.freeze");
    if (existsSync(v2)) {
      const events = join(dir, "cgroup.events");
      return {
        path: v2, frozen: "1", thawed: "0",
        done: (_c, f) => readFileSync(events, "utf8").includes(`frozen ${f ? 1 : 0}`),
      };
    }
  }
  throw new BoxError("E_UNSUPPORTED", "this container has no freezer cgroup", {
    hint: "pause needs cgroups: rootless containers and --cgroups=disabled cannot be paused here",
  });
}

async function setFrozen(r: ContainerRecord, freeze: boolean): Promise<void> {
  const f = freezerOf(r.config.id);
  writeFileSync(f.path, freeze ? f.frozen : f.thawed);
  for (let i = 0; i < 200; i++) {
    if (f.done(readFileSync(f.path, "utf8"), freeze)) return;
    await Bun.sleep(5);
  }
  throw new BoxError("E_INTERNAL", `the kernel did not ${freeze ? "freeze" : "thaw"} container ${r.config.name} within a second`);
}

/**
 * Let a signal just sent to a paused container reach it: a v1-frozen task does not act on even
 * SIGKILL until thawed (docker thaws a paused container it kills, too). Best effort: a group
 * already gone has nothing left to thaw.
 */
export async function thawAfterSignal(r: ContainerRecord): Promise<void> {
  if (r.state.status !== "paused") return;
  try {
    await setFrozen(r, false);
  } catch {
    return;
  }
  saveState(r.dirs, { ...r.state, status: "running" });
}

export async function pauseContainer(r: ContainerRecord): Promise<void> {
  if (!isRunning(r)) throw new BoxError("E_BAD_STATE", `container ${r.config.name} is not running`);
  if (r.state.status === "paused") throw new BoxError("E_BAD_STATE", `container ${r.config.name} is already paused`);
  await setFrozen(r, true);
  saveState(r.dirs, { ...r.state, status: "paused" });
}

export async function unpauseContainer(r: ContainerRecord): Promise<void> {
  if (r.state.status !== "paused") throw new BoxError("E_BAD_STATE", `container ${r.config.name} is not paused`);
  await setFrozen(r, false);
  saveState(r.dirs, { ...r.state, status: "running" });
}
