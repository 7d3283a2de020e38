/**
 * A parsed Dockerfile. Arguments that the reference subjects to variable substitution are kept
 * as written (`raw`): their value depends on the build's ARG and ENV values, which only the
 * evaluator (core/build/evaluate.ts) knows.
 */
import type { Directives, Heredoc } from "./lexer.ts";
import type { SourceLocation } from "./errors.ts";

/** `["a","b"]` (exec) or a string run by the shell. */
export type CommandForm = { kind: "exec"; args: string[] } | { kind: "shell"; command: string };

export interface KeyValue {
  key: string;
  value: string;
}

export interface RunMount {
  type: "bind" | "cache" | "tmpfs" | "secret" | "ssh";
  /**
   * Raw options, expanded at evaluation: target, source, from, id, readonly/rw, sharing, mode,
   * uid, gid, size; for secret and ssh also required and env.
   */
  options: Map<string, string>;
}

interface Base {
  loc: SourceLocation;
  /** The instruction as written on one line (continuations joined), for STEP lines and errors. */
  text: string;
}

export type Instruction = Base & (
  | { kind: "FROM"; image: string; name?: string; platform?: string }
  | { kind: "RUN"; form: CommandForm; mounts: RunMount[]; network?: string; heredocs: Heredoc[] }
  | { kind: "CMD" | "ENTRYPOINT"; form: CommandForm }
  | { kind: "LABEL" | "ENV"; pairs: KeyValue[]; legacy: boolean }
  | { kind: "EXPOSE"; ports: string }
  | {
    kind: "COPY" | "ADD";
    sources: string[];
    dest: string;
    from?: string;
    chown?: string;
    chmod?: string;
    link: boolean;
    checksum?: string;
    /** COPY --parents: keep each source's directories (after a `/./` pivot) under dest. */
    parents: boolean;
    /** --exclude patterns (.dockerignore syntax), raw. */
    exclude: string[];
    heredocs: Heredoc[];
    /** Sources and dest came from a JSON array (no word splitting). */
    json: boolean;
  }
  | { kind: "VOLUME"; paths: string[]; json: boolean }
  | { kind: "USER" | "WORKDIR" | "STOPSIGNAL" | "MAINTAINER"; value: string }
  | { kind: "ARG"; args: { name: string; value?: string }[] }
  | { kind: "ONBUILD"; trigger: string; inner: Instruction }
  | { kind: "HEALTHCHECK"; none: true }
  | {
    kind: "HEALTHCHECK";
    none: false;
    form: CommandForm;
    interval?: string;
    timeout?: string;
    startPeriod?: string;
    startInterval?: string;
    retries?: string;
  }
  | { kind: "SHELL"; shell: string[] }
);

export type InstructionKind = Instruction["kind"];

export interface Stage {
  index: number;
  /** Lower-cased `AS` name. */
  name?: string;
  from: Instruction & { kind: "FROM" };
  instructions: Instruction[];
}

export interface Dockerfile {
  file: string;
  directives: Directives;
  /** ARGs before the first FROM: usable in FROM lines, and in a stage that declares them again. */
  globalArgs: (Instruction & { kind: "ARG" })[];
  stages: Stage[];
  /** Non-fatal findings of the parser itself (deprecated forms), for --check. */
  warnings: { loc: SourceLocation; rule: string; message: string }[];
}
