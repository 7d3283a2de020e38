/**
 * The subset of Go templates that `--format` is used with in practice: `{{.Field}}`,
 * `{{.Nested.Field}}`, `{{json .}}`, `{{json .Field}}`, the `table` prefix (adds a header and aligns
 * columns), and `\t` / `\n` escapes; `json` alone means one JSON object per line. Anything else is
 * refused, never printed literally.
 */
import { BoxError } from "../../core/errors.ts";
import { renderTable } from "./table.ts";

type Value = Record<string, unknown>;

function lookup(value: unknown, path: string, format: string): unknown {
  let cur: unknown = value;
  for (const key of path.split(".").filter(Boolean)) {
    if (cur === null || typeof cur !== "object" || !(key in cur)) {
      throw new BoxError("E_INVALID_INPUT", `template: ${format}: can't evaluate field ${key}`, { hint: "see the fields with --format json" });
    }
    cur = (cur as Value)[key];
  }
  return cur;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (typeof v === "object") return Array.isArray(v) ? `[${v.map(show).join(" ")}]` : JSON.stringify(v);
  return String(v);
}

function expand(format: string, value: unknown): string {
  const body = format.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  return body.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_, json: string | undefined, path: string) => {
    const v = lookup(value, path, format);
    return json ? JSON.stringify(v) : show(v);
  }).replace(/\{\{[^}]*\}\}/g, (bad) => {
    throw new BoxError("E_INVALID_INPUT", `template: unsupported action ${bad}`, { hint: "box supports {{.Field}} and {{json .Field}}" });
  });
}

/** Render `rows` with `format`; `headers` names each field's column for `table` formats. */
export function renderFormat(format: string, rows: Value[], headers: Record<string, string>): string {
  if (format === "json") return rows.map((r) => `${JSON.stringify(r)}\n`).join("");
  if (format.startsWith("table")) {
    const body = format.slice("table".length).trim();
    const header = body.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, f: string) => headers[f] ?? f.toUpperCase());
    return renderTable([header, ...rows.map((r) => expand(body, r))].map((line) => line.replace(/\\t/g, "\t").split("\t")));
  }
  return rows.map((r) => `${expand(format, r)}\n`).join("");
}
