/** The image commands' renderers: docker's sizes, ages, aligned tables and --format templates. */
import { describe, expect, test } from "bun:test";
import { renderTable } from "../../../cli/render/table.ts";
import { renderFormat } from "../../../cli/render/template.ts";
import { formatAge, formatBytes } from "../../../cli/render/units.ts";

describe("units", () => {
  test("sizes in powers of 1000 with three significant digits, as docker prints them", () => {
    expect([0, 999, 1000, 1_982_660, 7_340_032, 1_500_000_000].map(formatBytes)).toEqual(["0B", "999B", "1kB", "1.98MB", "7.34MB", "1.5GB"]);
  });

  test("ages in docker's words", () => {
    const now = Date.parse("2024-06-01T00:00:00Z");
    expect(formatAge("2024-05-31T23:59:30Z", now)).toBe("30 seconds ago");
    expect(formatAge("2024-05-31T23:00:00Z", now)).toBe("About an hour ago");
    expect(formatAge("2024-05-29T00:00:00Z", now)).toBe("3 days ago");
    expect(formatAge("1970-01-01T00:00:00Z", now)).toBe("54 years ago");
    expect(formatAge(undefined, now)).toBe("N/A");
  });
});

describe("tables and templates", () => {
  const rows = [{ Repository: "alpine", Tag: "3.20", Config: { Cmd: ["/bin/sh"] } }, { Repository: "base", Tag: "latest", Config: { Cmd: null } }];

  test("columns are padded to the widest cell plus three spaces, without trailing blanks", () => {
    expect(renderTable([["REPOSITORY", "TAG"], ["a", "1"], ["longer-name", ""]])).toBe("REPOSITORY    TAG\na             1\nlonger-name\n");
  });

  test("{{.Field}}, nested fields, json and escapes", () => {
    expect(renderFormat("{{.Repository}}:{{.Tag}}", rows, {})).toBe("alpine:3.20\nbase:latest\n");
    expect(renderFormat("{{json .Config.Cmd}}\\t{{.Config.Cmd}}", rows, {})).toBe('["/bin/sh"]\t[/bin/sh]\nnull\t<no value>\n');
    expect(renderFormat("json", rows.slice(0, 1), {})).toBe('{"Repository":"alpine","Tag":"3.20","Config":{"Cmd":["/bin/sh"]}}\n');
  });

  test("table formats get a header from the field names and aligned columns", () => {
    expect(renderFormat("table {{.Repository}}\\t{{.Tag}}", rows, { Repository: "REPOSITORY" })).toBe("REPOSITORY   TAG\nalpine       3.20\nbase         latest\n");
  });

  test("an unknown field or action is an error, never printed literally", () => {
    expect(() => renderFormat("{{.Nope}}", rows, {})).toThrow("template: {{.Nope}}: can't evaluate field Nope");
    expect(() => renderFormat("{{range .}}x{{end}}", rows, {})).toThrow("template: unsupported action {{range .}}");
  });
});
