/**
 * Which seccomp filter a container gets: docker's default, none (`seccomp=unconfined`,
 * `--privileged`), or a profile the user names (`seccomp=PATH`, or the JSON itself as docker's
 * API passes it), compiled for the capabilities the container ends up holding.
 */
import { existsSync, readFileSync } from "node:fs";
import { BoxError } from "../../errors.ts";
import { DEFAULT_CAPABILITIES } from "../caps.ts";
import { compileProfile, encodeProgram, kernelAtLeast } from "./compile.ts";
import { DEFAULT_PROFILE } from "./default.ts";
import { defaultFilterHex } from "./prebuilt.ts" with { type: "macro" };
import { parseProfile, type Profile } from "./profile.ts";

export type SeccompChoice =
  | { kind: "default" }
  | { kind: "unconfined" }
  | { kind: "custom"; profile: Profile; source: string };

/** The value of `--security-opt seccomp=VALUE`. */
export function parseSeccompOption(value: string): SeccompChoice {
  if (value === "unconfined") return { kind: "unconfined" };
  if (value === "") {
    throw new BoxError("E_INVALID_INPUT", "--security-opt seccomp: needs a value", { hint: "use seccomp=unconfined or seccomp=/path/to/profile.json" });
  }
  if (value.trimStart().startsWith("{")) return { kind: "custom", profile: parseProfile(value, "(inline JSON)"), source: "(inline JSON)" };
  return { kind: "custom", profile: parseProfile(readProfile(value), `\`${value}\``), source: value };
}

function readProfile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new BoxError("E_INVALID_INPUT", `--security-opt seccomp: cannot read \`${path}\`: ${(e as NodeJS.ErrnoException).code ?? e}`, {
      hint: "give the path of a JSON seccomp profile, or seccomp=unconfined",
    });
  }
}

/**
 * `seccomp=PATH` as docker's CLI sends it: the profile's content, compacted, checked first. The
 * container then keeps its filter when the file changes or goes (a restart, `box start` from
 * another directory), and inspect shows it, as docker's does.
 */
export function inlineSeccompOption(option: string): string {
  const m = /^seccomp[=:]([\s\S]*)$/.exec(option);
  const value = m?.[1];
  if (value === undefined || value === "unconfined" || value === "" || value.trimStart().startsWith("{")) return option;
  const text = readProfile(value);
  parseProfile(text, `\`${value}\``);
  return `seccomp=${JSON.stringify(JSON.parse(text))}`;
}

let kernelRelease: string | undefined;

/** The default profile's filter for docker's default capabilities, compiled by the bundler. */
const PREBUILT_DEFAULT = defaultFilterHex();

const capKey = (c: string) => c.toUpperCase().replace(/^CAP_/, "");

/** The capabilities the default profile's rules test, of those in `caps`, as one string. */
function governing(caps: Iterable<string>): string {
  const named = new Set<string>();
  for (const r of DEFAULT_PROFILE.rules) for (const c of [...(r.includes?.caps ?? []), ...(r.excludes?.caps ?? [])]) named.add(capKey(c));
  const held = new Set<string>();
  for (const c of caps) if (named.has(capKey(c))) held.add(capKey(c));
  return [...held].sort().join(",");
}

/** Whether the prebuilt filter is the one this container would compile to. */
function prebuiltFits(caps: Iterable<string>, kernel: string): boolean {
  for (const r of DEFAULT_PROFILE.rules) if (r.includes?.minKernel && !kernelAtLeast(kernel, r.includes.minKernel)) return false;
  return governing(caps) === governing(DEFAULT_CAPABILITIES);
}

/**
 * The filter as struct sock_filter bytes, or undefined when the container runs unconfined. On a
 * kernel without seccomp filters the default is skipped, as docker skips it; a profile the user
 * asked for is an error there.
 */
export function seccompFilter(choice: SeccompChoice, caps: Iterable<string>): Uint8Array | undefined {
  if (choice.kind === "unconfined") return undefined;
  if (!filtersSupported()) {
    if (choice.kind === "default") return undefined;
    throw new BoxError("E_UNSUPPORTED", "seccomp profile given, but this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER)", {
      hint: "run without --security-opt seccomp=..., or on a kernel built with seccomp",
    });
  }
  kernelRelease ??= readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  if (choice.kind === "default" && prebuiltFits(caps, kernelRelease)) return Uint8Array.fromHex(PREBUILT_DEFAULT);
  const profile = choice.kind === "default" ? DEFAULT_PROFILE : choice.profile;
  return encodeProgram(compileProfile(profile, { caps, kernel: kernelRelease }));
}

let supported: boolean | undefined;

/** Whether this kernel filters syscalls (CONFIG_SECCOMP_FILTER): it then lists its actions. */
function filtersSupported(): boolean {
  supported ??= existsSync("/proc/sys/kernel/seccomp/actions_avail");
  return supported;
}

/** For `box info`. */
export function seccompSupported(): boolean {
  return filtersSupported();
}
