/** `box tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`. */
import { BoxError } from "../../core/errors.ts";
import { tagImage } from "../../core/image/tag.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { reportFailure } from "../render/error.ts";
import { out } from "../render/output.ts";

const FLAGS: FlagTable = { help: { type: "boolean", description: "Print usage" } };
const USAGE = "box tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]";

const command: Command = {
  summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("tag", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", FLAGS));
      return 0;
    }
    const [source, target] = positionals;
    if (source === undefined || target === undefined || positionals.length !== 2) {
      throw new BoxError("E_INVALID_INPUT", "\"box tag\" requires exactly 2 arguments", { hint: `usage: ${USAGE}` });
    }
    try {
      await tagImage(pathsFor(globals), source, target);
    } catch (e) {
      return reportFailure(e, globals.debug);
    }
    return 0;
  },
};
export default command;
