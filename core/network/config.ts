/**
 * box's configuration file (`<config>/config.json`): what docker 1.5 took as daemon flags
 * (`--ipv6`, `--fixed-cidr-v6`, `--bip`) is configuration for a tool without a daemon. Read on
 * every use of the default network, validated like every file box reads.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";

export const BoxConfigSchema = v.object({
  /** Give the default network `box` IPv6: fe80::1 on box0, addresses from fixedCidrV6. */
  ipv6: v.optional(v.boolean(), false),
  fixedCidrV6: v.optional(v.string()),
  /** The default network's IPv4 subnet (docker's --bip, as a subnet). */
  defaultSubnet: v.optional(v.string()),
});

export type BoxConfig = v.InferOutput<typeof BoxConfigSchema>;

export function configFile(paths: BoxPaths): string {
  return join(paths.config, "config.json");
}

export function loadConfig(paths: BoxPaths): BoxConfig {
  const file = configFile(paths);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return v.parse(BoxConfigSchema, {});
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new BoxError("E_INVALID_INPUT", `config file \`${file}\` is not valid JSON: ${(e as Error).message}`, { hint: "fix or remove the file" });
  }
  const r = v.safeParse(BoxConfigSchema, raw);
  if (!r.success) {
    throw new BoxError("E_INVALID_INPUT", `config file \`${file}\`: ${v.summarize(r.issues).replace(/\n/g, " ")}`, { hint: "fix or remove the file" });
  }
  return r.output;
}
