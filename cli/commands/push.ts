/** `box push [OPTIONS] IMAGE [DESTINATION]`: docker's output; DESTINATION as podman allows. */
import { BoxError } from "../../core/errors.ts";
import type { PushEvent } from "../../core/image/copy/push.ts";
import { shortName } from "../../core/image/store/lookup.ts";
import { isatty } from "../../core/terminal.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { reportFailure } from "../render/error.ts";
import { out } from "../render/output.ts";
import { LayerProgress } from "../render/progress.ts";

const FLAGS: FlagTable = {
  quiet: { type: "boolean", short: "q", description: "Suppress verbose output" },
  "tls-verify": { type: "boolean", default: true, description: "Require HTTPS and verify certificates when contacting registries" },
  "chunk-size": { type: "string", description: "Upload blobs in chunks of this many bytes instead of one request", valueHint: "bytes" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box push [OPTIONS] NAME[:TAG] [DESTINATION]";

const command: Command = {
  summary: "Upload an image to a registry",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("push", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Upload an image to a registry", FLAGS));
      return 0;
    }
    const [source, dest] = positionals;
    if (source === undefined || positionals.length > 2) throw new BoxError("E_INVALID_INPUT", "\"box push\" requires 1 or 2 arguments", { hint: `usage: ${USAGE}` });
    const chunkSize = typeof flags["chunk-size"] === "string" ? Number(flags["chunk-size"]) : undefined;
    if (chunkSize !== undefined && !(Number.isSafeInteger(chunkSize) && chunkSize > 0)) {
      throw new BoxError("E_INVALID_INPUT", `invalid --chunk-size "${flags["chunk-size"]}": expected a positive number of bytes`, { hint: "see 'box push --help'" });
    }
    const quiet = flags.quiet === true;
    const progress = !quiet && isatty(1) ? new LayerProgress("Pushed") : undefined;
    const onEvent = (e: PushEvent): void => {
      if (e.type === "resolved") {
        if (!quiet) out(`The push refers to repository [${e.reference.replace(/:[^:/]*$/, "")}]\n`);
        progress?.start(e.layers);
      } else progress?.update(e.digest, e.status, e.done, e.total);
    };
    const { pushImage } = await import("../../core/image/copy/push.ts");
    let result;
    try {
      result = await pushImage(pathsFor(globals), source, dest, { tlsVerify: flags["tls-verify"] as boolean, chunkSize, onEvent });
    } catch (e) {
      progress?.finish();
      return reportFailure(e, globals.debug);
    }
    progress?.finish();
    out(quiet ? `${shortName(result.reference)}\n` : `${result.tag}: digest: ${result.digest} size: ${result.size}\n`);
    return 0;
  },
};
export default command;
