/** `box rmi [-f] IMAGE...` (also `box image rm`): docker's Untagged/Deleted lines, exit 1 if any failed. */
import { BoxError } from "../../core/errors.ts";
import { removeImages } from "../../core/image/remove.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { reportFailure } from "../render/error.ts";
import { out } from "../render/output.ts";
import { renderRemoved } from "../render/removed.ts";

const FLAGS: FlagTable = {
  force: { type: "boolean", short: "f", description: "Force removal of the image" },
  "no-prune": { type: "boolean", description: "Do not delete untagged parents", hidden: true },
  help: { type: "boolean", description: "Print usage" },
};

const command: Command = {
  summary: "Remove one or more images",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("rmi", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box rmi [OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", FLAGS));
      return 0;
    }
    if (positionals.length === 0) throw new BoxError("E_INVALID_INPUT", "\"box rmi\" requires at least 1 argument", { hint: "usage: box rmi [OPTIONS] IMAGE [IMAGE...]" });
    const result = removeImages(pathsFor(globals), positionals, { force: flags.force === true });
    out(renderRemoved(result.events));
    for (const e of result.errors) reportFailure(e, globals.debug);
    return result.errors.length > 0 ? 1 : 0;
  },
};
export default command;
