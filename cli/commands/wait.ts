/** `box wait CONTAINER...`: print each container's exit code once it exits. */
import { waitContainer } from "../../core/runtime/lifecycle.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = { help: { type: "boolean", description: "Print usage" } };
const USAGE = "box wait CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Block until one or more containers stop, then print their exit codes",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("wait", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Block until one or more containers stop, then print their exit codes", FLAGS));
      return 0;
    }
    requireArgs("wait", USAGE, positionals, 1);
    const paths = pathsFor(globals);
    return forEach(positionals, async (ref) => {
      out(`${await waitContainer(paths, findContainer(paths, ref))}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
