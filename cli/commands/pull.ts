/** `box pull IMAGE`: for now the built-in `base`, installed from the binary without a network. */
import { BoxError } from "../../core/errors.ts";
import { ensureBaseImage } from "../../core/image/builtin.ts";
import { isBaseReference } from "../../core/image/run-image.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { out } from "../render/output.ts";

const FLAGS: FlagTable = {
  quiet: { type: "boolean", short: "q", description: "Suppress verbose output" },
  help: { type: "boolean", description: "Print usage" },
};

const command: Command = {
  summary: "Download an image",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("pull", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box pull [OPTIONS] NAME[:TAG]", "Download an image", FLAGS));
      return 0;
    }
    const [ref] = positionals;
    if (!ref || positionals.length > 1) throw new BoxError("E_INVALID_INPUT", "\"box pull\" requires exactly 1 argument", { hint: "usage: box pull NAME[:TAG]" });
    if (!isBaseReference(ref)) {
      throw new BoxError("E_UNSUPPORTED", `pulling \`${ref}\` from a registry is not available in this build`, { hint: "`box pull base` installs the built-in image" });
    }
    await ensureBaseImage(pathsFor(globals));
    if (!flags.quiet) out("base: built-in image installed\n");
    return 0;
  },
};
export default command;
