/**
 * From a lexed instruction to a typed one: flags (`--from=`, `--mount=`...), exec (JSON) or
 * shell form, key=value pairs. Every error names file:line:col and what was expected.
 */
import type { RawInstruction } from "./lexer.ts";
import { syntaxError, type SourceLocation } from "./errors.ts";
import { splitRaw } from "./expand.ts";
import type { CommandForm, Instruction, KeyValue, RunMount } from "./types.ts";

export const INSTRUCTIONS = [
  "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
  "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER",
] as const;
const KNOWN = new Set<string>(INSTRUCTIONS);

/** Flags each instruction accepts; a flag listed with `true` takes no value. */
const FLAGS: Record<string, Record<string, boolean>> = {
  FROM: { platform: false },
  RUN: { mount: false, network: false, security: false },
  COPY: { from: false, chown: false, chmod: false, link: true, parents: true, exclude: false },
  // BuildKit has no ADD --parents.
  ADD: { chown: false, chmod: false, link: true, checksum: false, "keep-git-dir": true, exclude: false },
  HEALTHCHECK: { interval: false, timeout: false, "start-period": false, "start-interval": false, retries: false },
};

interface Flags {
  values: Map<string, string[]>;
  rest: string;
  restCol: number;
}

function parseFlags(raw: RawInstruction): Flags {
  const allowed = FLAGS[raw.keyword] ?? {};
  const values = new Map<string, string[]>();
  let rest = raw.args;
  let col = raw.argsCol;
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(=(\S*))?(\s+|$)/.exec(rest);
    if (!m) break;
    const name = m[1] as string;
    const loc = { ...raw.loc, col };
    if (!(name in allowed)) {
      const known = Object.keys(allowed).map((f) => `--${f}`).join(", ");
      throw syntaxError(loc, `unknown flag: --${name} for ${raw.keyword}`, known === "" ? `${raw.keyword} takes no flags` : `${raw.keyword} accepts ${known}`);
    }
    const boolean = allowed[name] as boolean;
    let value = m[3];
    if (value === undefined) {
      if (!boolean) throw syntaxError(loc, `missing a value on flag: --${name}`, `write --${name}=VALUE`);
      value = "true";
    }
    values.set(name, [...(values.get(name) ?? []), value]);
    rest = rest.slice(m[0].length);
    col += m[0].length;
  }
  return { values, rest, restCol: col };
}

function single(flags: Flags, name: string, loc: SourceLocation): string | undefined {
  const v = flags.values.get(name);
  if (v !== undefined && v.length > 1) throw syntaxError(loc, `flag --${name} given more than once`);
  return v?.[0];
}

/** `["a", "b"]` if the text is a JSON array of strings; the reference's exec form. */
export function parseJsonArray(text: string): string[] | undefined {
  const t = text.trim();
  if (!t.startsWith("[")) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return undefined;
  }
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined;
}

function commandForm(rest: string): CommandForm {
  const json = parseJsonArray(rest);
  return json !== undefined ? { kind: "exec", args: json } : { kind: "shell", command: rest };
}

function requireArgs(raw: RawInstruction, rest: string, what: string): void {
  if (rest.trim() === "") throw syntaxError({ ...raw.loc, col: raw.argsCol }, `${raw.keyword} requires ${what}`);
}

/** `k=v k2="v 2"`, or the legacy `k v` form (ENV, LABEL). Keys and values stay raw. */
function keyValues(raw: RawInstruction, rest: string, escape: string): { pairs: KeyValue[]; legacy: boolean } {
  const loc = { ...raw.loc, col: raw.argsCol };
  requireArgs(raw, rest, "at least one argument");
  let words: string[];
  try {
    words = splitRaw(rest, escape);
  } catch (e) {
    throw syntaxError(loc, (e as Error).message);
  }
  const first = words[0] as string;
  if (!first.includes("=")) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(rest.trim());
    if (!m) throw syntaxError(loc, `${raw.keyword} names must be followed by a value: expected ${raw.keyword} key=value`);
    return { pairs: [{ key: m[1] as string, value: (m[2] as string).trim() }], legacy: true };
  }
  const pairs = words.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw syntaxError(loc, `can't find = in \`${w}\`: expected ${raw.keyword} key=value`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
  return { pairs, legacy: false };
}

