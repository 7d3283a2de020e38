/** Where something is in a Dockerfile, and the one error shape the parser throws. */
import { BoxError } from "../../errors.ts";

export interface SourceLocation {
  file: string;
  line: number;
  col: number;
}

export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.col}`;
}

/** `Dockerfile:3:1: unknown instruction: FOO` — docker's "dockerfile parse error" with a column. */
export function syntaxError(loc: SourceLocation, message: string, hint?: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `${formatLocation(loc)}: ${message}`, hint === undefined ? {} : { hint });
}
