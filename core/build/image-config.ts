/**
 * The image config a build produces, field for field as docker writes it: `config` with docker's
 * capitalised keys (OCI's set plus docker's Healthcheck, OnBuild and Shell), history entries with
 * `empty_layer` for metadata steps, and docker's classic-builder `created_by` strings
 * (`/bin/sh -c #(nop)  CMD ["sh"]`), which buildah writes too.
 */
import { BoxError } from "../errors.ts";

export interface Healthcheck {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface RunConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: Healthcheck;
  OnBuild?: string[];
  Shell?: string[];
  [extra: string]: unknown;
}

export interface History {
  created: string;
  created_by: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export const DEFAULT_SHELL = ["/bin/sh", "-c"];

export function shellOf(c: RunConfig): string[] {
  return c.Shell !== undefined && c.Shell.length > 0 ? c.Shell : DEFAULT_SHELL;
}

/** Set NAME=value in an Env list, in place if NAME is there (docker keeps the order). */
export function setEnv(env: string[], name: string, value: string): string[] {
  const out = [...env];
  const at = out.findIndex((e) => e === name || e.startsWith(`${name}=`));
  if (at >= 0) out[at] = `${name}=${value}`;
  else out.push(`${name}=${value}`);
  return out;
}

export function envLookup(env: readonly string[] | undefined, name: string): string | undefined {
  for (const e of env ?? []) {
    const eq = e.indexOf("=");
    if ((eq < 0 ? e : e.slice(0, eq)) === name) return eq < 0 ? "" : e.slice(eq + 1);
  }
  return undefined;
}

/** Go's fmt %q of a []string: `["a" "b c"]`, as docker's classic builder prints CMD. */
export function goQuoteList(list: string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(" ")}]`;
}

/** The created_by of a metadata step: the shell, then `#(nop) ` and the instruction. */
export function nopCreatedBy(config: RunConfig, comment: string): string {
  return [...shellOf(config), "#(nop) ", comment].join(" ");
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration ("30s", "1m30s", "500ms") in nanoseconds. */
export function parseDuration(text: string, flag: string): number {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    at = re.lastIndex;
  }
  if (at === 0 || at !== text.length) {
    throw new BoxError("E_INVALID_INPUT", `HEALTHCHECK --${flag}=${text}: invalid duration`, { hint: "write a duration such as 30s, 1m30s or 500ms" });
  }
  return Math.round(total);
}

/** Ports of EXPOSE: `80`, `80/udp`, `8000-8002/tcp` → "80/tcp" keys. */
export function exposedPorts(words: string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
    if (!m) throw new BoxError("E_INVALID_INPUT", `invalid port \`${w}\` in EXPOSE`, { hint: "write PORT[/tcp|udp|sctp] or START-END[/proto]" });
    const proto = (m[3] ?? "tcp").toLowerCase();
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (start > 65535 || end > 65535 || end < start) throw new BoxError("E_INVALID_INPUT", `invalid port range \`${w}\` in EXPOSE`);
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

const ORDER = ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "Healthcheck", "OnBuild", "Shell", "ArgsEscaped"];

/** The config with empty fields dropped and keys in a fixed order: one build, one image ID. */
export function normalizeConfig(c: RunConfig): RunConfig {
  const out: RunConfig = {};
  const keys = [...ORDER, ...Object.keys(c).filter((k) => !ORDER.includes(k)).sort()];
  for (const k of keys) {
    const v = c[k];
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}
