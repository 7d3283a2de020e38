/** `box commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]` */
import { rerunInUserNamespace } from "../../core/image/userns-chown.ts";
import { commitContainer } from "../../core/image/commit.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  author: { type: "string", short: "a", description: "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")", valueHint: "string" },
  change: { type: "list", short: "c", description: "Apply Dockerfile instruction to the created image", valueHint: "list" },
  message: { type: "string", short: "m", description: "Commit message", valueHint: "string" },
  pause: { type: "boolean", short: "p", default: true, description: "Pause container during commit" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]";
const SUMMARY = "Create a new image from a container's changes";

const command: Command = {
  summary: SUMMARY,
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("commit", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, SUMMARY, FLAGS));
      return 0;
    }
    requireArgs("commit", USAGE, positionals, 1, 2);
    const [name, tag] = positionals as [string, string | undefined];
    const paths = pathsFor(globals);
    // Files a container user made private are readable in the user's user namespace only.
    const again = await rerunInUserNamespace(paths, "commit", argv, globals.debug);
    if (again !== undefined) return again;
    const image = await commitContainer(paths, findContainer(paths, name), {
      changes: flags.change as string[],
      message: typeof flags.message === "string" ? flags.message : undefined,
      author: typeof flags.author === "string" ? flags.author : undefined,
      pause: flags.pause !== false,
      tag,
    });
    out(`${image.id}\n`);
    return 0;
  },
};
export default command;
