/**
 * docker's --restart policies, applied without a daemon: when a detached container exits, its
 * monitor calls box back (`box _cleanup`), and that decides here whether to start it again.
 */
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { loadContainer } from "../state/containers.ts";
import { startContainer, type ExitCommand } from "./run.ts";

export interface RestartPolicy {
  name: "no" | "on-failure" | "always" | "unless-stopped";
  /** on-failure:N — at most N restarts; 0 means no limit. */
  maxRetries: number;
}

export function parseRestartPolicy(spec: string): RestartPolicy {
  const [name, count] = spec.split(":", 2);
  if (name === "no" || name === "always" || name === "unless-stopped") {
    if (count !== undefined) throw new BoxError("E_INVALID_INPUT", `--restart: maximum retry count cannot be used with policy "${name}"`, { hint: "use on-failure:N" });
    return { name, maxRetries: 0 };
  }
  if (name === "on-failure") {
    const n = count === undefined ? 0 : Number(count);
    if (!Number.isInteger(n) || n < 0) throw new BoxError("E_INVALID_INPUT", `--restart: invalid retry count \`${count}\``, { hint: "use on-failure:N with N >= 0" });
    return { name, maxRetries: n };
  }
  throw new BoxError("E_INVALID_INPUT", `--restart: invalid restart policy \`${spec}\``, { hint: "use no, on-failure[:N], always or unless-stopped" });
}

/** Whether a container that exited with `code`, after `restarts` restarts, starts again. */
export function shouldRestart(policy: RestartPolicy, code: number, restarts: number, stoppedByUser: boolean): boolean {
  if (stoppedByUser) return false;
  switch (policy.name) {
    case "no":
      return false;
    case "always":
    case "unless-stopped":
      return true;
    case "on-failure":
      return code !== 0 && (policy.maxRetries === 0 || restarts < policy.maxRetries);
  }
}

/**
 * After a detached container exited and was cleaned up: start it again if its policy says so.
 * Returns whether it was restarted.
 */
export async function applyRestartPolicy(
  paths: BoxPaths,
  id: string,
  exitCommand: (id: string) => ExitCommand,
): Promise<boolean> {
  const r = loadContainer(paths, id);
  const policy = r?.config.options.restart;
  if (!r || !policy || r.state.status !== "exited") return false;
  const restarts = r.state.restartCount ?? 0;
  if (!shouldRestart(policy, r.state.exitCode ?? 0, restarts, r.state.stoppedByUser ?? false)) return false;
  await startContainer(paths, r, { detach: true, exitCommand: exitCommand(id), restartCount: restarts + 1 });
  return true;
}