const MOUNT_TYPES = ["bind", "cache", "tmpfs", "secret", "ssh"] as const;
const MOUNT_KEYS = new Set([
  "type", "target", "dst", "destination", "source", "src", "from", "id", "readonly", "ro", "readwrite", "rw",
  "sharing", "mode", "uid", "gid", "size", "required", "env",
]);

function parseMount(spec: string, loc: SourceLocation): RunMount {
  const options = new Map<string, string>();
  for (const part of spec.split(",")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    if (!MOUNT_KEYS.has(key)) throw syntaxError(loc, `--mount=${spec}: unexpected key \`${key}\``, `RUN --mount takes ${[...MOUNT_KEYS].join(", ")}`);
    options.set(key, eq < 0 ? "true" : part.slice(eq + 1));
  }
  const type = (options.get("type") ?? "bind") as RunMount["type"];
  if (!MOUNT_TYPES.includes(type)) {
    throw syntaxError(loc, `unsupported mount type \`${type}\``, "RUN --mount supports type=bind, type=cache, type=tmpfs, type=secret and type=ssh");
  }
  const target = options.get("target") ?? options.get("dst") ?? options.get("destination");
  for (const k of ["required", "readonly", "ro", "readwrite", "rw"]) {
    const v = options.get(k);
    if (v !== undefined && !/^(true|false|1|0)$/i.test(v) && !v.includes("$")) throw syntaxError(loc, `--mount=${spec}: invalid ${k}=${v}`, `write ${k}=true or ${k}=false`);
  }
  const mode = options.get("mode");
  if (mode !== undefined && !/^[0-7]{1,4}$/.test(mode) && !mode.includes("$")) throw syntaxError(loc, `--mount=${spec}: invalid mode=${mode}`, "give an octal mode such as 0400");
  for (const k of ["uid", "gid"]) {
    const v = options.get(k);
    if (v !== undefined && !/^\d+$/.test(v) && !v.includes("$")) throw syntaxError(loc, `--mount=${spec}: invalid ${k}=${v}`, `give a numeric ${k}`);
  }
  if (type === "secret") {
    // BuildKit's rules: the id defaults to the target's base name; src= is an alias of id.
    if (options.get("from") !== undefined) throw syntaxError(loc, `--mount=${spec}: a secret mount takes no from=`);
    if (options.get("id") === undefined && options.get("source") === undefined && options.get("src") === undefined && target === undefined) {
      throw syntaxError(loc, `--mount=${spec}: a secret mount needs id= (or target=)`, "write --mount=type=secret,id=NAME and pass it with box build --secret id=NAME,src=FILE");
    }
    return { type, options };
  }
  if (type === "ssh") {
    if (options.get("source") !== undefined || options.get("src") !== undefined || options.get("from") !== undefined) {
      throw syntaxError(loc, `--mount=${spec}: an ssh mount takes no source or from`, "write --mount=type=ssh[,id=default][,target=/path]");
    }
    return { type, options };
  }
  if (options.get("env") !== undefined || options.get("required") !== undefined) {
    throw syntaxError(loc, `--mount=${spec}: env= and required= apply to type=secret and type=ssh only`);
  }
  if (target === undefined) {
    throw syntaxError(loc, `--mount=${spec}: missing target`, "add target=/path/in/container");
  }
  return { type, options };
}

/** `--flag` or `--flag=true|false` (BuildKit's boolean flags take an optional value). */
function booleanFlag(flags: Flags, name: string, loc: SourceLocation): boolean {
  const v = single(flags, name, loc);
  if (v === undefined) return false;
  if (/^(true|1)$/i.test(v)) return true;
  if (/^(false|0)$/i.test(v)) return false;
  throw syntaxError(loc, `invalid --${name}=${v}: expected true or false`);
}

const CHECKSUM = /^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$/;

