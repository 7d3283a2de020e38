/**
 * Substitution inside a COPY/ADD here-document with an unquoted delimiter: `$VAR` and `${...}`
 * forms are replaced and `\$` stays a literal `$`, but quotes are content, not syntax (BuildKit
 * expands heredocs without removing quotes).
 */
import { expandWord, type Lookup } from "./dockerfile/expand.ts";

export function expandHeredoc(content: string, lookup: Lookup, escape: string): string {
  let out = "";
  for (let i = 0; i < content.length; i++) {
    const c = content[i] as string;
    if (c === escape && content[i + 1] === "$") {
      out += "$";
      i++;
      continue;
    }
    if (c !== "$") {
      out += c;
      continue;
    }
    const m = /^\$(\{(?:[^{}]|\{[^{}]*\})*\}|[A-Za-z_][A-Za-z0-9_]*)/.exec(content.slice(i));
    if (!m) {
      out += c;
      continue;
    }
    out += expandWord(m[0].replace(/["']/g, (q) => `${escape}${q}`), lookup, escape);
    i += m[0].length - 1;
  }
  return out;
}
