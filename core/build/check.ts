/**
 * `box build --check`: parse the Dockerfile and evaluate every stage the target needs the way a
 * build would (ARG and ENV substitution, stage references, `--from` targets, undefined
 * variables) without running anything or fetching a base image. A base that is in the store
 * lends its environment; otherwise only PATH is assumed, as docker does for an unknown base.
 *
 * Findings are warnings (exit 0) unless `# check=error=true` makes them errors; rules can be
 * skipped with `# check=skip=Rule1,Rule2`. Parse errors and bad references throw.
 */
import type { BoxPaths } from "../paths.ts";
import { storeLayout } from "../image/store/layout.ts";
import { parseReference } from "../image/reference.ts";
import { localImage, stateOf } from "./base-image.ts";
import { syntaxError } from "./dockerfile/errors.ts";
import type { Dockerfile, Instruction, Stage } from "./dockerfile/types.ts";
import { parseDockerfile } from "./dockerfile/parse.ts";
import { evaluateGlobals, fromImage, StageEvaluator, type BuildArgs, type Finding } from "./evaluate.ts";
import { DEFAULT_PATH_ENV } from "./defaults.ts";
import type { RunConfig } from "./image-config.ts";
import { neededStages, stageRef, targetStage } from "./stages.ts";

export interface CheckResult {
  findings: Finding[];
  /** True when some finding is an error (a non-zero exit). */
  failed: boolean;
}

function checkDirective(df: Dockerfile): { skip: Set<string>; error: boolean } {
  const skip = new Set<string>();
  let error = false;
  for (const part of (df.directives.check ?? "").split(";")) {
    const [k, v = ""] = part.split("=", 2).map((x) => x.trim());
    if (k === "skip") for (const r of v.split(",")) skip.add(r.trim());
    if (k === "error") error = v === "true";
  }
  return { skip, error };
}

function checkFrom(df: Dockerfile, ref: string, current: number, ins: Instruction): void {
  if (stageRef(df, ref, current, ins) !== undefined) return;
  try {
    parseReference(ref);
  } catch {
    throw syntaxError(ins.loc, `\`${ref}\` is neither an earlier stage nor a valid image reference`, "name a stage defined above (FROM ... AS name) or an image");
  }
}

/** Evaluate one instruction as a build would, without executing it. */
function evaluate(df: Dockerfile, stage: Stage, ev: StageEvaluator, ins: Instruction): void {
  switch (ins.kind) {
    case "RUN":
      for (const m of ins.mounts) {
        for (const v of m.options.values()) ev.word(v, ins.loc);
        const from = m.options.get("from");
        if (from !== undefined) checkFrom(df, ev.word(from, ins.loc), stage.index, ins);
      }
      return;
    case "COPY":
    case "ADD": {
      for (const s of ins.sources) if (!s.startsWith("<<")) ev.word(s, ins.loc);
      ev.word(ins.dest, ins.loc);
      if (ins.chown !== undefined) ev.word(ins.chown, ins.loc);
      if (ins.checksum !== undefined) ev.word(ins.checksum, ins.loc);
      for (const e of ins.exclude) ev.word(e, ins.loc);
      if (ins.from !== undefined) checkFrom(df, ev.word(ins.from, ins.loc), stage.index, ins);
      return;
    }
    case "ONBUILD":
      ev.apply(ins);
      return;
    default:
      ev.apply(ins);
  }
}

export function checkDockerfile(paths: BoxPaths, text: string, file: string, buildArgs: BuildArgs, target: string | undefined): CheckResult {
  const df = parseDockerfile(text, file);
  const { skip, error } = checkDirective(df);
  const findings: Finding[] = df.warnings.map((w) => ({ ...w, level: "warning" as const }));
  const globals = evaluateGlobals(df, buildArgs, findings);
  const layout = storeLayout(paths.storage);
  const t = targetStage(df, target);
  const bases = new Map<number, string>();
  const baseOf = (s: Stage) => {
    let b = bases.get(s.index);
    if (b === undefined) bases.set(s.index, (b = fromImage(s.from, globals, df.directives.escape, findings)));
    return b;
  };
  const deps = neededStages(df, t, baseOf, globals);
  const configs = new Map<number, RunConfig>();
  for (const idx of [...deps.keys()].sort((a, b) => a - b)) {
    const stage = df.stages[idx] as Stage;
    const base = baseOf(stage);
    const from = stageRef(df, base, idx, stage.from);
    let config: RunConfig;
    if (from !== undefined) config = configs.get(from) ?? {};
    else if (base.toLowerCase() === "scratch") config = {};
    else {
      checkFrom(df, base, idx, stage.from);
      const local = localImage(paths, layout, base);
      config = local ? stateOf(layout, local).config : { Env: [DEFAULT_PATH_ENV] };
    }
    const ev = new StageEvaluator({ ...config }, globals, buildArgs, df.directives.escape, findings);
    for (const ins of stage.instructions) evaluate(df, stage, ev, ins);
    configs.set(idx, ev.config);
  }
  for (const name of buildArgs.values.keys()) {
    if (!buildArgs.consumed.has(name)) findings.push({ loc: { file, line: 1, col: 1 }, rule: "UnusedBuildArg", message: `build-arg [${name}] was not consumed`, level: "warning" });
  }
  const kept = findings.filter((f) => !skip.has(f.rule)).map((f) => (error ? { ...f, level: "error" as const } : f));
  kept.sort((a, b) => a.loc.line - b.loc.line);
  return { findings: kept, failed: kept.some((f) => f.level === "error") };
}
