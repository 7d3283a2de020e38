/**
 * The subset of Go templates that `--format` uses in practice: `{{.Field}}`, `{{json .}}`,
 * `{{json .Field}}`, and the `table` prefix that adds a header row.
 */
import { BoxError } from "../../core/errors.ts";

export type Row = Record<string, string | number | boolean | object | undefined>;

export function renderTemplate(template: string, row: Row): string {
  return template
    .replace(/\\t/g, "\t")
    .replace(/\\n/g, "\n")
    .replace(/\{\{\s*(json\s+)?\.([A-Za-z]*)\s*\}\}/g, (_m, json: string | undefined, field: string) => {
      if (field === "") return JSON.stringify(row);
      if (!(field in row)) {
        throw new BoxError("E_INVALID_INPUT", `template: can't evaluate field ${field}`, { hint: `fields: ${Object.keys(row).join(", ")}` });
      }
      const v = row[field];
      if (json) return JSON.stringify(v);
      return typeof v === "object" ? JSON.stringify(v) : String(v ?? "");
    });
}

/** Columns padded to their widest cell, three spaces apart, as docker's tabwriter does. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] as number) + 3))).join("").trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** Render rows for `--format`: "table", "json", a template, or "table <template>". */
export function renderFormatted(format: string | undefined, rows: Row[], defaultTable: () => string): string {
  if (format === undefined || format === "" || format === "table") return defaultTable();
  if (format === "json") return rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : "");
  if (format.startsWith("table ")) {
    const tpl = format.slice(6);
    const fields = [...tpl.matchAll(/\{\{\s*\.([A-Za-z]+)\s*\}\}/g)].map((m) => m[1] as string);
    const header = fields.map((f) => f.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase());
    const cells = rows.map((r) => fields.map((f) => String(r[f] ?? "")));
    return renderTable(header, cells);
  }
  return rows.map((r) => `${renderTemplate(format, r)}\n`).join("");
}
