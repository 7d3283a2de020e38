/** `box login` / `box logout`: check credentials against the registry, then keep or forget them. */
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { authFilePath, removeCredentials, saveCredentials } from "./auth-file.ts";
import { connect } from "./copy/connect.ts";
import { DEFAULT_REGISTRY, isValidRegistry } from "./reference.ts";
import { loadRegistriesConfig } from "./registries-config.ts";
import type { Credentials } from "./registry/client.ts";

/** "https://ghcr.io/" or "index.docker.io" → the registry as references name it. */
export function normalizeServer(server: string | undefined): string {
  if (server === undefined || server === "") return DEFAULT_REGISTRY;
  const host = server.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  const registry = host === "index.docker.io" || host === "registry-1.docker.io" ? DEFAULT_REGISTRY : host;
  if (!isValidRegistry(registry)) throw new BoxError("E_INVALID_INPUT", `invalid registry "${server}"`, { hint: "give a host[:port], e.g. ghcr.io or localhost:5000" });
  return registry;
}

export interface LoginOptions {
  tlsVerify?: boolean | undefined;
  authfile?: string | undefined;
}

export async function login(paths: BoxPaths, server: string | undefined, credentials: Credentials, options: LoginOptions = {}): Promise<string> {
  const registry = normalizeServer(server);
  const client = connect(registry, loadRegistriesConfig(paths), { tlsVerify: options.tlsVerify, credentials });
  await client.login();
  saveCredentials(registry, credentials, options.authfile ?? authFilePath());
  return registry;
}

/** Returns the registry and whether there were credentials to remove. */
export function logout(server: string | undefined, options: { all?: boolean; authfile?: string | undefined } = {}): { registry: string; removed: boolean } {
  const path = options.authfile ?? authFilePath();
  if (options.all) return { registry: "", removed: removeCredentials(undefined, path) };
  const registry = normalizeServer(server);
  return { registry, removed: removeCredentials(registry, path) };
}
