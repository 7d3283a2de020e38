/** `box diff CONTAINER` */
import { rerunInUserNamespace } from "../../core/image/userns-chown.ts";
import { containerChanges } from "../../core/runtime/diff.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box diff CONTAINER";

const command: Command = {
  summary: "Inspect changes to files or directories on a container's filesystem",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("diff", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Inspect changes to files or directories on a container's filesystem", FLAGS));
      return 0;
    }
    const paths = pathsFor(globals);
    requireArgs("diff", USAGE, positionals, 1, 1);
    // A directory a container user made private (0700) is listable in the user's user namespace only.
    const again = await rerunInUserNamespace(paths, "diff", argv, globals.debug);
    if (again !== undefined) return again;
    out(containerChanges(findContainer(paths, positionals[0] as string)).map((c) => `${c.kind} ${c.path}\n`).join(""));
    return 0;
  },
};
export default command;
