/**
 * `parseDockerfile(text, file)`: the whole Dockerfile as global ARGs and stages. Structural rules
 * live here: only ARG may come before the first FROM, stage names are unique.
 */
import { lex } from "./lexer.ts";
import { parseInstruction } from "./instructions.ts";
import { syntaxError } from "./errors.ts";
import type { Dockerfile, Instruction, Stage } from "./types.ts";

export type { Dockerfile, Instruction, Stage } from "./types.ts";

export function parseDockerfile(text: string, file = "Dockerfile"): Dockerfile {
  const { directives, instructions, emptyContinuationLines } = lex(text, file);
  const df: Dockerfile = { file, directives, globalArgs: [], stages: [], warnings: [] };
  for (const line of emptyContinuationLines) {
    df.warnings.push({ loc: { file, line, col: 1 }, rule: "NoEmptyContinuation", message: "Empty continuation line" });
  }
  let stage: Stage | undefined;
  const names = new Map<string, number>();
  for (const raw of instructions) {
    const ins: Instruction = parseInstruction(raw, directives.escape);
    if (raw.written !== raw.keyword && raw.written !== raw.keyword.toLowerCase()) {
      df.warnings.push({ loc: raw.loc, rule: "ConsistentInstructionCasing", message: `Command '${raw.written}' should be consistently cased` });
    }
    if (ins.kind === "FROM") {
      if (ins.name !== undefined) {
        const prev = names.get(ins.name);
        if (prev !== undefined) {
          throw syntaxError(ins.loc, `duplicate stage name \`${ins.name}\`: it was already used by stage ${prev}`, "give every stage its own AS name");
        }
        names.set(ins.name, df.stages.length);
        const asWord = /\s(as)\s/i.exec(raw.args)?.[1];
        if (asWord !== undefined && asWord !== "AS" && raw.keyword === raw.written) {
          df.warnings.push({ loc: raw.loc, rule: "FromAsCasing", message: "'as' and 'FROM' keywords' casing do not match" });
        }
      }
      stage = { index: df.stages.length, ...(ins.name !== undefined ? { name: ins.name } : {}), from: ins, instructions: [] };
      df.stages.push(stage);
      continue;
    }
    if (stage === undefined) {
      if (ins.kind !== "ARG") {
        throw syntaxError(ins.loc, `${ins.kind} before the first FROM: only ARG may come before FROM`, "start the Dockerfile with FROM <image>");
      }
      df.globalArgs.push(ins);
      continue;
    }
    if (ins.kind === "MAINTAINER") df.warnings.push({ loc: ins.loc, rule: "MaintainerDeprecated", message: "The MAINTAINER instruction is deprecated, use a label instead to define an image author" });
    if ((ins.kind === "ENV" || ins.kind === "LABEL") && ins.legacy) {
      df.warnings.push({ loc: ins.loc, rule: "LegacyKeyValueFormat", message: `"${ins.kind} key=value" should be used instead of legacy "${ins.kind} key value" format` });
    }
    if ((ins.kind === "CMD" || ins.kind === "ENTRYPOINT") && ins.form.kind === "shell") {
      df.warnings.push({ loc: ins.loc, rule: "JSONArgsRecommended", message: `JSON arguments recommended for ${ins.kind} to prevent unintended behavior related to OS signals` });
    }
    stage.instructions.push(ins);
  }
  if (df.stages.length === 0) {
    throw syntaxError({ file, line: Math.max(1, instructions.at(-1)?.endLine ?? 1), col: 1 }, "the Dockerfile has no FROM instruction", "start the Dockerfile with FROM <image>");
  }
  for (const s of df.stages) {
    for (const kind of ["CMD", "ENTRYPOINT", "HEALTHCHECK"] as const) {
      const all = s.instructions.filter((i) => i.kind === kind);
      for (const extra of all.slice(0, -1)) {
        df.warnings.push({ loc: extra.loc, rule: "MultipleInstructionsDisallowed", message: `Multiple ${kind} instructions should not be used in the same stage because only the last one will be used` });
      }
    }
  }
  return df;
}
