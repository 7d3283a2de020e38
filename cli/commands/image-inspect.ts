/** `box image inspect [-f FORMAT] IMAGE...`: a docker-shaped JSON array; missing images exit 1. */
import { BoxError } from "../../core/errors.ts";
import { inspectImage } from "../../core/image/inspect.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { reportFailure } from "../render/error.ts";
import { out } from "../render/output.ts";
import { renderFormat } from "../render/template.ts";

const FLAGS: FlagTable = {
  format: { type: "string", short: "f", description: "Format output using a custom template: 'json', or a Go template" },
  help: { type: "boolean", description: "Print usage" },
};

const command: Command = {
  summary: "Display detailed information on one or more images",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("image inspect", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box image inspect [OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images", FLAGS));
      return 0;
    }
    if (positionals.length === 0) throw new BoxError("E_INVALID_INPUT", "\"box image inspect\" requires at least 1 argument", { hint: "usage: box image inspect [OPTIONS] IMAGE [IMAGE...]" });
    const paths = pathsFor(globals);
    const found: Record<string, unknown>[] = [];
    const failures: unknown[] = [];
    for (const ref of positionals) {
      try {
        found.push(await inspectImage(paths, ref));
      } catch (e) {
        failures.push(e);
      }
    }
    const format = typeof flags.format === "string" && flags.format !== "json" ? flags.format : undefined;
    out(format === undefined ? `${JSON.stringify(found, null, 4)}\n` : renderFormat(format, found, {}));
    for (const e of failures) reportFailure(e, globals.debug);
    return failures.length > 0 ? 1 : 0;
  },
};
export default command;
