/**
 * What `box build --secret` and `--ssh` name, parsed with buildx's rules. Values are read only
 * when a RUN step mounts them, never stored, logged or hashed: a cache key holds the mount's
 * spec alone, so a changed secret reuses the cache as docker's does.
 *
 *   --secret id=ID[,type=file|env][,src=PATH|source=PATH][,env=VAR]
 *     type=env with src= names the variable; with neither src= nor env=, the variable named ID
 *     when it is set, else the file named ID.
 *   --ssh default|ID[=SOCKET]    `default` alone means $SSH_AUTH_SOCK.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import * as v from "valibot";
import { BoxError } from "../errors.ts";

export type SecretSource = { kind: "file"; path: string } | { kind: "env"; name: string };

export interface BuildSecrets {
  secrets: Map<string, SecretSource>;
  /** Agent socket of each --ssh id. */
  ssh: Map<string, string>;
  env: NodeJS.ProcessEnv;
}

/** BuildKit refuses larger secrets: they are meant for tokens and keys, not data. */
const MAX_SECRET = 500 * 1024;

const SecretSpec = v.strictObject({
  type: v.optional(v.picklist(["file", "env"])),
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]+$/)),
  src: v.optional(v.pipe(v.string(), v.minLength(1))),
  env: v.optional(v.pipe(v.string(), v.minLength(1))),
});

const HINT = "write --secret id=NAME,src=FILE or --secret id=NAME,env=VARIABLE";

function fields(spec: string, flag: string, hint: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new BoxError("E_INVALID_INPUT", `${flag}: invalid field \`${part}\` in \`${spec}\`: expected key=value`, { hint });
    let key = part.slice(0, eq).trim().toLowerCase();
    if (key === "source") key = "src";
    out[key] = part.slice(eq + 1);
  }
  return out;
}

export function parseSecretSpec(spec: string, env: NodeJS.ProcessEnv = process.env): { id: string; source: SecretSource } {
  const parsed = v.safeParse(SecretSpec, fields(spec, "--secret", HINT));
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const key = issue.path?.[0]?.key;
    const what = issue.type === "strict_object" ? `unexpected key \`${String(key)}\`` : key === undefined ? issue.message : `invalid ${String(key)}`;
    throw new BoxError("E_INVALID_INPUT", `--secret ${spec}: ${what}`, { hint: HINT });
  }
  const { type, id, src, env: name } = parsed.output;
  if (type === "env" || (type === undefined && name !== undefined && src === undefined)) {
    return { id, source: { kind: "env", name: name ?? src ?? id } };
  }
  if (type === undefined && src === undefined && env[id] !== undefined) return { id, source: { kind: "env", name: id } };
  const path = resolve(src ?? id);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new BoxError("E_NOT_FOUND", `--secret ${spec}: \`${path}\`: no such file`, { hint: HINT });
  }
  if (!st.isFile()) throw new BoxError("E_INVALID_INPUT", `--secret ${spec}: \`${path}\` is not a regular file`, { hint: HINT });
  if (st.size > MAX_SECRET) throw new BoxError("E_INVALID_INPUT", `--secret ${spec}: \`${path}\` is ${st.size} bytes, over the 500 KiB a secret may hold`);
  return { id, source: { kind: "file", path } };
}

export function parseSshSpec(spec: string, env: NodeJS.ProcessEnv = process.env): { id: string; socket: string } {
  const eq = spec.indexOf("=");
  const id = eq < 0 ? spec : spec.slice(0, eq);
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new BoxError("E_INVALID_INPUT", `--ssh ${spec}: invalid id \`${id}\``, { hint: "write --ssh default, or --ssh ID=/path/to/agent.sock" });
  let socket = eq < 0 ? undefined : spec.slice(eq + 1);
  if (socket === undefined || socket === "") {
    if (id !== "default") throw new BoxError("E_INVALID_INPUT", `--ssh ${spec}: no socket given for \`${id}\``, { hint: `write --ssh ${id}=/path/to/agent.sock` });
    socket = env.SSH_AUTH_SOCK;
    if (socket === undefined || socket === "") throw new BoxError("E_INVALID_INPUT", "--ssh default: SSH_AUTH_SOCK is not set", { hint: "start an agent (eval $(ssh-agent); ssh-add) or write --ssh default=/path/to/agent.sock" });
  }
  if (socket.includes(",")) throw new BoxError("E_INVALID_INPUT", `--ssh ${spec}: box forwards one agent socket per id, not key files`, { hint: "load the keys into an agent with ssh-add and pass its socket" });
  const path = resolve(socket);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new BoxError("E_NOT_FOUND", `--ssh ${spec}: \`${path}\`: no such socket`, { hint: "give the path of a running ssh-agent's socket" });
  }
  if (!st.isSocket()) throw new BoxError("E_INVALID_INPUT", `--ssh ${spec}: \`${path}\` is not a socket`, { hint: "box forwards an agent socket; load key files with ssh-add into an agent" });
  return { id, socket: path };
}

export function parseBuildSecrets(secretSpecs: string[], sshSpecs: string[], env: NodeJS.ProcessEnv = process.env): BuildSecrets {
  const secrets = new Map<string, SecretSource>();
  for (const s of secretSpecs) {
    const { id, source } = parseSecretSpec(s, env);
    secrets.set(id, source);
  }
  const ssh = new Map<string, string>();
  for (const s of sshSpecs) {
    const { id, socket } = parseSshSpec(s, env);
    ssh.set(id, socket);
  }
  return { secrets, ssh, env };
}

/** The secret's bytes; an unset variable is empty, as BuildKit's store gives it. */
export function readSecret(b: BuildSecrets, source: SecretSource): Uint8Array {
  if (source.kind === "env") return new TextEncoder().encode(b.env[source.name] ?? "");
  try {
    return readFileSync(source.path);
  } catch (e) {
    throw new BoxError("E_NOT_FOUND", `secret file \`${source.path}\`: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}
