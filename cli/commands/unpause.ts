/** `box unpause CONTAINER [CONTAINER...]` */
import { unpauseContainer } from "../../core/runtime/freezer.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box unpause CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Unpause all processes within one or more containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("unpause", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Unpause all processes within one or more containers", FLAGS));
      return 0;
    }
    const paths = pathsFor(globals);
    requireArgs("unpause", USAGE, positionals, 1);
    return forEach(positionals, async (ref) => {
      await unpauseContainer(findContainer(paths, ref));
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
