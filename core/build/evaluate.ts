/**
 * ARG and ENV scoping and the instructions that only change the config. The same code serves
 * a real build and `box build --check`, so a check sees exactly what a build would expand.
 *
 * Scopes, from the Dockerfile reference ("Understand how ARG and FROM interact", "Using ARG
 * variables"): global ARGs (before the first FROM) are visible to FROM lines only; a stage sees
 * an ARG from the line that declares it, a bare `ARG NAME` in a stage takes the global default;
 * `--build-arg` overrides defaults; ENV wins over ARG of the same name.
 */
import { BoxError } from "../errors.ts";
import { formatPlatform, hostPlatform } from "../image/registry/platform.ts";
import { syntaxError, type SourceLocation } from "./dockerfile/errors.ts";
import { processWords } from "./dockerfile/expand.ts";
import type { Dockerfile, Instruction } from "./dockerfile/types.ts";
import {
  envLookup, exposedPorts, goQuoteList, nopCreatedBy, parseDuration, setEnv, shellOf, type Healthcheck, type RunConfig,
} from "./image-config.ts";
import type { CommandForm } from "./dockerfile/types.ts";

export interface Finding {
  loc: SourceLocation;
  rule: string;
  message: string;
  level: "warning" | "error";
}

/** BuildKit's automatic platform ARGs, defined in the global scope. */
export function platformArgs(): Map<string, string> {
  const p = hostPlatform();
  const platform = formatPlatform(p);
  const m = new Map<string, string>();
  for (const prefix of ["TARGET", "BUILD"]) {
    m.set(`${prefix}PLATFORM`, platform);
    m.set(`${prefix}OS`, p.os);
    m.set(`${prefix}ARCH`, p.architecture);
    m.set(`${prefix}VARIANT`, p.variant ?? "");
  }
  return m;
}

/** Turn any error of an expansion into one that points at the instruction. */
function at<T>(loc: SourceLocation, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BoxError && /^[^:]+:\d+:\d+: /.test(e.message)) throw e;
    throw syntaxError(loc, (e as Error).message);
  }
}

export interface BuildArgs {
  values: Map<string, string>;
  /** Names some ARG declared: docker warns about the others. */
  consumed: Set<string>;
}

export function evaluateGlobals(df: Dockerfile, buildArgs: BuildArgs, findings: Finding[]): Map<string, string | undefined> {
  const globals = new Map<string, string | undefined>(platformArgs());
  for (const ins of df.globalArgs) {
    for (const a of ins.args) {
      let value: string | undefined;
      if (buildArgs.values.has(a.name)) {
        value = buildArgs.values.get(a.name);
        buildArgs.consumed.add(a.name);
      } else if (a.value !== undefined) {
        const r = at(ins.loc, () => processWords(a.value as string, (n) => globals.get(n), df.directives.escape, { split: false }));
        for (const n of r.undefinedRefs) {
          if (!globals.has(n)) findings.push({ loc: ins.loc, rule: "UndefinedVar", message: `Usage of undefined variable '$${n}'`, level: "warning" });
        }
        value = r.words[0] ?? "";
      }
      globals.set(a.name, value);
    }
  }
  return globals;
}

/** The image of a FROM line, expanded with the global ARGs. */
export function fromImage(ins: Instruction & { kind: "FROM" }, globals: Map<string, string | undefined>, escape: string, findings: Finding[]): string {
  const r = at(ins.loc, () => processWords(ins.image, (n) => globals.get(n), escape, { split: false }));
  for (const n of r.undefinedRefs) {
    if (!globals.has(n)) findings.push({ loc: ins.loc, rule: "UndefinedArgInFrom", message: `FROM argument '${n}' is not declared`, level: "warning" });
  }
  const image = r.words[0] ?? "";
  if (image === "") throw syntaxError(ins.loc, `FROM \`${ins.image}\` expands to an empty image name`, "give the ARG a default or pass --build-arg");
  return image;
}

export class StageEvaluator {
  readonly args = new Map<string, string | undefined>();
  /** CMD was set in this stage: ENTRYPOINT then keeps it (docker resets an inherited CMD). */
  cmdSet = false;
  author: string | undefined;

