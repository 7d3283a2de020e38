/** How an error reaches the user: one line, `box: <what went wrong>: <cause>; <how to fix it>`. */
import { BoxError, describe } from "../../core/errors.ts";
import { err as writeError } from "./output.ts";

export function renderError(err: unknown, debug = false): string {
  const hint = err instanceof BoxError && err.hint ? `; ${err.hint}` : "";
  let text = `box: ${describe(err)}${hint}`;
  if (debug && err instanceof Error && err.stack) text += `\n${err.stack}`;
  return text;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof BoxError ? err.exitCode : 125;
}

/**
 * docker's CLI exits 1 when the engine refuses a command other than run (125 is run's status,
 * and stays the status of flag errors everywhere). Commands report such failures through this.
 */
export function reportFailure(err: unknown, debug = false): number {
  writeError(`${renderError(err, debug)}\n`);
  return 1;
}
