/** `box pull [OPTIONS] NAME[:TAG|@DIGEST]`: docker's flags and output; `base` works offline. */
import { BoxError } from "../../core/errors.ts";
import type { PullEvent } from "../../core/image/copy/pull.ts";
import { parsePlatform } from "../../core/image/registry/platform.ts";
import { shortName } from "../../core/image/store/lookup.ts";
import { isatty } from "../../core/terminal.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { reportFailure } from "../render/error.ts";
import { err, out } from "../render/output.ts";
import { LayerProgress } from "../render/progress.ts";

const FLAGS: FlagTable = {
  quiet: { type: "boolean", short: "q", description: "Suppress verbose output" },
  platform: { type: "string", description: "Set platform if server is multi-platform capable (os/arch[/variant])" },
  "tls-verify": { type: "boolean", default: true, description: "Require HTTPS and verify certificates when contacting registries" },
  help: { type: "boolean", description: "Print usage" },
};

const command: Command = {
  summary: "Download an image from a registry",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("pull", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box pull [OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", FLAGS));
      return 0;
    }
    const [ref] = positionals;
    if (!ref || positionals.length > 1) throw new BoxError("E_INVALID_INPUT", "\"box pull\" requires exactly 1 argument", { hint: "usage: box pull NAME[:TAG|@DIGEST]" });
    const { pullImage } = await import("../../core/image/copy/pull.ts");
    const progress = !flags.quiet && isatty(1) ? new LayerProgress() : undefined;
    const onEvent = progress === undefined ? undefined : (e: PullEvent): void => {
      if (e.type === "resolved") progress.start(e.layers.map((l) => l.digest));
      else progress.update(e.digest, e.status, e.done, e.total);
    };
    const platform = typeof flags.platform === "string" ? parsePlatform(flags.platform) : undefined;
    const paths = pathsFor(globals);
    let result;
    try {
      result = await pullImage(paths, ref, { tlsVerify: flags["tls-verify"] as boolean, platform, onEvent });
    } catch (e) {
      progress?.finish();
      return reportFailure(e, globals.debug);
    }
    progress?.finish();
    if (!flags.quiet) {
      const name = shortName(result.reference);
      out(`Digest: ${result.digest}\nStatus: ${result.fresh ? "Downloaded newer image" : "Image is up to date"} for ${name}\n`);
    }
    out(`${result.reference}\n`);
    if (result.ownersLost !== undefined) {
      const { lostOwnersNotice } = await import("../../core/image/userns-chown.ts");
      const note = lostOwnersNotice(paths, result.ownersLost);
      if (note) err(`box: note: ${note}\n`);
    }
    return 0;
  },
};
export default command;
