/**
 * box's registry settings, `<config>/registries.json` (/etc/box for root, ~/.config/box rootless):
 *
 *   { "unqualified-search-registries": ["docker.io"], "insecure-registries": ["registry.lan:5000"] }
 *
 * The names follow podman's registries.conf. With no file, short names ("alpine") are looked up
 * locally only and never pulled: podman's rule that an unconfigured machine does not guess which
 * registry a short name means, since the first registry to answer could serve anything.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { isValidRegistry } from "./reference.ts";

const Registry = v.pipe(v.string(), v.check(isValidRegistry, "a registry is host[:port], without scheme or path"));

const RegistriesFile = v.object({
  "unqualified-search-registries": v.optional(v.array(Registry), []),
  "insecure-registries": v.optional(v.array(Registry), []),
});

export interface RegistriesConfig {
  /** Where short names are pulled from, in order. */
  search: string[];
  /** Registries spoken to over plain HTTP (loopback ones always are). */
  insecure: string[];
  /** The file it came from, for messages. */
  path: string;
}

export function registriesConfigPath(paths: BoxPaths): string {
  return join(paths.config, "registries.json");
}

export function loadRegistriesConfig(paths: BoxPaths): RegistriesConfig {
  const path = registriesConfigPath(paths);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { search: [], insecure: [], path };
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new BoxError("E_INVALID_INPUT", `\`${path}\` is not JSON: ${(cause as Error).message}`, { hint: "fix or remove the file" });
  }
  const parsed = v.safeParse(RegistriesFile, raw);
  if (!parsed.success) throw new BoxError("E_INVALID_INPUT", `\`${path}\` is invalid: ${v.summarize(parsed.issues)}`, { hint: "fix or remove the file" });
  return { search: parsed.output["unqualified-search-registries"], insecure: parsed.output["insecure-registries"], path };
}
