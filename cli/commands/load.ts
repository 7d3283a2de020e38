/** `box load [-i FILE] [-q]` (also `box image load`): docker-archive, oci-archive or an OCI layout directory, plain or gzip/zstd. */
import { BoxError } from "../../core/errors.ts";
import { shortName } from "../../core/image/store/lookup.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { out } from "../render/output.ts";

const FLAGS: FlagTable = {
  input: { type: "string", short: "i", description: "Read from tar archive file (or an OCI layout directory), instead of STDIN", valueHint: "string" },
  quiet: { type: "boolean", short: "q", description: "Suppress progress output (box shows none; the Loaded lines stay, as with docker)" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box load [OPTIONS]";
const SUMMARY = "Load an image from a tar archive or STDIN";

const command: Command = {
  summary: SUMMARY,
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("load", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, SUMMARY, FLAGS));
      return 0;
    }
    if (positionals.length > 0) throw new BoxError("E_INVALID_INPUT", "\"box load\" accepts no arguments", { hint: `usage: ${USAGE}; give the archive with -i FILE or on STDIN` });
    const input = flags.input as string | undefined;
    if (input === "") throw new BoxError("E_INVALID_INPUT", "-i needs a file name", { hint: `usage: ${USAGE}` });
    const { loadImages } = await import("../../core/image/archive/load.ts");
    const loaded = await loadImages(pathsFor(globals), { file: input });
    // docker prints these lines with -q too: -q only silences its progress bars.
    const lines = loaded.flatMap((image) => image.names.length === 0 ? [`Loaded image ID: ${image.id}`] : image.names.map((n) => `Loaded image: ${shortName(n)}`));
    out(lines.map((l) => `${l}\n`).join(""));
    return 0;
  },
};
export default command;
