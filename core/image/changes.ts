/**
 * `--change` of `box import` and `box commit`: one Dockerfile instruction per flag, applied to an
 * image config the way a build would apply it. The Dockerfile parser and the stage evaluator do
 * the work, so `--change 'ENV PATH=$PATH:/opt/bin'` expands against the image's own Env exactly
 * as the same line in a Dockerfile would.
 */
import { BoxError } from "../errors.ts";
import { type BuildArgs, StageEvaluator } from "../build/evaluate.ts";
import { parseInstruction } from "../build/dockerfile/instructions.ts";
import { lex } from "../build/dockerfile/lexer.ts";
import type { RunConfig } from "../build/image-config.ts";

/** docker's list for `docker commit --change`, plus STOPSIGNAL, which podman also takes. */
export const CHANGE_INSTRUCTIONS = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"] as const;
const ALLOWED = new Set<string>(CHANGE_INSTRUCTIONS);

/** The parser prefixes `file:line:col: `; a one-line flag is better named by its own text. */
function restate(change: string, err: unknown): BoxError {
  if (!(err instanceof BoxError)) return new BoxError("E_INVALID_INPUT", `--change "${change}": ${(err as Error).message}`);
  const message = err.message.replace(/^--change:\d+:\d+: /, "");
  return new BoxError("E_INVALID_INPUT", `--change "${change}": ${message}`, err.hint === undefined ? {} : { hint: err.hint });
}

function unsupported(change: string, keyword: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `--change "${change}": ${keyword === "" ? "no instruction given" : `${keyword} is not supported here`}`, {
    hint: `--change accepts ${CHANGE_INSTRUCTIONS.join(", ")}`,
  });
}

/** Check every change before anything is written, so a typo costs nothing. */
export function validateChanges(changes: readonly string[]): void {
  applyChanges({}, changes);
}

/** The config with `changes` applied in order; the input is not modified. */
export function applyChanges(config: RunConfig, changes: readonly string[]): RunConfig {
  const buildArgs: BuildArgs = { values: new Map(), consumed: new Set() };
  const evaluator = new StageEvaluator(structuredClone(config), new Map(), buildArgs, "\\", []);
  for (const change of changes) {
    let instructions;
    try {
      instructions = lex(change, "--change").instructions;
    } catch (err) {
      throw restate(change, err);
    }
    if (instructions.length === 0) throw unsupported(change, "");
    for (const raw of instructions) {
      if (!ALLOWED.has(raw.keyword)) throw unsupported(change, raw.written);
      try {
        evaluator.apply(parseInstruction(raw, "\\"));
      } catch (err) {
        throw restate(change, err);
      }
    }
  }
  return evaluator.config;
}
