/** `box container checkpoint [-e FILE] [-R] [--tcp-established] CONTAINER...` */
import { BoxError } from "../../core/errors.ts";
import { checkpointContainer } from "../../core/runtime/checkpoint/dump.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  export: { type: "string", short: "e", description: "Export the checkpoint, config and rootfs changes to a tar(.gz) file" },
  "leave-running": { type: "boolean", short: "R", description: "Leave the container running after writing the checkpoint" },
  "tcp-established": { type: "boolean", description: "Checkpoint a container with established TCP connections" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box container checkpoint [OPTIONS] CONTAINER [CONTAINER...]";
const SUMMARY = "Checkpoint one or more running containers (CRIU)";

const command: Command = {
  summary: SUMMARY,
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("container checkpoint", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, SUMMARY, FLAGS));
      return 0;
    }
    requireArgs("container checkpoint", USAGE, positionals, 1);
    const file = flags.export as string | undefined;
    if (file !== undefined && positionals.length > 1) {
      throw new BoxError("E_INVALID_INPUT", "--export can only be used with one container", { hint: `usage: ${USAGE}` });
    }
    const paths = pathsFor(globals);
    const opts = {
      ...(file !== undefined ? { export: file } : {}),
      leaveRunning: flags["leave-running"] as boolean,
      tcpEstablished: flags["tcp-established"] as boolean,
    };
    // One container: its error is box's error (exit 125); several: docker's report-and-go-on.
    if (positionals.length === 1) {
      const ref = positionals[0] as string;
      await checkpointContainer(paths, findContainer(paths, ref), opts);
      out(`${ref}\n`);
      return 0;
    }
    return forEach(positionals, async (ref) => {
      await checkpointContainer(paths, findContainer(paths, ref), opts);
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
