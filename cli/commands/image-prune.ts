/** `box image prune [-a] [-f]`: remove dangling (or all unused) images, asking first unless -f. */
import { pruneImages } from "../../core/image/remove.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { out } from "../render/output.ts";
import { confirm } from "../render/prompt.ts";
import { renderRemoved } from "../render/removed.ts";
import { formatBytes } from "../render/units.ts";

const FLAGS: FlagTable = {
  all: { type: "boolean", short: "a", description: "Remove all unused images, not just dangling ones" },
  force: { type: "boolean", short: "f", description: "Do not prompt for confirmation" },
  help: { type: "boolean", description: "Print usage" },
};

const command: Command = {
  summary: "Remove unused images",
  async run(argv, globals) {
    const { flags } = parseFlags("image prune", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box image prune [OPTIONS]", "Remove unused images", FLAGS));
      return 0;
    }
    const all = flags.all === true;
    const warning = all
      ? "WARNING! This will remove all images without at least one container associated to them."
      : "WARNING! This will remove all dangling images.";
    if (!flags.force && !(await confirm(`${warning}\nAre you sure you want to continue? [y/N] `))) return 0;
    const result = pruneImages(pathsFor(globals), { all });
    if (result.events.length > 0) out(`Deleted Images:\n${renderRemoved(result.events, true)}\n`);
    out(`Total reclaimed space: ${formatBytes(result.reclaimed)}\n`);
    return 0;
  },
};
export default command;
