/**
 * The container records: configuration (storage root), state (state root) and the monitor's
 * exit file, read back and validated, with the truth about the process reconciled on every read:
 * a container is running only if its pid exists *and* started when we recorded (crun's rule),
 * so a reused pid or a killed monitor never makes `box ps` lie.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { containerDirs, namesDir, type ContainerDirs } from "../runtime/container-dirs.ts";
import { ContainerConfigSchema, ContainerStateSchema, RunOptionsSchema, type ContainerConfig, type ContainerState } from "../schema/container.ts";
import { writeJsonAtomic } from "./atomic.ts";

export interface ContainerRecord {
  config: ContainerConfig;
  state: ContainerState;
  dirs: ContainerDirs;
}

function readJson<T>(path: string, schema: v.GenericSchema<unknown, T>, what: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new BoxError("E_BAD_STATE", `${what} \`${path}\` is not valid JSON`, { cause: e, hint: "remove the container with box rm -f" });
  }
  const r = v.safeParse(schema, data);
  if (!r.success) {
    throw new BoxError("E_BAD_STATE", `${what} \`${path}\` is invalid: ${v.summarize(r.issues).replace(/\n/g, "; ")}`, {
      hint: "remove the container with box rm -f",
    });
  }
  return r.output;
}

/** The start time of a process (jiffies since boot), or undefined when it does not exist. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

export function isProcessState(pid: number, startTime: string | undefined): boolean {
  const now = processStartTime(pid);
  return now !== undefined && (startTime === undefined || now === startTime);
}

/** The monitor's record of how the container ended. */
export function readExitFile(path: string): { code: number; finishedAt: string } | undefined {
  try {
    const [code, ns] = readFileSync(path, "utf8").trim().split(" ");
    const n = Number(code);
    if (!Number.isInteger(n) || ns === undefined || !/^\d+$/.test(ns)) return undefined;
    return { code: n, finishedAt: new Date(Number(BigInt(ns) / 1000000n)).toISOString() };
  } catch {
    return undefined;
  }
}

function reconcile(dirs: ContainerDirs, state: ContainerState): ContainerState {
  if (state.status !== "running" && state.status !== "paused") return state;
  if (state.pid !== undefined && isProcessState(state.pid, state.pidStartTime)) return state;
  const exit = readExitFile(dirs.exitFile);
  // Without an exit file the monitor died with its container (kill -9): the status is known,
  // the code is not; docker and podman show such containers as exited too.
  return {
    ...state,
    status: "exited",
    exitCode: exit?.code ?? -1,
    finishedAt: exit?.finishedAt ?? state.finishedAt ?? new Date().toISOString(),
  };
}

function configPathFor(paths: BoxPaths, id: string): { path: string; ephemeral: boolean } | undefined {
  const durable = containerDirs(paths, id, false);
  if (existsSync(durable.config)) return { path: durable.config, ephemeral: false };
  const ephemeral = containerDirs(paths, id, true);
  if (existsSync(ephemeral.config)) return { path: ephemeral.config, ephemeral: true };
  return undefined;
}

/**
 * The part of a configuration that `box stats` lists by, validated alone: valibot's cost grows
 * with the schema, and the whole one took a quarter of a 50-container `box stats --no-stream`.
 */
const ConfigHeadSchema = v.object({
  id: ContainerConfigSchema.entries.id,
  name: ContainerConfigSchema.entries.name,
  created: ContainerConfigSchema.entries.created,
  options: v.object({ network: RunOptionsSchema.entries.network }),
});
export type ConfigHead = v.InferOutput<typeof ConfigHeadSchema>;

/** A container record whose configuration is only its head. */
export interface ContainerHead {
  config: ConfigHead;
  state: ContainerState;
  dirs: ContainerDirs;
}

function loadWith<C>(paths: BoxPaths, id: string, schema: v.GenericSchema<unknown, C>): { config: C; state: ContainerState; dirs: ContainerDirs } | undefined {
  const where = configPathFor(paths, id);
  if (!where) return undefined;
  const config = readJson(where.path, schema, "container configuration");
  if (!config) return undefined;
  const dirs = containerDirs(paths, id, where.ephemeral);
  // No state file: created before a reboot wiped the state root, or never started.
  const state = readJson(dirs.stateFile, ContainerStateSchema, "container state") ?? { status: "created" as const };
  return { config, state: reconcile(dirs, state), dirs };
}

export function loadContainer(paths: BoxPaths, id: string): ContainerRecord | undefined {
  return loadWith(paths, id, ContainerConfigSchema);
}

function ids(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return [];
  }
}

function listWith<C extends { created: string }>(paths: BoxPaths, schema: v.GenericSchema<unknown, C>): { config: C; state: ContainerState; dirs: ContainerDirs }[] {
  const all = new Set([...ids(join(paths.storage, "containers")), ...ids(join(paths.state, "containers"))]);
  const out: { config: C; state: ContainerState; dirs: ContainerDirs }[] = [];
  for (const id of all) {
    const r = loadWith(paths, id, schema);
    if (r) out.push(r);
  }
  // ISO 8601 times sort as strings; localeCompare (ICU) cost 5 ms per 50 containers.
  return out.sort((a, b) => (a.config.created < b.config.created ? 1 : a.config.created > b.config.created ? -1 : 0));
}

export function listContainers(paths: BoxPaths): ContainerRecord[] {
  return listWith(paths, ContainerConfigSchema);
}

/** listContainers for a caller that needs only each configuration's head (box stats). */
export function listContainerHeads(paths: BoxPaths): ContainerHead[] {
  return listWith(paths, ConfigHeadSchema);
}

/** docker's lookup: full id, exact name, then a unique id prefix. */
export function findContainer(paths: BoxPaths, ref: string): ContainerRecord {
  if (/^[0-9a-f]{64}$/.test(ref)) {
    const r = loadContainer(paths, ref);
    if (r) return r;
  }
  try {
    const id = readlinkSync(join(namesDir(paths), ref));
    const r = loadContainer(paths, id);
    if (r) return r;
  } catch {
    // not a name
  }
  if (/^[0-9a-f]{1,63}$/.test(ref)) {
    const all = new Set([...ids(join(paths.storage, "containers")), ...ids(join(paths.state, "containers"))]);
    const matches = [...all].filter((id) => id.startsWith(ref));
    if (matches.length > 1) {
      throw new BoxError("E_INVALID_INPUT", `multiple containers match the id prefix "${ref}"`, { hint: "give more characters of the id, or the name" });
    }
    const r = matches[0] ? loadContainer(paths, matches[0]) : undefined;
    if (r) return r;
  }
  throw new BoxError("E_NOT_FOUND", `no such container: ${ref}`, { hint: "see 'box ps -a' for the containers that exist" });
}

export function saveState(dirs: ContainerDirs, state: ContainerState): void {
  writeJsonAtomic(dirs.stateFile, state, { durable: false });
}

export function saveConfig(dirs: ContainerDirs, config: ContainerConfig): void {
  // A foreground --rm container keeps its files under the volatile state root and is gone at
  // exit: its config need not survive a power cut, and the two fsyncs cost ~1.7 ms on ext4.
  writeJsonAtomic(dirs.config, config, { durable: !dirs.config.startsWith(`${dirs.state}/`) });
}
