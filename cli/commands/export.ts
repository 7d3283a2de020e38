/** `box export [-o FILE] CONTAINER` */
import { writeSync } from "node:fs";
import { BoxError } from "../../core/errors.ts";
import { rerunInUserNamespace } from "../../core/image/userns-chown.ts";
import { exportContainer, writeStreamAtomic } from "../../core/runtime/export.ts";
import { findContainer } from "../../core/state/containers.ts";
import { isatty } from "../../core/terminal.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  output: { type: "string", short: "o", description: "Write to a file, instead of STDOUT", valueHint: "string" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box export [OPTIONS] CONTAINER";
const SUMMARY = "Export a container's filesystem as a tar archive";

/** Bytes to fd 1 as they come; a reader that went away (| head) ends the export quietly. */
export async function streamToStdout(stream: ReadableStream<Uint8Array>): Promise<void> {
  for await (const chunk of stream) {
    let at = 0;
    while (at < chunk.byteLength) {
      try {
        at += writeSync(1, chunk, at, chunk.byteLength - at);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EPIPE") return;
        if (code !== "EAGAIN") throw e;
      }
    }
  }
}

const command: Command = {
  summary: SUMMARY,
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("export", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, SUMMARY, FLAGS));
      return 0;
    }
    requireArgs("export", USAGE, positionals, 1, 1);
    const output = typeof flags.output === "string" && flags.output !== "" && flags.output !== "-" ? flags.output : undefined;
    if (output === undefined && isatty(1)) {
      throw new BoxError("E_INVALID_INPUT", "cowardly refusing to save to a terminal", { hint: "use the -o flag or redirect" });
    }
    const paths = pathsFor(globals);
    // Files a container user made private are readable in the user's user namespace only.
    const again = await rerunInUserNamespace(paths, "export", argv, globals.debug);
    if (again !== undefined) return again;
    const stream = exportContainer(paths, findContainer(paths, positionals[0] as string));
    if (output !== undefined) await writeStreamAtomic(stream, output);
    else await streamToStdout(stream);
    return 0;
  },
};
export default command;
