/** Shared by the container commands: argument checks and the one-line status docker shows. */
import { BoxError } from "../../core/errors.ts";
import type { ContainerRecord } from "../../core/state/containers.ts";
import { ago, humanDuration } from "../render/time.ts";

export function requireArgs(command: string, usage: string, positionals: string[], min: number, max = Number.POSITIVE_INFINITY): void {
  if (positionals.length < min || positionals.length > max) {
    const want = max === min ? `exactly ${min}` : max === Number.POSITIVE_INFINITY ? `at least ${min}` : `${min} to ${max}`;
    throw new BoxError("E_INVALID_INPUT", `"box ${command}" requires ${want} argument${min === 1 && max === min ? "" : "s"}`, { hint: `usage: ${usage}` });
  }
}

export function statusText(r: ContainerRecord, now = Date.now()): string {
  const s = r.state;
  if (s.status === "running") return `Up ${humanDuration(now - Date.parse(s.startedAt ?? r.config.created))}`;
  if (s.status === "paused") return `Up ${humanDuration(now - Date.parse(s.startedAt ?? r.config.created))} (Paused)`;
  if (s.status === "exited") {
    const code = s.exitCode === undefined || s.exitCode < 0 ? "unknown" : String(s.exitCode);
    return `Exited (${code}) ${s.finishedAt ? ago(s.finishedAt, now) : ""}`.trimEnd();
  }
  return "Created";
}

/** Run `fn` for each named container, docker-style: report each failure, keep going, fail at the end. */
export async function forEach(names: string[], fn: (name: string) => Promise<void>, report: (line: string) => void): Promise<number> {
  let failed = false;
  for (const n of names) {
    try {
      await fn(n);
    } catch (e) {
      failed = true;
      report(e instanceof Error ? e.message + (e instanceof BoxError && e.hint ? `; ${e.hint}` : "") : String(e));
    }
  }
  return failed ? 1 : 0;
}
