/** `box logs [OPTIONS] CONTAINER` */
import { findContainer } from "../../core/state/containers.ts";
import { followLog, readLog, parseSince } from "../../core/runtime/logs.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  follow: { type: "boolean", short: "f", description: "Follow log output" },
  since: { type: "string", description: "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)" },
  tail: { type: "string", short: "n", description: "Number of lines to show from the end of the logs", default: "all" },
  timestamps: { type: "boolean", short: "t", description: "Show timestamps" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box logs [OPTIONS] CONTAINER";

const command: Command = {
  summary: "Fetch the logs of a container",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("logs", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Fetch the logs of a container", FLAGS));
      return 0;
    }
    requireArgs("logs", USAGE, positionals, 1, 1);
    const paths = pathsFor(globals);
    const record = findContainer(paths, positionals[0] as string);
    const opts = {
      timestamps: flags.timestamps as boolean,
      tail: flags.tail === "all" ? undefined : Number(flags.tail),
      since: flags.since !== undefined ? parseSince(flags.since as string) : undefined,
    };
    const emit = (stream: "stdout" | "stderr", text: string) => (stream === "stdout" ? out(text) : err(text));
    if (flags.follow) await followLog(paths, record, opts, emit);
    else readLog(record, opts, emit);
    return 0;
  },
};
export default command;