function copyInstruction(raw: RawInstruction, flags: Flags, escape: string, base: { loc: SourceLocation; text: string }): Instruction {
  const loc = raw.loc;
  const kind = raw.keyword as "COPY" | "ADD";
  const json = parseJsonArray(flags.rest);
  let words: string[];
  if (json !== undefined) words = json;
  else {
    try {
      words = splitRaw(flags.rest, escape);
    } catch (e) {
      throw syntaxError({ ...loc, col: flags.restCol }, (e as Error).message);
    }
  }
  if (words.length < 2) {
    throw syntaxError({ ...loc, col: flags.restCol }, `${kind} requires at least two arguments, but only ${words.length} provided`, `write ${kind} <src>... <dest>`);
  }
  const heredocNames = new Set(raw.heredocs.map((h) => h.name));
  const sources = words.slice(0, -1).map((w) => {
    const m = /^<<-?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?$/.exec(w);
    return m && heredocNames.has(m[1] as string) ? `<<${m[1]}` : w;
  });
  const from = single(flags, "from", loc);
  const chown = single(flags, "chown", loc);
  const chmod = single(flags, "chmod", loc);
  const checksum = single(flags, "checksum", loc);
  if (chmod !== undefined && !/^[0-7]{1,4}$/.test(chmod) && !chmod.includes("$")) {
    throw syntaxError(loc, `invalid --chmod=${chmod}: expected an octal mode such as 755`);
  }
  if (checksum !== undefined) {
    if (!CHECKSUM.test(checksum) && !checksum.includes("$")) {
      throw syntaxError(loc, `invalid --checksum=${checksum}: expected sha256:<64 hex digits> (or sha384:, sha512:)`);
    }
    if (sources.length !== 1) throw syntaxError(loc, "--checksum can't be specified for multiple sources", "use one ADD per URL");
    if (!/^https?:\/\//.test(sources[0] as string) && !(sources[0] as string).includes("$")) {
      throw syntaxError(loc, `--checksum requires an HTTP(S) source, not \`${sources[0]}\``, "the checksum verifies a fetched URL; a local file is already part of the cache key");
    }
  }
  const exclude = flags.values.get("exclude") ?? [];
  for (const e of exclude) {
    if (e === "") throw syntaxError(loc, "--exclude needs a pattern", "write --exclude=PATTERN (.dockerignore syntax)");
  }
  return {
    ...base, kind, sources, dest: words[words.length - 1] as string,
    ...(from !== undefined ? { from } : {}), ...(chown !== undefined ? { chown } : {}),
    ...(chmod !== undefined ? { chmod } : {}), ...(checksum !== undefined ? { checksum } : {}),
    link: booleanFlag(flags, "link", loc), parents: kind === "COPY" && booleanFlag(flags, "parents", loc), exclude,
    heredocs: raw.heredocs, json: json !== undefined,
  };
}

