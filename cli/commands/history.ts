/** `box history [OPTIONS] IMAGE`: docker's columns, newest step first. */
import { BoxError } from "../../core/errors.ts";
import { imageHistory, type HistoryRow } from "../../core/image/inspect.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { reportFailure } from "../render/error.ts";
import { out } from "../render/output.ts";
import { renderTable } from "../render/table.ts";
import { renderFormat } from "../render/template.ts";
import { formatAge, formatBytes } from "../render/units.ts";

const FLAGS: FlagTable = {
  format: { type: "string", description: "Format output using a custom template: 'table', 'json', or a Go template" },
  human: { type: "boolean", short: "H", default: true, description: "Print sizes and dates in human readable format" },
  "no-trunc": { type: "boolean", description: "Don't truncate output" },
  quiet: { type: "boolean", short: "q", description: "Only show image IDs" },
  help: { type: "boolean", description: "Print usage" },
};

const HEADERS: Record<string, string> = { ID: "IMAGE", CreatedSince: "CREATED", CreatedBy: "CREATED BY", Size: "SIZE", Comment: "COMMENT" };

const command: Command = {
  summary: "Show the history of an image",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("history", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box history [OPTIONS] IMAGE", "Show the history of an image", FLAGS));
      return 0;
    }
    const [ref] = positionals;
    if (ref === undefined || positionals.length !== 1) throw new BoxError("E_INVALID_INPUT", "\"box history\" requires exactly 1 argument", { hint: "usage: box history [OPTIONS] IMAGE" });
    let rows: HistoryRow[];
    try {
      rows = await imageHistory(pathsFor(globals), ref);
    } catch (e) {
      return reportFailure(e, globals.debug);
    }
    const noTrunc = flags["no-trunc"] === true;
    const human = flags.human !== false;
    const id = (r: HistoryRow): string => (r.id === "<missing>" || noTrunc ? r.id : r.id.slice(7, 19));
    if (flags.quiet) {
      out(rows.map((r) => `${id(r)}\n`).join(""));
      return 0;
    }
    const createdBy = (r: HistoryRow): string => (noTrunc || r.createdBy.length <= 45 ? r.createdBy : `${r.createdBy.slice(0, 44)}…`);
    const size = (r: HistoryRow): string => (human ? formatBytes(r.size) : String(r.size));
    const created = (r: HistoryRow): string => (human ? formatAge(r.created) : (r.created ?? ""));
    if (typeof flags.format === "string" && flags.format !== "table") {
      const data = rows.map((r) => ({ ID: id(r), CreatedAt: r.created ?? "", CreatedSince: formatAge(r.created), CreatedBy: r.createdBy, Size: size(r), Comment: r.comment }));
      out(renderFormat(flags.format, data, HEADERS));
      return 0;
    }
    out(renderTable([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], ...rows.map((r) => [id(r), created(r), createdBy(r), size(r), r.comment])]));
    return 0;
  },
};
export default command;
