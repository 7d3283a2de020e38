/** `box restart [OPTIONS] CONTAINER [CONTAINER...]` */
import { stopContainer } from "../../core/runtime/lifecycle.ts";
import { startContainer } from "../../core/runtime/run.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { exitCommand, pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  time: { type: "string", short: "t", description: "Seconds to wait before killing the container", default: "10" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box restart [OPTIONS] CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Restart one or more containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("restart", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Restart one or more containers", FLAGS));
      return 0;
    }
    const paths = pathsFor(globals);
    requireArgs("restart", USAGE, positionals, 1);
    return forEach(positionals, async (ref) => {
      const r = findContainer(paths, ref);
      await stopContainer(paths, r, Number(flags.time) || 0);
      const fresh = findContainer(paths, r.config.id);
      await startContainer(paths, fresh, { detach: true, exitCommand: exitCommand(globals, paths, r.config.id) });
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
