/**
 * Variable substitution and word splitting as the Dockerfile reference defines them
 * ("Environment replacement"): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`,
 * `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`; the escape character makes the next character
 * literal (`\$HOME` stays `$HOME`); single quotes suspend substitution and double quotes keep
 * spaces; quotes are removed from the result. Only instructions the reference lists call this.
 */
import { BoxError } from "../../errors.ts";

export type Lookup = (name: string) => string | undefined;

export interface ExpandResult {
  words: string[];
  /** Names referenced that were not defined (for the UndefinedVar check). */
  undefinedRefs: string[];
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class Scanner {
  i = 0;
  readonly undefinedRefs: string[] = [];
  constructor(readonly s: string, readonly escape: string, readonly lookup: Lookup) {}

  /** The `${...}` body starting after `${`, up to its matching `}` (nested braces count). */
  private braceBody(): string {
    let depth = 1;
    const start = this.i;
    while (this.i < this.s.length) {
      const c = this.s[this.i] as string;
      if (c === this.escape) {
        this.i += 2;
        continue;
      }
      if (c === "{") depth++;
      else if (c === "}" && --depth === 0) {
        const body = this.s.slice(start, this.i);
        this.i++;
        return body;
      }
      this.i++;
    }
    throw new BoxError("E_INVALID_INPUT", `missing '}' in \`${this.s}\``);
  }

  private value(name: string): string | undefined {
    const v = this.lookup(name);
    if (v === undefined) this.undefinedRefs.push(name);
    return v;
  }

  /** The text `$...` stands for; the scanner sits on the `$`. */
  dollar(): string {
    this.i++;
    const c = this.s[this.i];
    if (c === "{") {
      this.i++;
      const body = this.braceBody();
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([\s\S]*))?$/.exec(body);
      if (!m) throw new BoxError("E_INVALID_INPUT", `bad substitution \`\${${body}}\`: expected \${NAME}, \${NAME:-word} or \${NAME:+word}`);
      const [, name, op, word = ""] = m as unknown as [string, string, string | undefined, string | undefined];
      const v = op === undefined || op.endsWith("-") || op.endsWith("?") ? this.value(name) : this.lookup(name);
      const unsetOrEmpty = v === undefined || (op?.startsWith(":") && v === "");
      const sub = (): string => expandWord(word, this.lookup, this.escape);
      switch (op) {
        case undefined: return v ?? "";
        case ":-": case "-": return unsetOrEmpty ? sub() : (v as string);
        case ":+": case "+": return unsetOrEmpty ? "" : sub();
        default:
          if (unsetOrEmpty) throw new BoxError("E_INVALID_INPUT", `${name}: ${word === "" ? "parameter not set" : sub()}`);
          return v as string;
      }
    }
    if (c !== undefined && NAME_START.test(c)) {
      const start = this.i;
      while (this.i < this.s.length && NAME_CHAR.test(this.s[this.i] as string)) this.i++;
      return this.value(this.s.slice(start, this.i)) ?? "";
    }
    return "$";
  }
}

/**
 * Expand and split `text` into words (`split`), or expand it as one word keeping its whitespace.
 * With `expand` off only quotes and escapes are processed (the instructions the reference
 * excludes from substitution still lose their quotes in key=value forms).
 */
export function processWords(text: string, lookup: Lookup, escape: string, opts: { split: boolean; expand?: boolean }): ExpandResult {
  const sc = new Scanner(text, escape, lookup);
  const expand = opts.expand ?? true;
  const words: string[] = [];
  let cur = "";
  let started = false;
  const s = text;
  while (sc.i < s.length) {
    const c = s[sc.i] as string;
    if (opts.split && (c === " " || c === "\t" || c === "\n")) {
      if (started) words.push(cur);
      cur = "";
      started = false;
      sc.i++;
      continue;
    }
    started = true;
    if (c === escape) {
      // A trailing escape is kept as written.
      cur += sc.i + 1 < s.length ? (s[sc.i + 1] as string) : c;
      sc.i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", sc.i + 1);
      if (end < 0) throw new BoxError("E_INVALID_INPUT", `unexpected end of statement while looking for matching single-quote in \`${text}\``);
      cur += s.slice(sc.i + 1, end);
      sc.i = end + 1;
    } else if (c === '"') {
      sc.i++;
      for (;;) {
        if (sc.i >= s.length) throw new BoxError("E_INVALID_INPUT", `unexpected end of statement while looking for matching double-quote in \`${text}\``);
        const d = s[sc.i] as string;
        if (d === '"') {
          sc.i++;
          break;
        }
        if (d === escape && sc.i + 1 < s.length) {
          const n = s[sc.i + 1] as string;
          // Inside double quotes the escape only takes away the meaning of ", $ and itself.
          cur += n === '"' || n === "$" || n === escape ? n : d + n;
          sc.i += 2;
        } else if (d === "$" && expand) cur += sc.dollar();
        else {
          cur += d;
          sc.i++;
        }
      }
    } else if (c === "$" && expand) cur += sc.dollar();
    else {
      cur += c;
      sc.i++;
    }
  }
  if (started || !opts.split) words.push(cur);
  return { words, undefinedRefs: sc.undefinedRefs };
}

/** One word, expanded, quotes removed, whitespace kept. */
export function expandWord(text: string, lookup: Lookup, escape: string): string {
  return processWords(text, lookup, escape, { split: false }).words[0] ?? "";
}

/** Split into words the way the parser sees them, quotes and escapes kept verbatim (key=value forms). */
export function splitRaw(text: string, escape: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | undefined;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (!quote && (c === " " || c === "\t")) {
      if (started) out.push(cur);
      cur = "";
      started = false;
      continue;
    }
    started = true;
    if (c === escape && quote !== "'" && i + 1 < text.length) {
      cur += c + (text[i + 1] as string);
      i++;
      continue;
    }
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    cur += c;
  }
  if (quote) throw new BoxError("E_INVALID_INPUT", `unmatched ${quote === '"' ? "double" : "single"} quote in \`${text}\``);
  if (started) out.push(cur);
  return out;
}
