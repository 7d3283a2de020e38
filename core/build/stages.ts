/**
 * The stage graph: which stage a FROM, `COPY --from` or `RUN --mount=from=` names, and which
 * stages the target needs (only those run, as BuildKit does; the classic builder ran them all).
 */
import { BoxError } from "../errors.ts";
import { formatLocation, syntaxError } from "./dockerfile/errors.ts";
import { processWords } from "./dockerfile/expand.ts";
import type { Dockerfile, Instruction, Stage } from "./dockerfile/types.ts";

/** The stage `ref` names as seen from stage `current`, or undefined when it names an image. */
export function stageRef(df: Dockerfile, ref: string, current: number, ins: Instruction): number | undefined {
  if (/^\d+$/.test(ref)) {
    const n = Number(ref);
    if (n >= current) throw syntaxError(ins.loc, `invalid stage index ${ref}: it must refer to a previous stage (this is stage ${current})`);
    return n;
  }
  const name = ref.toLowerCase();
  const idx = df.stages.findIndex((s) => s.name === name);
  if (idx < 0) return undefined;
  if (idx >= current) {
    throw syntaxError(ins.loc, idx === current ? `circular dependency: stage \`${ref}\` refers to itself` : `stage \`${ref}\` is defined after this one: a stage can only use earlier stages`);
  }
  return idx;
}

/** Raw `--from` values of a stage's instructions, expanded with the global ARGs only. */
function fromRefs(ins: Instruction, globals: Map<string, string | undefined>, escape: string): string[] {
  const expand = (raw: string) => processWords(raw, (n) => globals.get(n), escape, { split: false }).words[0] ?? raw;
  if ((ins.kind === "COPY" || ins.kind === "ADD") && ins.from !== undefined) return [expand(ins.from)];
  if (ins.kind === "RUN") return ins.mounts.map((m) => m.options.get("from")).filter((f): f is string => f !== undefined).map(expand);
  return [];
}

export function targetStage(df: Dockerfile, target: string | undefined): Stage {
  if (target === undefined) return df.stages[df.stages.length - 1] as Stage;
  const s = df.stages.find((x) => x.name === target.toLowerCase());
  if (!s) {
    const names = df.stages.map((x) => x.name).filter(Boolean);
    throw new BoxError("E_INVALID_INPUT", `target stage "${target}" could not be found`, {
      hint: names.length > 0 ? `${formatLocation({ file: df.file, line: 1, col: 1 }).replace(/:1:1$/, "")} has stages: ${names.join(", ")}` : "the Dockerfile names no stage (FROM image AS name)",
    });
  }
  return s;
}

/** Stage indexes the target depends on (itself included), and each stage's direct dependencies. */
export function neededStages(df: Dockerfile, target: Stage, baseOf: (s: Stage) => string, globals: Map<string, string | undefined>): Map<number, number[]> {
  const deps = new Map<number, number[]>();
  const visit = (s: Stage) => {
    if (deps.has(s.index)) return;
    const direct = new Set<number>();
    const base = stageRef(df, baseOf(s), s.index, s.from);
    if (base !== undefined) direct.add(base);
    for (const ins of s.instructions) {
      for (const ref of fromRefs(ins, globals, df.directives.escape)) {
        const d = stageRef(df, ref, s.index, ins);
        if (d !== undefined) direct.add(d);
      }
    }
    deps.set(s.index, [...direct]);
    for (const d of direct) visit(df.stages[d] as Stage);
  };
  visit(target);
  return deps;
}
