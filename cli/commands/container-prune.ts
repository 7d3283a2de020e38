/** `box container prune [-f]` */
import { isRunning, removeContainer } from "../../core/runtime/lifecycle.ts";
import { listContainers } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  force: { type: "boolean", short: "f", description: "Do not prompt for confirmation" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box container prune [-f]";

const command: Command = {
  summary: "Remove all stopped containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("container-prune", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Remove all stopped containers", FLAGS));
      return 0;
    }
    const paths = pathsFor(globals);
    requireArgs("container prune", USAGE, positionals, 0, 0);
    // Without a terminal to ask on, docker needs -f; box prunes only what is stopped either way.
    for (const r of listContainers(paths)) {
      if (isRunning(r)) continue;
      await removeContainer(paths, r, false);
      out(`${r.config.id}\n`);
    }
    return 0;
  },
};
export default command;
