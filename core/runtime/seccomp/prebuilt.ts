/**
 * docker's default profile compiled at build time for docker's default capabilities, the filter
 * nearly every container gets. index.ts imports this as a Bun macro, so the bundler runs the
 * same compiler once and inlines its output: compiling at every start cost 3.5-4.5 ms, cold, in
 * the built binary. Containers with other capabilities are compiled at start as before.
 */
import { DEFAULT_CAPABILITIES } from "../caps.ts";
import { compileProfile, encodeProgram } from "./compile.ts";
import { DEFAULT_PROFILE } from "./default.ts";

/** Newer than any `minKernel` of the profile: index.ts uses the result only on such kernels. */
export const PREBUILT_KERNEL = "999";

export function defaultFilterHex(): string {
  return encodeProgram(compileProfile(DEFAULT_PROFILE, { caps: DEFAULT_CAPABILITIES, kernel: PREBUILT_KERNEL })).toHex();
}
