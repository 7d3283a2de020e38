/** `box save [-o FILE] [--format docker-archive|oci-archive|oci-dir] IMAGE...` (also `box image save`). */
import { BoxError } from "../../core/errors.ts";
import { isatty } from "../../core/terminal.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { out } from "../render/output.ts";

const FORMATS = ["docker-archive", "oci-archive", "oci-dir"] as const;

const FLAGS: FlagTable = {
  output: { type: "string", short: "o", description: "Write to a file (a directory for oci-dir), instead of STDOUT", valueHint: "string" },
  format: { type: "string", description: "Archive format: docker-archive (also an OCI layout), oci-archive or oci-dir", default: "docker-archive", valueHint: "string" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box save [OPTIONS] IMAGE [IMAGE...]";
const SUMMARY = "Save one or more images to a tar archive (streamed to STDOUT by default)";

const command: Command = {
  summary: SUMMARY,
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("save", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, SUMMARY, FLAGS));
      return 0;
    }
    if (positionals.length === 0) throw new BoxError("E_INVALID_INPUT", "\"box save\" requires at least 1 argument", { hint: `usage: ${USAGE}` });
    const format = (flags.format as string | undefined) ?? "docker-archive";
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new BoxError("E_INVALID_INPUT", `unknown format "${format}"`, { hint: `use one of ${FORMATS.join(", ")}` });
    }
    const output = flags.output as string | undefined;
    if (output === "") throw new BoxError("E_INVALID_INPUT", "-o needs a file name", { hint: `usage: ${USAGE}` });
    if (output === undefined && format !== "oci-dir" && isatty(1)) {
      // docker's words, so that scripts and people who know them recognise the refusal.
      throw new BoxError("E_INVALID_INPUT", "cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    const { saveImages } = await import("../../core/image/archive/save.ts");
    await saveImages(pathsFor(globals), positionals, format as (typeof FORMATS)[number],
      output === undefined ? { kind: "fd", fd: 1, label: "stdout" } : { kind: "path", path: output });
    return 0;
  },
};
export default command;
