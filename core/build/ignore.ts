/**
 * .dockerignore, with the rules of docker's patternmatcher: one pattern per line, `#` comments,
 * paths relative to the context root (a leading `/` is dropped, each pattern is cleaned), Go's
 * filepath.Match syntax (`*`, `?`, `[a-z]`, `\` escapes) plus `**` for any number of directories,
 * and `!` lines that re-include. The last pattern that matches a path decides; a pattern that
 * matches a directory also covers everything inside it.
 */
import { BoxError } from "../errors.ts";

interface Pattern {
  exclusion: boolean;
  re: RegExp;
  text: string;
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(lines: string[]) {
    this.patterns = [];
    for (const raw of lines) {
      let line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      let exclusion = false;
      if (line.startsWith("!")) {
        exclusion = true;
        line = line.slice(1).trim();
        if (line === "") throw new BoxError("E_INVALID_INPUT", ".dockerignore: illegal exclusion pattern: \"!\"");
      }
      const cleaned = cleanPath(line);
      if (cleaned === "") continue;
      this.patterns.push({ exclusion, re: compile(cleaned), text: cleaned });
    }
  }

  static parse(text: string): IgnoreMatcher {
    return new IgnoreMatcher(text.split(/\r?\n/));
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether some exclusion pattern could re-include something under `dir` (so walk into it). */
  hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** True when `rel` (relative to the context, `/`-separated) is ignored. */
  ignores(rel: string): boolean {
    const parents: string[] = [];
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join("/"));
    let matched = false;
    for (const p of this.patterns) {
      // The path itself, or one of its parent directories.
      const hit = p.re.test(rel) || parents.slice(0, -1).some((d) => p.re.test(d));
      if (hit) matched = !p.exclusion;
    }
    return matched;
  }
}

/** filepath.Clean without the OS: `./a//b/../c/` → `a/c`; a leading `/` is dropped. */
export function cleanPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join("/");
}

/** A pattern as an anchored regular expression over `/`-separated relative paths. */
export function compile(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        // `**/` at a boundary matches zero or more whole directories.
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new BoxError("E_INVALID_INPUT", `.dockerignore: syntax error in pattern \`${pattern}\`: unclosed [`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i] as string);
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
