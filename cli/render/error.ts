/** How an error reaches the user: one line, `box: <what went wrong>: <cause>; <how to fix it>`. */
import { BoxError, describe } from "../../core/errors.ts";

export function renderError(err: unknown, debug = false): string {
  const hint = err instanceof BoxError && err.hint ? `; ${err.hint}` : "";
  let text = `box: ${describe(err)}${hint}`;
  if (debug && err instanceof Error && err.stack) text += `\n${err.stack}`;
  return text;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof BoxError ? err.exitCode : 125;
}