export function parseInstruction(raw: RawInstruction, escape: string, inOnbuild = false): Instruction {
  const loc = raw.loc;
  if (!KNOWN.has(raw.keyword)) {
    throw syntaxError(loc, `unknown instruction: ${raw.written}`, `expected one of ${INSTRUCTIONS.join(", ")}`);
  }
  const flags = parseFlags(raw);
  const rest = flags.rest;
  const base = { loc, text: `${raw.keyword} ${raw.args}`.trim() };
  switch (raw.keyword) {
    case "FROM": {
      const words = rest.trim().split(/\s+/).filter(Boolean);
      const platform = single(flags, "platform", loc);
      if (words.length === 1) return { ...base, kind: "FROM", image: words[0] as string, ...(platform ? { platform } : {}) };
      if (words.length === 3 && (words[1] as string).toUpperCase() === "AS") {
        const name = (words[2] as string).toLowerCase();
        if (!/^[a-z][a-z0-9._-]*$/.test(name)) {
          throw syntaxError({ ...loc, col: flags.restCol }, `invalid stage name \`${words[2]}\`: expected a letter followed by letters, digits, '.', '_' or '-'`);
        }
        return { ...base, kind: "FROM", image: words[0] as string, name, ...(platform ? { platform } : {}) };
      }
      throw syntaxError({ ...loc, col: flags.restCol }, "FROM requires either one or three arguments", "write FROM <image> [AS <name>]");
    }
    case "RUN": {
      if (rest.trim() === "" && raw.heredocs.length === 0) requireArgs(raw, rest, "at least one argument");
      const mounts = (flags.values.get("mount") ?? []).map((m) => parseMount(m, loc));
      const network = single(flags, "network", loc);
      if (network !== undefined && !["none", "host", "default"].includes(network)) {
        throw syntaxError(loc, `invalid --network=${network}: expected none, host or default`);
      }
      return { ...base, kind: "RUN", form: commandForm(rest), mounts, ...(network ? { network } : {}), heredocs: raw.heredocs };
    }
    case "CMD":
    case "ENTRYPOINT":
      requireArgs(raw, rest, "at least one argument");
      return { ...base, kind: raw.keyword, form: commandForm(rest) };
    case "LABEL":
    case "ENV":
      return { ...base, kind: raw.keyword, ...keyValues(raw, rest, escape) };
    case "EXPOSE":
      requireArgs(raw, rest, "at least one argument");
      return { ...base, kind: "EXPOSE", ports: rest };
    case "ADD":
    case "COPY":
      return copyInstruction(raw, flags, escape, base);
    case "VOLUME": {
      requireArgs(raw, rest, "at least one argument");
      const json = parseJsonArray(rest);
      return { ...base, kind: "VOLUME", paths: json ?? [rest], json: json !== undefined };
    }
    case "USER":
    case "WORKDIR":
    case "STOPSIGNAL":
    case "MAINTAINER": {
      requireArgs(raw, rest, "exactly one argument");
      if (raw.keyword !== "MAINTAINER" && splitRaw(rest, escape).length > 1 && raw.keyword !== "WORKDIR") {
        throw syntaxError({ ...loc, col: flags.restCol }, `${raw.keyword} requires exactly one argument`);
      }
      return { ...base, kind: raw.keyword, value: rest.trim() };
    }
    case "ARG": {
      requireArgs(raw, rest, "at least one argument");
      const args = splitRaw(rest, escape).map((w) => {
        const eq = w.indexOf("=");
        const name = eq < 0 ? w : w.slice(0, eq);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw syntaxError({ ...loc, col: flags.restCol }, `invalid ARG name \`${name}\``);
        return eq < 0 ? { name } : { name, value: w.slice(eq + 1) };
      });
      return { ...base, kind: "ARG", args };
    }
    case "ONBUILD": {
      if (inOnbuild) throw syntaxError(loc, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      requireArgs(raw, rest, "at least one argument");
      const m = /^(\S+)\s*([\s\S]*)$/.exec(rest.trim()) as RegExpExecArray;
      const keyword = (m[1] as string).toUpperCase();
      if (keyword === "ONBUILD") throw syntaxError(loc, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (keyword === "FROM" || keyword === "MAINTAINER") throw syntaxError(loc, `${keyword} isn't allowed as an ONBUILD trigger`);
      const innerRaw: RawInstruction = { ...raw, keyword, written: m[1] as string, args: m[2] as string, argsCol: raw.argsCol + rest.indexOf(m[2] as string), heredocs: [] };
      const inner = parseInstruction(innerRaw, escape, true);
      return { ...base, kind: "ONBUILD", trigger: `${keyword} ${m[2]}`.trim(), inner };
    }
    case "HEALTHCHECK": {
      requireArgs(raw, rest, "at least one argument");
      const m = /^(\S+)\s*([\s\S]*)$/.exec(rest.trim()) as RegExpExecArray;
      const type = (m[1] as string).toUpperCase();
      if (type === "NONE") {
        if ((m[2] as string) !== "" || flags.values.size > 0) throw syntaxError(loc, "HEALTHCHECK NONE takes no other arguments");
        return { ...base, kind: "HEALTHCHECK", none: true };
      }
      if (type !== "CMD") throw syntaxError({ ...loc, col: flags.restCol }, `unknown type for healthcheck: ${m[1]}`, "write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE");
      if ((m[2] as string).trim() === "") throw syntaxError(loc, "HEALTHCHECK CMD requires a command");
      const opt = (n: string) => single(flags, n, loc);
      const hc = { interval: opt("interval"), timeout: opt("timeout"), startPeriod: opt("start-period"), startInterval: opt("start-interval"), retries: opt("retries") };
      return {
        ...base, kind: "HEALTHCHECK", none: false, form: commandForm(m[2] as string),
        ...Object.fromEntries(Object.entries(hc).filter(([, v]) => v !== undefined)),
      };
    }
    case "SHELL": {
      const json = parseJsonArray(rest);
      if (json === undefined || json.length === 0) {
        throw syntaxError({ ...loc, col: flags.restCol }, "SHELL requires the arguments to be in JSON form", 'write SHELL ["/bin/sh", "-c"]');
      }
      return { ...base, kind: "SHELL", shell: json };
    }
  }
  throw syntaxError(loc, `unknown instruction: ${raw.written}`);
}
