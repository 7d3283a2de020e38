/** `box import [OPTIONS] file|- [REPOSITORY[:TAG]]` */
import { statSync } from "node:fs";
import { BoxError } from "../../core/errors.ts";
import { importImage } from "../../core/image/import.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  change: { type: "list", short: "c", description: "Apply Dockerfile instruction to the created image", valueHint: "list" },
  message: { type: "string", short: "m", description: "Set commit message for imported image", valueHint: "string" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box import [OPTIONS] file|- [REPOSITORY[:TAG]]";
const SUMMARY = "Import the contents from a tarball to create a filesystem image";

function openInput(source: string): ReadableStream<Uint8Array> {
  if (source === "-") return Bun.stdin.stream();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw new BoxError("E_UNSUPPORTED", `importing from a URL (${source}) is not supported`, { hint: "download the archive first, then import the file or pipe it to 'box import -'" });
  }
  let isFile = false;
  try {
    isFile = statSync(source).isFile();
  } catch (e) {
    throw new BoxError("E_NOT_FOUND", `open ${source}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`, {
      hint: "give the path of a tar archive, or - to read it from stdin",
    });
  }
  if (!isFile) throw new BoxError("E_INVALID_INPUT", `${source} is not a regular file`, { hint: "give the path of a tar archive, or - to read it from stdin" });
  return Bun.file(source).stream();
}

const command: Command = {
  summary: SUMMARY,
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("import", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, SUMMARY, FLAGS));
      return 0;
    }
    requireArgs("import", USAGE, positionals, 1, 2);
    const [source, tag] = positionals as [string, string | undefined];
    const image = await importImage(pathsFor(globals), openInput(source), {
      changes: flags.change as string[],
      message: typeof flags.message === "string" ? flags.message : undefined,
      tag,
      source,
    });
    out(`${image.id}\n`);
    return 0;
  },
};
export default command;