  constructor(
    public config: RunConfig,
    private readonly globals: Map<string, string | undefined>,
    private readonly buildArgs: BuildArgs,
    readonly escape: string,
    private readonly findings: Finding[],
  ) {}

  lookup = (name: string): string | undefined => envLookup(this.config.Env, name) ?? this.args.get(name);

  private report(loc: SourceLocation, refs: string[]): void {
    for (const n of new Set(refs)) {
      if (this.args.has(n) || envLookup(this.config.Env, n) !== undefined) continue;
      if (this.findings.some((f) => f.rule === "UndefinedVar" && f.loc.line === loc.line && f.message.includes(`'$${n}'`))) continue;
      this.findings.push({ loc, rule: "UndefinedVar", message: `Usage of undefined variable '$${n}'`, level: "warning" });
    }
  }

  word(raw: string, loc: SourceLocation): string {
    const r = at(loc, () => processWords(raw, this.lookup, this.escape, { split: false }));
    this.report(loc, r.undefinedRefs);
    return r.words[0] ?? "";
  }

  words(raw: string, loc: SourceLocation): string[] {
    const r = at(loc, () => processWords(raw, this.lookup, this.escape, { split: true }));
    this.report(loc, r.undefinedRefs);
    return r.words;
  }

  /** `NAME=value` for every ARG in scope with a value that no ENV shadows: a RUN's extra env. */
  runArgs(): string[] {
    return [...this.args.entries()]
      .filter(([k, v]) => v !== undefined && envLookup(this.config.Env, k) === undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`);
  }

  commandArgv(form: CommandForm): string[] {
    return form.kind === "exec" ? form.args : [...shellOf(this.config), form.command];
  }

  /**
   * Apply ARG or a metadata instruction to the config; returns the history `created_by`, or
   * undefined when `ins` is not one of these (RUN, COPY, ADD, FROM).
   */
  apply(ins: Instruction): string | undefined {
    const c = this.config;
    switch (ins.kind) {
      case "ARG": {
        const parts: string[] = [];
        for (const a of ins.args) {
          let value: string | undefined;
          const dflt = a.value === undefined ? undefined : this.word(a.value, ins.loc);
          if (this.buildArgs.values.has(a.name)) {
            value = this.buildArgs.values.get(a.name);
            this.buildArgs.consumed.add(a.name);
          } else value = dflt ?? (a.value === undefined ? this.globals.get(a.name) : undefined);
          this.args.set(a.name, value);
          parts.push(dflt === undefined ? a.name : `${a.name}=${dflt}`);
        }
        return nopCreatedBy(c, `ARG ${parts.join(" ")}`);
      }
      case "ENV": {
        const pairs = ins.pairs.map((p) => [this.word(p.key, ins.loc), this.word(p.value, ins.loc)] as const);
        for (const [k, v] of pairs) {
          if (k === "") throw syntaxError(ins.loc, "ENV names can not be blank");
          this.config = { ...this.config, Env: setEnv(this.config.Env ?? [], k, v) };
        }
        return nopCreatedBy(c, `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`);
      }
      case "LABEL": {
        const pairs = ins.pairs.map((p) => [this.word(p.key, ins.loc), this.word(p.value, ins.loc)] as const);
        const labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of pairs) {
          if (k === "") throw syntaxError(ins.loc, "LABEL names can not be blank");
          labels[k] = v;
        }
        this.config = { ...c, Labels: labels };
        return nopCreatedBy(c, `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`);
      }
      case "CMD": {
        const cmd = this.commandArgv(ins.form);
        this.config = { ...c, Cmd: cmd };
        this.cmdSet = true;
        return nopCreatedBy(c, `CMD ${goQuoteList(cmd)}`);
      }
      case "ENTRYPOINT": {
        const ep = this.commandArgv(ins.form);
        this.config = { ...c, Entrypoint: ep };
        if (!this.cmdSet) delete this.config.Cmd;
        return nopCreatedBy(c, `ENTRYPOINT ${goQuoteList(ep)}`);
      }
      case "EXPOSE": {
        const ports = at(ins.loc, () => exposedPorts(this.words(ins.ports, ins.loc)));
        const set = { ...(c.ExposedPorts ?? {}) };
        for (const p of ports) set[p] = {};
        this.config = { ...c, ExposedPorts: set };
        return nopCreatedBy(c, `EXPOSE ${ports.join(" ")}`);
      }
      case "VOLUME": {
        const paths = ins.json ? ins.paths.map((p) => this.word(p, ins.loc)) : this.words(ins.paths[0] as string, ins.loc);
        const set = { ...(c.Volumes ?? {}) };
        for (const p of paths) {
          if (p.trim() === "") throw syntaxError(ins.loc, "VOLUME specified can not be an empty string");
          set[p] = {};
        }
        this.config = { ...c, Volumes: set };
        return nopCreatedBy(c, `VOLUME [${paths.join(" ")}]`);
      }
      case "USER": {
        const user = this.word(ins.value, ins.loc);
        this.config = { ...c, User: user };
        return nopCreatedBy(c, `USER ${user}`);
      }
      case "WORKDIR": {
        const dir = resolveWorkdir(c.WorkingDir, this.word(ins.value, ins.loc));
        this.config = { ...c, WorkingDir: dir };
        return nopCreatedBy(c, `WORKDIR ${dir}`);
      }
      case "STOPSIGNAL": {
        const sig = this.word(ins.value, ins.loc);
        if (!/^(SIG)?[A-Z0-9+-]+$/i.test(sig)) throw syntaxError(ins.loc, `invalid STOPSIGNAL \`${sig}\`: expected a signal name or number`);
        this.config = { ...c, StopSignal: sig };
        return nopCreatedBy(c, `STOPSIGNAL ${sig}`);
      }
      case "MAINTAINER":
        this.author = ins.value;
        return nopCreatedBy(c, `MAINTAINER ${ins.value}`);
      case "SHELL":
        this.config = { ...c, Shell: ins.shell };
        return nopCreatedBy(c, `SHELL [${ins.shell.join(" ")}]`);
      case "ONBUILD":
        this.config = { ...c, OnBuild: [...(c.OnBuild ?? []), ins.trigger] };
        return nopCreatedBy(c, `ONBUILD ${ins.trigger}`);
      case "HEALTHCHECK": {
        let hc: Healthcheck;
        if (ins.none) hc = { Test: ["NONE"] };
        else {
          hc = { Test: ins.form.kind === "exec" ? ["CMD", ...ins.form.args] : ["CMD-SHELL", ins.form.command] };
          at(ins.loc, () => {
            if (ins.interval !== undefined) hc.Interval = parseDuration(ins.interval, "interval");
            if (ins.timeout !== undefined) hc.Timeout = parseDuration(ins.timeout, "timeout");
            if (ins.startPeriod !== undefined) hc.StartPeriod = parseDuration(ins.startPeriod, "start-period");
            if (ins.startInterval !== undefined) hc.StartInterval = parseDuration(ins.startInterval, "start-interval");
            if (ins.retries !== undefined) {
              if (!/^\d+$/.test(ins.retries)) throw new BoxError("E_INVALID_INPUT", `HEALTHCHECK --retries=${ins.retries}: expected a whole number`);
              hc.Retries = Number(ins.retries);
            }
          });
        }
        this.config = { ...c, Healthcheck: hc };
        return nopCreatedBy(c, `HEALTHCHECK ${ins.none ? "NONE" : `${goQuoteList(hc.Test)}`}`);
      }
      default:
        return undefined;
    }
  }
}

/** WORKDIR: relative to the previous one, cleaned (docker's normalizeWorkdir). */
export function resolveWorkdir(current: string | undefined, dir: string): string {
  const joined = dir.startsWith("/") ? dir : `${current && current !== "" ? current : "/"}/${dir}`;
  const parts: string[] = [];
  for (const p of joined.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return `/${parts.join("/")}`;
}
