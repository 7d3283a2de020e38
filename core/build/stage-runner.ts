/**
 * One stage, step by step: FROM, the base image's ONBUILD triggers, then each instruction.
 * Metadata steps change the config (a history entry with `empty_layer`); RUN, COPY and ADD add
 * a layer; every step goes through the cache, and the state's key follows what each step made.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { layerRoot } from "../image/store/layers.ts";
import { resultKey, stepKey } from "./cache.ts";
import { copyStep } from "./copy-step.ts";
import { lex } from "./dockerfile/lexer.ts";
import { parseInstruction } from "./dockerfile/instructions.ts";
import type { Instruction, Stage } from "./dockerfile/types.ts";
import type { StageEvaluator } from "./evaluate.ts";
import type { History } from "./image-config.ts";
import { cleanPath } from "./ignore.ts";
import { storeLayerFromDir, type LayerRef } from "./layer-writer.ts";
import { lookupPath } from "./rootfs.ts";
import { runStep } from "./run-step.ts";
import { lowerDirs, type ImageState, type StepContext } from "./state.ts";

export interface StageRun {
  stage: Stage;
  /** 1-based position among the stages this build runs, and their count. */
  position: number;
  stages: number;
  base: ImageState;
  baseText: string;
  ev: StageEvaluator;
  /** Set when another stage failed: stop between steps. */
  aborted: () => boolean;
}

/** The ONBUILD triggers of the base, as instructions located at the FROM line. */
function triggers(run: StageRun): Instruction[] {
  return (run.base.config.OnBuild ?? []).map((t) => {
    const [raw] = lex(t, run.stage.from.loc.file).instructions;
    return parseInstruction({ ...(raw as NonNullable<typeof raw>), loc: run.stage.from.loc, argsCol: run.stage.from.loc.col }, run.ev.escape);
  });
}

/** WORKDIR creates its directory when the image lacks it, in a layer of its own (docker does). */
async function workdirLayer(sc: StepContext, state: ImageState, dir: string, key: string): Promise<LayerRef | undefined> {
  const lowers = lowerDirs((d) => layerRoot(sc.layout, d), state);
  const rel = cleanPath(dir);
  if (rel === "" || lookupPath(lowers, rel) !== undefined) return undefined;
  const hit = sc.cache.get(key);
  if (hit?.layer) return hit.layer;
  const root = join(sc.scratch("workdir"), "diff");
  mkdirSync(root, { recursive: true });
  let cur = "";
  for (const part of rel.split("/")) {
    cur = cur === "" ? part : `${cur}/${part}`;
    const found = lookupPath(lowers, cur);
    if (!existsSync(join(root, cur))) mkdirSync(join(root, cur), { mode: found?.stat.isDirectory() ? found.stat.mode & 0o7777 : 0o755 });
  }
  return storeLayerFromDir(sc.layout, root, { owners: sc.owners.toImage, forced: new Map(rel.split("/").map((_, i, a) => [a.slice(0, i + 1).join("/"), [0, 0]])) });
}

export async function runStage(sc: StepContext, run: StageRun): Promise<ImageState> {
  const { ev } = run;
  let state: ImageState = { ...run.base, layers: [...run.base.layers], history: [...run.base.history] };
  const onbuild = triggers(run);
  // The triggers run now and are not inherited further (docker clears them).
  ev.config = { ...state.config };
  delete ev.config.OnBuild;
  const steps = [...onbuild, ...run.stage.instructions];
  const of = steps.length + 1;
  const step = (n: number, text: string) => sc.events.step?.({ stage: run.position, stages: run.stages, n, of, text });
  step(1, run.baseText);

  for (const [i, ins] of steps.entries()) {
    if (run.aborted()) break;
    step(i + 2, ins.kind === "ONBUILD" ? ins.text : ins.text.split("\n")[0] as string);
    let layer: LayerRef | undefined;
    let createdBy: string;
    let key: string;
    let cached = false;
    if (ins.kind === "RUN" || ins.kind === "COPY" || ins.kind === "ADD") {
      ev.config = { ...state.config, ...ev.config };
      const r = ins.kind === "RUN" ? await runStep(sc, { ...state, config: ev.config }, ev, ins) : await copyStep(sc, { ...state, config: ev.config }, ev, ins);
      ({ createdBy, key, cached } = r);
      layer = r.layer;
    } else {
      const before = ev.config;
      createdBy = ev.apply(ins) as string;
      key = stepKey(state.key, { meta: createdBy });
      if (ins.kind === "WORKDIR") {
        layer = await workdirLayer(sc, { ...state, config: before }, ev.config.WorkingDir ?? "/", key);
      }
      const hit = sc.cache.get(key);
      if (hit !== undefined && (hit.layer?.diffId ?? "") === (layer?.diffId ?? "")) {
        cached = true;
        sc.events.cached?.(key);
      }
    }
    const prev = sc.cache.get(key);
    const created = cached && prev ? prev.created : new Date().toISOString();
    if (!cached || !prev) sc.cache.put(key, { created, createdBy, ...(layer ? { layer } : {}) });
    const entry: History = { created, created_by: createdBy };
    if (ev.author !== undefined) entry.author = ev.author;
    if (layer === undefined) entry.empty_layer = true;
    state = {
      ...state,
      key: resultKey(key, layer),
      layers: layer ? [...state.layers, layer] : state.layers,
      config: ev.config,
      history: [...state.history, entry],
      ...(ev.author !== undefined ? { author: ev.author } : {}),
    };
    sc.events.stepDone?.(state.key);
  }
  return state;
}
