/**
 * RUN: the command runs in a real container of the runtime, with the stage's layers as
 * lowerdirs, and whatever it changed (the overlay upper directory) becomes the step's layer.
 * Docker classic builder semantics: the shell form runs through SHELL (default /bin/sh -c),
 * build args are in the environment but not in the image, the network is none unless
 * `--network` says otherwise, and a non-zero exit fails the build naming the line.
 */
import { mkdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import { layerRoot } from "../image/store/layers.ts";
import { cleanupContainer, waitForExit } from "../runtime/lifecycle.ts";
import { createContainer, startContainer, type RunnableImage, type RunOptions } from "../runtime/run.ts";
import { loadContainer, readExitFile } from "../state/containers.ts";
import { stepKey } from "./cache.ts";
import { formatLocation } from "./dockerfile/errors.ts";
import type { Instruction } from "./dockerfile/types.ts";
import type { StageEvaluator } from "./evaluate.ts";
import { makeStub, removeStubs, type MountStubs } from "./mount-stubs.ts";
import { materializeMounts, prepareMounts, type PreparedMounts } from "./run-mounts.ts";
import { storeLayerFromDir, type LayerRef } from "./layer-writer.ts";
import { lookupPath, numericUser } from "./rootfs.ts";
import { lowerDirs, type ImageState, type StepContext } from "./state.ts";

type RunInstruction = Instruction & { kind: "RUN" };

/** A RUN that exited non-zero: the build's exit status is 1, as docker's. */
export class BuildStepError extends BoxError {
  constructor(message: string, readonly status: number) {
    super("E_INVALID_INPUT", message);
  }
}

/** The argv of a RUN, heredocs folded in the way BuildKit runs them. */
export function runArgv(ins: RunInstruction, ev: StageEvaluator): string[] {
  if (ins.form.kind === "exec") return ins.form.args;
  const shell = ev.commandArgv({ kind: "shell", command: "" }).slice(0, -1);
  const cmd = ins.form.command;
  if (ins.heredocs.length === 0) return [...shell, cmd];
  const only = ins.heredocs[0];
  if (ins.heredocs.length === 1 && only && /^<<-?["']?[A-Za-z_][A-Za-z0-9_.-]*["']?$/.test(cmd.trim())) {
    // A bare `RUN <<EOF` runs the document as the script; with a shebang, by its interpreter.
    if (!only.content.startsWith("#!")) return [...shell, only.content];
    const script = `f=$(mktemp) && cat > "$f" <<'BOX_HEREDOC_END'\n${only.content}BOX_HEREDOC_END\nchmod +x "$f" && "$f"; rc=$?; rm -f "$f"; exit $rc`;
    return [...shell, script];
  }
  return [...shell, `${cmd}\n${ins.heredocs.map((h) => `${h.content}${h.name}\n`).join("")}`];
}

/** Mount points the runtime had to create (files for /etc/hosts..., dirs for --mount targets). */
function dropMountPoints(upper: string, lowers: string[], rels: string[]): void {
  for (const rel of rels) {
    const p = join(upper, rel);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (lookupPath(lowers, rel) !== undefined) continue;
    try {
      if (st.isDirectory()) rmdirSync(p);
      else if (st.isFile() && st.size === 0) unlinkSync(p);
    } catch {
      // The command put something there: it belongs to the layer.
    }
  }
}

export interface RunResult {
  layer?: LayerRef;
  createdBy: string;
  key: string;
  cached: boolean;
}

export async function runStep(sc: StepContext, state: ImageState, ev: StageEvaluator, ins: RunInstruction): Promise<RunResult> {
  const argv = runArgv(ins, ev);
  const env = ev.runArgs();
  const createdBy = env.length > 0 ? `|${env.length} ${env.join(" ")} ${argv.join(" ")}` : argv.join(" ");
  const mounts = await prepareMounts(sc, ins, ev);
  const network = ins.network === undefined || ins.network === "default" ? sc.network : ins.network;
  const key = stepKey(state.key, { run: argv, env, mounts: mounts.key, network });
  const hit = sc.cache.get(key);
  if (hit) {
    sc.events.cached?.(key);
    return { ...(hit.layer ? { layer: hit.layer } : {}), createdBy, key, cached: true };
  }
  const privates = await materializeMounts(sc, mounts);
  try {
    return await runFresh(sc, state, ins, { argv, env, createdBy, key, mounts, network });
  } finally {
    privates.release();
  }
}

interface FreshRun {
  argv: string[];
  /** Build args: in the history line. */
  env: string[];
  createdBy: string;
  key: string;
  mounts: PreparedMounts;
  network: string;
}

async function runFresh(sc: StepContext, state: ImageState, ins: RunInstruction, r: FreshRun): Promise<RunResult> {
  const { argv, env, createdBy, key, mounts, network } = r;

  const lowers = lowerDirs((d) => layerRoot(sc.layout, d), state);
  const workdir = state.config.WorkingDir || "/";
  const user = state.config.User ? numericUser(lowers, state.config.User, formatLocation(ins.loc)) : undefined;
  const image: RunnableImage = {
    name: "box-build",
    layers: lowers.length > 0 ? lowers : [sc.emptyLower()],
    config: { env: state.config.Env ?? [], cmd: [], entrypoint: [], workingDir: workdir, user: "" },
  };
  const opts: RunOptions = {
    // Secrets given as variables join the build args here only: never in the history line.
    command: argv, entrypoint: "", env: [...env, ...mounts.env], envFiles: [], workdir,
    ...(user ? { user: `${user.uid}:${user.gid}` } : {}),
    readOnly: false, readOnlyTmpfs: false, volumes: [], tmpfs: mounts.tmpfs, mounts: mounts.mounts,
    network, dns: [], rm: false, detach: sc.quiet, interactive: false, init: false, privileged: false,
    capAdd: [], capDrop: [], securityOpt: [],
  };
  const { record, undo } = createContainer(sc.paths, image, opts);
  const stubs: MountStubs = { made: [] };
  try {
    for (const t of mounts.targets) makeStub(record.dirs.upper, image.layers, t.rel, t.file, stubs);
    // The runtime needs the working directory to exist; creating it in the upper directory puts
    // it in this step's layer, as buildah does.
    if (workdir !== "/" && lookupPath(image.layers, workdir) === undefined) mkdirSync(join(record.dirs.upper, workdir), { recursive: true, mode: 0o755 });
    let code: number;
    if (sc.quiet) {
      // Detached, the monitor writes the output to the container's log instead of box's stdout.
      await startContainer(sc.paths, record, { detach: true });
      await waitForExit(loadContainer(sc.paths, record.config.id) ?? record);
      let exit = readExitFile(record.dirs.exitFile);
      for (let i = 0; exit === undefined && i < 200; i++) {
        await Bun.sleep(5);
        exit = readExitFile(record.dirs.exitFile);
      }
      await cleanupContainer(sc.paths, record.config.id);
      code = exit?.code ?? 125;
      if (code !== 0) sc.events.failedOutput?.(readLog(record.dirs.log));
    } else {
      code = await startContainer(sc.paths, record, { detach: false });
    }
    if (code !== 0) {
      throw new BuildStepError(`${formatLocation(ins.loc)}: ${ins.text.split("\n")[0]}: the command '${argv.join(" ")}' returned a non-zero code: ${code}`, 1);
    }
    dropMountPoints(record.dirs.upper, image.layers, ["etc/hosts", "etc/hostname", "etc/resolv.conf", ...mounts.targets.map((t) => t.rel)]);
    removeStubs(record.dirs.upper, stubs);
    const layer = await storeLayerFromDir(sc.layout, record.dirs.upper, { owners: sc.owners.toImage });
    return { layer, createdBy, key, cached: false };
  } finally {
    for (const fn of undo.reverse()) {
      try {
        await fn();
      } catch {
        // Best effort: the step's own result or error is what counts.
      }
    }
  }
}

/** The text of a CRI-format container log. */
function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => l.replace(/^\S+ (stdout|stderr) [FP] /, "")).join("\n");
  } catch {
    return "";
  }
}
