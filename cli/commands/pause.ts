/** `box pause CONTAINER [CONTAINER...]` */
import { pauseContainer } from "../../core/runtime/freezer.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box pause CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Pause all processes within one or more containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("pause", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Pause all processes within one or more containers", FLAGS));
      return 0;
    }
    const paths = pathsFor(globals);
    requireArgs("pause", USAGE, positionals, 1);
    return forEach(positionals, async (ref) => {
      await pauseContainer(findContainer(paths, ref));
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
