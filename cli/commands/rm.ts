/** `box rm [-f] CONTAINER...` */
import { removeContainer } from "../../core/runtime/lifecycle.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  force: { type: "boolean", short: "f", description: "Force the removal of a running container (uses SIGKILL)" },
  volumes: { type: "boolean", short: "v", description: "Remove anonymous volumes associated with the container" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box rm [OPTIONS] CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Remove one or more containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("rm", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Remove one or more containers", FLAGS));
      return 0;
    }
    requireArgs("rm", USAGE, positionals, 1);
    const paths = pathsFor(globals);
    return forEach(positionals, async (ref) => {
      await removeContainer(paths, findContainer(paths, ref), flags.force as boolean);
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
