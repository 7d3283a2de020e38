/**
 * A RUN's --mount options made real: bind (context or another stage), cache, tmpfs, secret and
 * ssh. Each gives the runtime a mount, the step's cache key a part, and the step a mount point
 * to make and take away again. A secret is written to a private directory under the state root
 * (tmpfs on most hosts) for the one step and removed after it; its bytes never reach the key.
 * An ssh mount that names mode, uid or gid gets a relay socket of that mode and owner
 * (agent-proxy.ts); otherwise the agent's own socket is bound.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { BoxError } from "../errors.ts";
import type { OwnerEntry } from "../image/owner-list.ts";
import { restoreOwners } from "../image/userns-chown.ts";
import { removeTree } from "../state/remove.ts";
import { formatLocation } from "./dockerfile/errors.ts";
import type { Instruction } from "./dockerfile/types.ts";
import type { StageEvaluator } from "./evaluate.ts";
import { cleanPath } from "./ignore.ts";
import { startAgentProxy, type AgentProxy } from "./agent-proxy.ts";
import { readSecret } from "./secrets.ts";
import { hashPaths } from "./sources.ts";
import type { StepContext } from "./state.ts";

type RunInstruction = Instruction & { kind: "RUN" };

export interface PreparedMounts {
  mounts: string[];
  tmpfs: string[];
  /** Mount points, relative to the root, and whether each is a file. */
  targets: { rel: string; file: boolean }[];
  /** `NAME=value` for secrets given as environment variables, and SSH_AUTH_SOCK. */
  env: string[];
  /** Content identities for the cache key (for secrets and ssh, the spec only). */
  key: unknown[];
  /** Secret files to write when the step really runs (a cache hit writes none). */
  secretFiles: { value: Uint8Array; rel: string; mode: number; uid: number; gid: number }[];
  /** Agents the step reaches through a relay of its own mode and owner. */
  agents: { socket: string; rel: string; mode: number; uid: number; gid: number }[];
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(true|1)$/i.test(v);
}

function missing(ins: RunInstruction, what: string, hint: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `${formatLocation(ins.loc)}: RUN --mount: ${what}`, { hint });
}

export async function prepareMounts(sc: StepContext, ins: RunInstruction, ev: StageEvaluator): Promise<PreparedMounts> {
  const out: PreparedMounts = { mounts: [], tmpfs: [], targets: [], env: [], key: [], secretFiles: [], agents: [] };
  let sshCount = 0;
  for (const m of ins.mounts) {
    const opt = (k: string): string | undefined => {
      const v = m.options.get(k);
      return v === undefined ? undefined : ev.word(v, ins.loc);
    };
    const absOf = (target: string) => cleanPath(target.startsWith("/") ? target : `${ev.config.WorkingDir || "/"}/${target}`);
    const explicit = opt("target") ?? opt("dst") ?? opt("destination");
    if (m.type === "secret") {
      secretMount(sc, ins, opt, explicit === undefined ? undefined : absOf(explicit), out);
      continue;
    }
    if (m.type === "ssh") {
      sshMount(sc, ins, opt, explicit === undefined ? undefined : absOf(explicit), sshCount++, out);
      continue;
    }
    const rel = absOf(explicit ?? "");
    const abs = `/${rel}`;
    if (m.type === "tmpfs") {
      const size = opt("size");
      out.tmpfs.push(size === undefined ? abs : `${abs}:size=${size}`);
      out.targets.push({ rel, file: false });
      out.key.push({ tmpfs: abs, size });
      continue;
    }
    if (m.type === "cache") {
      const id = opt("id") ?? abs;
      const dir = join(sc.paths.storage, "build-cache", "mounts", new Bun.CryptoHasher("sha256").update(id).digest("hex"));
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: Number.parseInt(opt("mode") ?? "755", 8) });
      out.mounts.push(`type=bind,source=${dir},target=${abs}`);
      out.targets.push({ rel, file: false });
      out.key.push({ cache: id, target: abs });
      continue;
    }
    const from = opt("from");
    const source = cleanPath(opt("source") ?? opt("src") ?? "");
    const root = from !== undefined ? await sc.stageRoot(from) : { dir: sc.context.dir, key: "context" };
    const host = source === "" ? root.dir : join(root.dir, source);
    if (!existsSync(host)) throw missing(ins, `source \`${source || "."}\` does not exist${from ? ` in ${from}` : " in the build context"}`, "bind a path that exists");
    const rw = opt("rw") ?? opt("readwrite");
    out.mounts.push(`type=bind,source=${host},target=${abs}${truthy(rw) ? "" : ",readonly"}`);
    out.targets.push({ rel, file: !statSync(host).isDirectory() });
    out.key.push({ bind: root.key, source, target: abs, rw, content: from === undefined ? hashPaths(sc.context.dir, [source || "."], sc.context.ignore) : root.key });
  }
  return out;
}

/** What a running step holds: its private directory and the agent relays serving it. */
export interface StepPrivates {
  release(): void;
}

