/** `box images` / `box image ls [OPTIONS] [REPOSITORY[:TAG]]`: docker's columns, -q, --digests, --format. */
import { BoxError } from "../../core/errors.ts";
import { listImages, type ImageRow } from "../../core/image/list.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { out } from "../render/output.ts";
import { renderTable } from "../render/table.ts";
import { renderFormat } from "../render/template.ts";
import { formatAge, formatBytes } from "../render/units.ts";

const FLAGS: FlagTable = {
  all: { type: "boolean", short: "a", description: "Show all images (default hides intermediate images)" },
  digests: { type: "boolean", description: "Show digests" },
  format: { type: "string", description: "Format output using a custom template: 'table', 'json', or a Go template" },
  "no-trunc": { type: "boolean", description: "Don't truncate output" },
  quiet: { type: "boolean", short: "q", description: "Only show image IDs" },
  help: { type: "boolean", description: "Print usage" },
};

const HEADERS: Record<string, string> = {
  ID: "IMAGE ID", Repository: "REPOSITORY", Tag: "TAG", Digest: "DIGEST", CreatedSince: "CREATED", CreatedAt: "CREATED AT", Size: "SIZE",
};

function templateRow(r: ImageRow, noTrunc: boolean): Record<string, unknown> {
  return {
    Containers: "N/A",
    CreatedAt: r.created ?? "",
    CreatedSince: formatAge(r.created),
    Digest: r.digest,
    ID: noTrunc ? r.id : r.id.slice(7, 19),
    Repository: r.repository,
    SharedSize: "N/A",
    Size: formatBytes(r.size),
    Tag: r.tag,
    UniqueSize: "N/A",
    VirtualSize: formatBytes(r.size),
  };
}

const command: Command = {
  summary: "List images",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("images", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box images [OPTIONS] [REPOSITORY[:TAG]]", "List images", FLAGS));
      return 0;
    }
    if (positionals.length > 1) throw new BoxError("E_INVALID_INPUT", "\"box images\" accepts at most 1 argument", { hint: "usage: box images [OPTIONS] [REPOSITORY[:TAG]]" });
    const rows = listImages(pathsFor(globals), { reference: positionals[0] });
    const noTrunc = flags["no-trunc"] === true;
    const id = (r: ImageRow): string => (noTrunc ? r.id : r.id.slice(7, 19));
    if (flags.quiet) {
      out([...new Set(rows.map(id))].map((i) => `${i}\n`).join(""));
      return 0;
    }
    if (typeof flags.format === "string" && flags.format !== "table") {
      out(renderFormat(flags.format, rows.map((r) => templateRow(r, noTrunc)), HEADERS));
      return 0;
    }
    const header = ["REPOSITORY", "TAG", ...(flags.digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
    const body = rows.map((r) => [r.repository, r.tag, ...(flags.digests ? [r.digest] : []), id(r), formatAge(r.created), formatBytes(r.size)]);
    out(renderTable([header, ...body]));
    return 0;
  },
};
export default command;
