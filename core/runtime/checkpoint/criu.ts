/**
 * Running the `criu` program, the peer tool that does the checkpointing, and turning its failure
 * into one line: criu exits 1 whatever went wrong and says why only in its log, so box reads the
 * log back and names criu's first error (its most specific one) with the file and line it came from.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../../errors.ts";

/**
 * The criu executable: BOX_CRIU, else the first `criu` on PATH or in the sbin directories (a
 * newer criu installed under /usr/local comes before the distribution's).
 */
export function criuPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BOX_CRIU !== undefined && !existsSync(env.BOX_CRIU)) {
    throw new BoxError("E_INVALID_INPUT", `BOX_CRIU names \`${env.BOX_CRIU}\`, which does not exist`, { hint: "unset it to use the criu on PATH" });
  }
  const found = env.BOX_CRIU ?? Bun.which("criu", { PATH: [env.PATH ?? "", "/usr/local/sbin", "/usr/sbin", "/sbin"].filter(Boolean).join(":") }) ?? undefined;
  if (!found || !existsSync(found)) {
    throw new BoxError("E_UNSUPPORTED", "checkpoint/restore needs CRIU, and criu is not installed", { hint: "install it (Debian: apt-get install criu)" });
  }
  return found;
}

/** criu's first `Error (file:line): message` line, split; undefined when the log has none. */
export function firstCriuError(log: string): { where: string; message: string } | undefined {
  for (const line of log.split("\n")) {
    const m = /Error \(([^)]*)\): (.*)$/.exec(line);
    if (m) return { where: m[1] as string, message: (m[2] as string).trim() };
  }
  return undefined;
}

/** The error for a failed `criu <verb>`, naming criu's own reason and where its log is. */
export function criuFailure(verb: "dump" | "restore", logPath: string, status?: number): BoxError {
  let log = "";
  try {
    log = readFileSync(logPath, "utf8");
  } catch {
    // No log: criu failed before it could open one (bad arguments, not executable).
  }
  const first = firstCriuError(log);
  const why = first ? `${first.message} (criu/${first.where.replace(/^criu\//, "")})` : `criu exited with status ${status ?? "unknown"}`;
  return new BoxError("E_SYSCALL", `criu ${verb} failed: ${why}`, { hint: `criu's full log is ${logPath}` });
}

/** Run criu to completion; its log goes to `<workDir>/<logName>`. */
export async function runCriu(verb: "dump" | "restore", args: string[], workDir: string, logName: string): Promise<void> {
  const proc = Bun.spawn([criuPath(), verb, "-W", workDir, "-o", logName, "-v4", ...args], { stdio: ["ignore", "ignore", "ignore"] });
  const status = await proc.exited;
  if (status !== 0) throw criuFailure(verb, join(workDir, logName), status);
}
