/**
 * Docker-style flag parsing. citty routes commands and renders help, but docker's grammar differs
 * from its parser in ways users rely on: options stop at the first positional (so
 * `box run base ls -la` hands `-la` to ls), short booleans combine (`-it`), list flags repeat
 * (`-e A -e B`), and `--flag=false` turns a default-true boolean off.
 */
import { BoxError } from "../core/errors.ts";

export type FlagType = "boolean" | "string" | "list";

export interface FlagDef {
  type: FlagType;
  short?: string;
  description: string;
  default?: boolean | string;
  valueHint?: string;
  /** Not shown in help (compatibility spellings). */
  hidden?: boolean;
}

export type FlagTable = Record<string, FlagDef>;

export interface ParsedFlags {
  flags: Record<string, boolean | string | string[] | undefined>;
  positionals: string[];
}

const TRUE = new Set(["true", "1", "yes"]);
const FALSE = new Set(["false", "0", "no"]);

function usageError(command: string, message: string): BoxError {
  return new BoxError("E_INVALID_INPUT", message, { hint: `see 'box ${command} --help'` });
}

/**
 * Parse `argv` against `table`. With `stopAtPositional`, the first non-flag argument ends flag
 * parsing and it and everything after it are positionals.
 */
export function parseFlags(command: string, table: FlagTable, argv: string[], stopAtPositional: boolean): ParsedFlags {
  const flags: ParsedFlags["flags"] = {};
  for (const [name, def] of Object.entries(table)) {
    flags[name] = def.type === "list" ? [] : def.type === "boolean" ? (def.default ?? false) : def.default;
  }
  const byShort = new Map<string, string>();
  for (const [name, def] of Object.entries(table)) if (def.short) byShort.set(def.short, name);
  const positionals: string[] = [];

  const set = (name: string, value: string | boolean) => {
    const def = table[name] as FlagDef;
    if (def.type === "list") (flags[name] as string[]).push(String(value));
    else flags[name] = value;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--") && arg.length > 2) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const def = table[name];
      if (!def) throw usageError(command, `unknown flag: --${name}`);
      if (def.type === "boolean") {
        if (eq < 0) set(name, true);
        else {
          const v = arg.slice(eq + 1).toLowerCase();
          if (TRUE.has(v)) set(name, true);
          else if (FALSE.has(v)) set(name, false);
          else throw usageError(command, `invalid value "${arg.slice(eq + 1)}" for flag --${name}: expected true or false`);
        }
        continue;
      }
      let value: string | undefined;
      if (eq >= 0) value = arg.slice(eq + 1);
      else {
        value = argv[++i];
        if (value === undefined) throw usageError(command, `flag needs an argument: --${name}`);
      }
      set(name, value);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      // A cluster of short flags: booleans combine; the first one that takes a value consumes
      // the rest of the cluster or the next argument (`-eFOO=1`, `-e FOO=1`).
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j] as string;
        const name = byShort.get(ch);
        if (!name) throw usageError(command, `unknown shorthand flag: '${ch}' in ${arg}`);
        const def = table[name] as FlagDef;
        if (def.type === "boolean") {
          set(name, true);
          continue;
        }
        let value = arg.slice(j + 1);
        if (value.startsWith("=")) value = value.slice(1);
        if (value === "") {
          const next = argv[++i];
          if (next === undefined) throw usageError(command, `flag needs an argument: '${ch}' in -${ch}`);
          value = next;
        }
        set(name, value);
        break;
      }
      continue;
    }
    positionals.push(arg);
    if (stopAtPositional) {
      positionals.push(...argv.slice(i + 1));
      break;
    }
  }
  return { flags, positionals };
}

/** Help text in docker's layout: usage line, description, then one line per flag. */
export function renderHelp(usage: string, description: string, table: FlagTable): string {
  const rows = Object.entries(table)
    .filter(([, d]) => !d.hidden)
    .map(([name, d]) => {
      const left = `${d.short ? `-${d.short}, ` : "    "}--${name}${d.type === "boolean" ? "" : ` ${d.valueHint ?? (d.type === "list" ? "list" : "string")}`}`;
      const def = d.default !== undefined && d.default !== false ? ` (default ${JSON.stringify(d.default)})` : "";
      return [left, `${d.description}${def}`] as const;
    });
  const width = Math.max(...rows.map(([l]) => l.length), 10) + 3;
  const lines = rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`);
  return `Usage:  ${usage}\n\n${description}\n\nOptions:\n${lines.join("\n")}\n`;
}
