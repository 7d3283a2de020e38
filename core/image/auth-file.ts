/**
 * Registry credentials where podman and docker keep them. `box login` writes podman's auth.json
 * ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
 * /run/containers/<uid>/auth.json); lookups also read docker's ~/.docker/config.json, so a
 * `docker login` done before works too. Both files share one shape:
 *   { "auths": { "registry.example": { "auth": base64("user:password") } } }
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import { writeJsonAtomic, withLock } from "../state/atomic.ts";
import type { Credentials } from "./registry/client.ts";

const AuthFile = v.looseObject({
  auths: v.optional(v.record(v.string(), v.looseObject({ auth: v.optional(v.string()) })), {}),
});
type AuthFile = v.InferOutput<typeof AuthFile>;

export function authFilePath(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "containers/auth.json");
  return `/run/containers/${uid}/auth.json`;
}

function dockerConfigPath(env: NodeJS.ProcessEnv): string | undefined {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, "config.json");
  return env.HOME ? join(env.HOME, ".docker/config.json") : undefined;
}

function readAuthFile(path: string): AuthFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return { auths: {} };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new BoxError("E_INVALID_INPUT", `credentials file \`${path}\` is not JSON`, { cause, hint: "fix or remove the file" });
  }
  const parsed = v.safeParse(AuthFile, raw);
  if (!parsed.success) throw new BoxError("E_INVALID_INPUT", `credentials file \`${path}\` is invalid: ${v.summarize(parsed.issues)}`, { hint: "fix or remove the file" });
  return parsed.output;
}

function decode(auth: string, path: string, registry: string): Credentials {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) throw new BoxError("E_INVALID_INPUT", `credentials for ${registry} in \`${path}\` are not base64 of user:password`, { hint: `log in to ${registry} again` });
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** docker keys Docker Hub by its old URL; accept both spellings, and URL-shaped keys in general. */
function keysFor(registry: string): string[] {
  const keys = [registry, `https://${registry}`, `http://${registry}`];
  if (registry === "docker.io") keys.push("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io");
  return keys;
}

/** Stored credentials for `registry`, podman's file first, then docker's. */
export function findCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  for (const path of [authFilePath(env), dockerConfigPath(env)]) {
    if (path === undefined) continue;
    const file = readAuthFile(path);
    for (const key of keysFor(registry)) {
      const auth = file.auths[key]?.auth;
      if (auth) return decode(auth, path, registry);
    }
  }
  return undefined;
}

export function saveCredentials(registry: string, credentials: Credentials, path: string = authFilePath()): void {
  withLock(`${path}.lock`, () => {
    const file = readAuthFile(path);
    file.auths[registry] = { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64") };
    writeJsonAtomic(path, file, { mode: 0o600 });
  });
}

/** Forget `registry` (or every registry); returns whether anything was removed. */
export function removeCredentials(registry: string | undefined, path: string = authFilePath()): boolean {
  return withLock(`${path}.lock`, () => {
    const file = readAuthFile(path);
    const keys = registry === undefined ? Object.keys(file.auths) : keysFor(registry).filter((k) => k in file.auths);
    if (keys.length === 0) return false;
    for (const k of keys) delete file.auths[k];
    writeJsonAtomic(path, file, { mode: 0o600 });
    return true;
  });
}
