/** `box stop [-t SECONDS] CONTAINER...` */
import { stopContainer } from "../../core/runtime/lifecycle.ts";
import { parseSignal } from "../../core/runtime/signals.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  signal: { type: "string", short: "s", description: "Signal to send to the container", default: "TERM" },
  time: { type: "string", short: "t", description: "Seconds to wait before killing the container", default: "10" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box stop [OPTIONS] CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Stop one or more running containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("stop", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Stop one or more running containers", FLAGS));
      return 0;
    }
    requireArgs("stop", USAGE, positionals, 1);
    const paths = pathsFor(globals);
    const timeout = Number(flags.time);
    const signal = parseSignal(flags.signal as string);
    return forEach(positionals, async (ref) => {
      await stopContainer(paths, findContainer(paths, ref), Number.isFinite(timeout) ? timeout : 10, signal);
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
