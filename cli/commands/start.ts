/** `box start [-a] [-i] CONTAINER...` */
import { BoxError } from "../../core/errors.ts";
import { isRunning } from "../../core/runtime/lifecycle.ts";
import { startContainer } from "../../core/runtime/run.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { exitCommand, pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  attach: { type: "boolean", short: "a", description: "Attach STDOUT/STDERR and forward signals" },
  interactive: { type: "boolean", short: "i", description: "Attach container's STDIN" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box start [OPTIONS] CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Start one or more stopped containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("start", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Start one or more stopped containers", FLAGS));
      return 0;
    }
    requireArgs("start", USAGE, positionals, 1);
    const paths = pathsFor(globals);
    const attach = (flags.attach as boolean) || (flags.interactive as boolean);
    if (attach) {
      if (positionals.length > 1) throw new BoxError("E_INVALID_INPUT", "you cannot start and attach multiple containers at once");
      const r = findContainer(paths, positionals[0] as string);
      if (isRunning(r)) throw new BoxError("E_BAD_STATE", `container ${r.config.name} is already running`);
      return startContainer(paths, r, { detach: false, interactive: flags.interactive as boolean });
    }
    return forEach(positionals, async (ref) => {
      const r = findContainer(paths, ref);
      if (!isRunning(r)) await startContainer(paths, r, { detach: true, exitCommand: exitCommand(globals, paths, r.config.id) });
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
