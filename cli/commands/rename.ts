/** `box rename CONTAINER NEW_NAME` */
import { renameContainer } from "../../core/runtime/rename.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { out } from "../render/output.ts";
import { pathsFor } from "../context.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box rename CONTAINER NEW_NAME";

const command: Command = {
  summary: "Rename a container",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("rename", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Rename a container", FLAGS));
      return 0;
    }
    const paths = pathsFor(globals);
    requireArgs("rename", USAGE, positionals, 2, 2);
    renameContainer(paths, findContainer(paths, positionals[0] as string), positionals[1] as string);
    return 0;
  },
};
export default command;
