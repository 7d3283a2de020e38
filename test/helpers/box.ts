/**
 * Runs the compiled box binary (dist/box, built by `npm test`) the way a user would, as root or
 * as the unprivileged test user, each test file in storage and state roots of its own.
 */
import { chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REPO = join(import.meta.dir, "../..");
/** BOX_BIN points the tests at another build (see BOX_OUT in scripts/build.ts). */
export const BOX = process.env.BOX_BIN ?? join(REPO, "dist/box");
export const TEST_USER = "boxtest";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface BoxEnv {
  /** Run as this user (root when undefined). */
  user?: { name: string; uid: number; gid: number };
  root: string;
  runroot: string;
  dispose(): void;
}

function lookupUser(name: string): { name: string; uid: number; gid: number } | undefined {
  const r = Bun.spawnSync(["id", "-u", name]);
  if (r.exitCode !== 0) return undefined;
  const g = Bun.spawnSync(["id", "-g", name]);
  return { name, uid: Number(r.stdout.toString().trim()), gid: Number(g.stdout.toString().trim()) };
}

export const testUser = lookupUser(TEST_USER);

/** Fresh roots for one test file; for a rootless env they belong to the test user. */
export function makeEnv(kind: "root" | "rootless"): BoxEnv {
  const base = mkdtempSync(join(tmpdir(), `box-test-${kind}-`));
  const root = join(base, "storage");
  const runroot = join(base, "state");
  mkdirSync(root);
  mkdirSync(runroot);
  const user = kind === "rootless" ? testUser : undefined;
  if (user) {
    for (const d of [base, root, runroot]) chownSync(d, user.uid, user.gid);
  }
  return {
    ...(user ? { user } : {}),
    root,
    runroot,
    dispose() {
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export function commandFor(env: BoxEnv, args: string[]): string[] {
  const cmd = [BOX, "--root", env.root, "--runroot", env.runroot, ...args];
  if (!env.user) return cmd;
  return [
    "setpriv", `--reuid=${env.user.uid}`, `--regid=${env.user.gid}`, "--init-groups", "--inh-caps=-all",
    "env", `HOME=/home/${env.user.name}`, `USER=${env.user.name}`, "XDG_RUNTIME_DIR=", ...cmd,
  ];
}

export async function box(env: BoxEnv, args: string[], opts: { stdin?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Result> {
  const proc = Bun.spawn(commandFor(env, args), {
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, BOX_DEBUG: "", ...opts.env },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Shorthand: run a shell snippet in a throwaway base container. */
export function sh(env: BoxEnv, script: string, flags: string[] = []): Promise<Result> {
  return box(env, ["run", "--rm", ...flags, "base", "/bin/sh", "-c", script]);
}
