/** `box kill [-s SIGNAL] CONTAINER...` */
import { killContainer } from "../../core/runtime/lifecycle.ts";
import { parseSignal } from "../../core/runtime/signals.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  signal: { type: "string", short: "s", description: "Signal to send to the container", default: "KILL" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box kill [OPTIONS] CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Kill one or more running containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("kill", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Kill one or more running containers", FLAGS));
      return 0;
    }
    requireArgs("kill", USAGE, positionals, 1);
    const paths = pathsFor(globals);
    const signal = parseSignal(flags.signal as string);
    return forEach(positionals, async (ref) => {
      await killContainer(findContainer(paths, ref), signal);
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
