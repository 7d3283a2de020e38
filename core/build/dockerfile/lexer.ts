/**
 * The first pass over a Dockerfile: parser directives, comments, line continuations and heredoc
 * bodies, turning the text into logical instructions with the line and column they start at.
 * What each instruction's arguments mean is instructions.ts's business.
 *
 * Rules from the Dockerfile reference ("Parser directives", "Escape", "Here-Documents"):
 * - directives (`# syntax=`, `# escape=`, `# check=`) are only read at the very top; the first
 *   comment, blank line or instruction ends them, and an unknown one is a comment that ends them too;
 * - a line whose last non-blank character is the escape character continues on the next line,
 *   and comment lines and blank lines inside a continued instruction are dropped;
 * - `<<EOF` / `<<-EOF` / `<<"EOF"` in RUN, COPY and ADD take the following lines up to the
 *   delimiter as a here-document (`-` strips leading tabs, a quoted delimiter disables expansion).
 */
import { syntaxError, type SourceLocation } from "./errors.ts";

export interface Heredoc {
  name: string;
  content: string;
  /** False when the delimiter was quoted: `<<"EOF"` keeps `$x` as written. */
  expand: boolean;
  /** `<<-EOF`: leading tabs were stripped from every line. */
  chomp: boolean;
}

export interface RawInstruction {
  /** Upper-case keyword ("RUN"). */
  keyword: string;
  /** The keyword as written, for the casing check. */
  written: string;
  /** Arguments after the keyword with continuations joined (heredoc bodies not included). */
  args: string;
  loc: SourceLocation;
  /** Column where `args` starts on the instruction's first line. */
  argsCol: number;
  endLine: number;
  heredocs: Heredoc[];
}

export interface Directives {
  syntax?: string;
  escape: string;
  check?: string;
}

export interface Lexed {
  directives: Directives;
  instructions: RawInstruction[];
  /** Blank lines inside a continued instruction, which the reference deprecates. */
  emptyContinuationLines: number[];
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(["syntax", "escape", "check"]);
const HEREDOC_INSTRUCTIONS = new Set(["RUN", "COPY", "ADD"]);

function readDirectives(lines: string[], file: string): { directives: Directives; next: number } {
  const directives: Directives = { escape: "\\" };
  const seen = new Set<string>();
  let i = 0;
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i] as string);
    if (!m) break;
    const key = (m[1] as string).toLowerCase();
    if (!KNOWN_DIRECTIVES.has(key)) break;
    if (seen.has(key)) throw syntaxError({ file, line: i + 1, col: 1 }, `only one ${key} parser directive can be used`);
    seen.add(key);
    const value = m[2] as string;
    if (key === "escape") {
      if (value !== "\\" && value !== "`") {
        throw syntaxError({ file, line: i + 1, col: 1 }, `invalid escape token \`${value}\`: expected \\ or \``);
      }
      directives.escape = value;
    } else if (key === "syntax") directives.syntax = value;
    else directives.check = value;
  }
  return { directives, next: i };
}

/** Where the continuation escape sits, if the line ends with one (trailing blanks allowed). */
function continuationAt(line: string, escape: string): number {
  let end = line.length;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\t")) end--;
  return end > 0 && line[end - 1] === escape ? end - 1 : -1;
}

const isComment = (line: string): boolean => /^\s*#/.test(line);
const isBlank = (line: string): boolean => /^\s*$/.test(line);

export interface HeredocMarker {
  name: string;
  expand: boolean;
  chomp: boolean;
  /** Offset of `<<` in the arguments. */
  at: number;
  /** Offset just after the marker. */
  end: number;
}

/**
 * The `<<WORD` markers of an argument string, outside quotes and not part of `<<<`. A marker
 * whose word is quoted (`<<"EOF"`, `<<'EOF'`) turns expansion off.
 */
export function findHeredocMarkers(args: string, escape: string): HeredocMarker[] {
  const out: HeredocMarker[] = [];
  let quote: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const c = args[i] as string;
    if (c === escape && quote !== "'") {
      i++;
      continue;
    }
    if (quote) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      continue;
    }
    if (c !== "<" || args[i + 1] !== "<" || args[i + 2] === "<" || args[i - 1] === "<") continue;
    const m = /^<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\2/.exec(args.slice(i));
    if (!m) continue;
    out.push({ name: m[3] as string, expand: m[2] === "", chomp: m[1] === "-", at: i, end: i + m[0].length });
    i += m[0].length - 1;
  }
  return out;
}

export function lex(text: string, file: string): Lexed {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const { directives, next } = readDirectives(lines, file);
  const escape = directives.escape;
  const instructions: RawInstruction[] = [];
  const emptyContinuationLines: number[] = [];
  let i = next;
  while (i < lines.length) {
    const first = lines[i] as string;
    if (isBlank(first) || isComment(first)) {
      i++;
      continue;
    }
    const startLine = i + 1;
    const col = first.length - first.trimStart().length + 1;
    let logical = "";
    let line = first;
    for (;;) {
      const at = continuationAt(line, escape);
      if (at < 0) {
        logical += line;
        break;
      }
      logical += line.slice(0, at);
      i++;
      // Comment and blank lines inside a continued instruction are skipped, not joined.
      while (i < lines.length && (isComment(lines[i] as string) || isBlank(lines[i] as string))) {
        if (isBlank(lines[i] as string)) emptyContinuationLines.push(i + 1);
        i++;
      }
      if (i >= lines.length) break;
      line = lines[i] as string;
    }
    const endLine = i + 1;
    i++;
    const body = logical.slice(col - 1);
    const m = /^(\S+)(\s*)/.exec(body);
    const written = m ? (m[1] as string) : body;
    const keyword = written.toUpperCase();
    const args = body.slice(m ? m[0].length : body.length).replace(/\s+$/, "");
    const heredocs: Heredoc[] = [];
    if (HEREDOC_INSTRUCTIONS.has(keyword)) {
      for (const marker of findHeredocMarkers(args, escape)) {
        const content: string[] = [];
        let closed = false;
        while (i < lines.length) {
          const raw = lines[i] as string;
          i++;
          const l = marker.chomp ? raw.replace(/^\t+/, "") : raw;
          if (l === marker.name) {
            closed = true;
            break;
          }
          content.push(l);
        }
        if (!closed) {
          throw syntaxError({ file, line: startLine, col: col + (m ? m[0].length : 0) + marker.at }, `unterminated heredoc: expected a line \`${marker.name}\` to end it`);
        }
        heredocs.push({ name: marker.name, content: content.length > 0 ? `${content.join("\n")}\n` : "", expand: marker.expand, chomp: marker.chomp });
      }
    }
    instructions.push({
      keyword,
      written,
      args,
      loc: { file, line: startLine, col },
      argsCol: col + (m ? m[0].length : body.length),
      endLine: heredocs.length > 0 ? i : endLine,
      heredocs,
    });
  }
  return { directives, instructions, emptyContinuationLines };
}
