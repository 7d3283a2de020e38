/** `box container restore [-i FILE] [-n NAME] [CONTAINER...]` */
import { BoxError } from "../../core/errors.ts";
import { restoreContainer } from "../../core/runtime/checkpoint/restore.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { exitCommand, pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  import: { type: "string", short: "i", description: "Restore a container from a checkpoint archive (box container checkpoint --export)" },
  name: { type: "string", short: "n", description: "With --import: the name of the restored container" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box container restore [OPTIONS] [CONTAINER...]";
const SUMMARY = "Restore one or more containers from a checkpoint (CRIU)";

const command: Command = {
  summary: SUMMARY,
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("container restore", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, SUMMARY, FLAGS));
      return 0;
    }
    const paths = pathsFor(globals);
    const importFile = flags.import as string | undefined;
    const name = flags.name as string | undefined;
    const common = { exitCommand: (id: string) => exitCommand(globals, paths, id), ...(name !== undefined ? { name } : {}) };
    if (importFile !== undefined) {
      if (positionals.length > 0) {
        throw new BoxError("E_INVALID_INPUT", "--import restores a new container: give no container name", { hint: `usage: box container restore --import FILE [--name NAME]` });
      }
      const r = await restoreContainer(paths, { ...common, importFile });
      out(`${r.config.id}\n`);
      return 0;
    }
    if (positionals.length === 0) {
      throw new BoxError("E_INVALID_INPUT", `"box container restore" requires at least 1 argument, or --import FILE`, { hint: `usage: ${USAGE}` });
    }
    if (positionals.length === 1) {
      await restoreContainer(paths, { ...common, ref: positionals[0] as string });
      out(`${positionals[0]}\n`);
      return 0;
    }
    return forEach(positionals, async (ref) => {
      await restoreContainer(paths, { ...common, ref });
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
