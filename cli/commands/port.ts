/** `box port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports of a container. */
import { BoxError } from "../../core/errors.ts";
import { portLines } from "../../core/network/settings.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = { help: { type: "boolean", description: "Print usage" } };
const USAGE = "box port CONTAINER [PRIVATE_PORT[/PROTO]]";

const command: Command = {
  summary: "List port mappings or a specific mapping for the container",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("port", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "List port mappings or a specific mapping for the container", FLAGS));
      return 0;
    }
    requireArgs("port", USAGE, positionals, 1, 2);
    const r = findContainer(pathsFor(globals), positionals[0] as string);
    const lines = portLines(r.dirs.state, positionals[1]);
    if (positionals[1] !== undefined && lines.length === 0) {
      throw new BoxError("E_NOT_FOUND", `no public port '${positionals[1]}' published for ${r.config.name}`, { hint: `see all of them with box port ${r.config.name}` });
    }
    out(lines.map((l) => `${l}\n`).join(""));
    return 0;
  },
};
export default command;