/**
 * Write the step's secret files and start its agent relays in one private directory, adding
 * their mounts. The caller releases them when the step ends.
 */
export async function materializeMounts(sc: StepContext, out: PreparedMounts): Promise<StepPrivates> {
  if (out.secretFiles.length === 0 && out.agents.length === 0) return { release: () => undefined };
  const parent = join(sc.paths.state, "build-secrets");
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(parent, "s-"));
  const proxies: AgentProxy[] = [];
  const release = () => {
    for (const p of proxies) p.stop();
    removeTree(dir);
  };
  const refused: OwnerEntry[] = [];
  const own = (name: string, uid: number, gid: number) => {
    const host = sc.owners.toHost(uid, gid);
    if (host === undefined) return;
    try {
      chownSync(join(dir, name), host[0], host[1]);
    } catch {
      // Rootless: given from a user namespace below, as COPY --chown does.
      refused.push({ path: name, uid, gid });
    }
  };
  try {
    for (const [i, f] of out.secretFiles.entries()) {
      const file = join(dir, `secret-${i}`);
      writeFileSync(file, f.value, { mode: f.mode });
      chmodSync(file, f.mode);
      own(`secret-${i}`, f.uid, f.gid);
      out.mounts.push(`type=bind,source=${file},target=/${f.rel},readonly`);
    }
    for (const [i, a] of out.agents.entries()) {
      const sock = join(dir, `agent-${i}`);
      proxies.push(startAgentProxy(sock, a.socket));
      chmodSync(sock, a.mode);
      own(`agent-${i}`, a.uid, a.gid);
      out.mounts.push(`type=bind,source=${sock},target=/${a.rel}`);
    }
    if (refused.length > 0) await restoreOwners(dir, refused, "RUN --mount");
  } catch (e) {
    release();
    throw e;
  }
  return { release };
}

function numeric(v: string | undefined, dflt: number): number {
  return v === undefined ? dflt : Number.parseInt(v, 10);
}

function secretMount(sc: StepContext, ins: RunInstruction, opt: (k: string) => string | undefined, target: string | undefined, out: PreparedMounts): void {
  // BuildKit: src= names the secret too, and wins over id=; without either, the target's base name.
  const id = opt("source") ?? opt("src") ?? opt("id") ?? posix.basename(target ?? "");
  const envName = opt("env");
  const required = truthy(opt("required"));
  // With env= alone the secret is only a variable; a file too when a target is named.
  const rel = target ?? (envName === undefined ? cleanPath(`/run/secrets/${posix.basename(id)}`) : undefined);
  const mode = Number.parseInt(opt("mode") ?? "400", 8);
  const uid = numeric(opt("uid"), 0);
  const gid = numeric(opt("gid"), 0);
  out.key.push({ secret: id, target: rel, env: envName, required, mode, uid, gid });
  if (envName !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) throw missing(ins, `invalid env=${envName} for secret \`${id}\``, "name an environment variable");
  const source = sc.secrets.secrets.get(id);
  if (source === undefined) {
    if (required) throw missing(ins, `secret \`${id}\` is required but was not given to the build`, `pass it with box build --secret id=${id},src=FILE (or id=${id},env=VARIABLE)`);
    return;
  }
  const value = readSecret(sc.secrets, source);
  if (envName !== undefined) out.env.push(`${envName}=${new TextDecoder().decode(value)}`);
  if (rel === undefined) return;
  out.secretFiles.push({ value, rel, mode, uid, gid });
  out.targets.push({ rel, file: true });
}

function sshMount(sc: StepContext, ins: RunInstruction, opt: (k: string) => string | undefined, target: string | undefined, n: number, out: PreparedMounts): void {
  const id = opt("id") ?? "default";
  const required = truthy(opt("required"));
  const rel = target ?? `run/buildkit/ssh_agent.${n}`;
  out.key.push({ ssh: id, target: rel, required, mode: opt("mode"), uid: opt("uid"), gid: opt("gid") });
  const socket = sc.secrets.ssh.get(id);
  if (socket === undefined) {
    if (required) throw missing(ins, `ssh agent \`${id}\` is required but was not forwarded`, `pass it with box build --ssh ${id === "default" ? "default (uses $SSH_AUTH_SOCK)" : `${id}=/path/to/agent.sock`}`);
    return;
  }
  const mode = opt("mode");
  const uid = opt("uid");
  const gid = opt("gid");
  if (mode !== undefined || uid !== undefined || gid !== undefined) {
    out.agents.push({ socket, rel, mode: Number.parseInt(mode ?? "600", 8), uid: numeric(uid, 0), gid: numeric(gid, 0) });
  } else out.mounts.push(`type=bind,source=${socket},target=/${rel}`);
  out.targets.push({ rel, file: true });
  // The first agent is the one ssh and git find (BuildKit does the same).
  if (!out.env.some((e) => e.startsWith("SSH_AUTH_SOCK="))) out.env.push(`SSH_AUTH_SOCK=/${rel}`);
}
