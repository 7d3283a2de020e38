/** `box logout [OPTIONS] [SERVER]`: forget stored credentials. */
import { BoxError } from "../../core/errors.ts";
import { logout } from "../../core/image/login.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import type { Command } from "./index.ts";
import { out } from "../render/output.ts";

const FLAGS: FlagTable = {
  all: { type: "boolean", short: "a", description: "Remove the credentials of every registry" },
  authfile: { type: "string", description: "Path of the authentication file (default $XDG_RUNTIME_DIR/containers/auth.json)" },
  help: { type: "boolean", description: "Print usage" },
};

const command: Command = {
  summary: "Log out from a registry",
  async run(argv) {
    const { flags, positionals } = parseFlags("logout", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box logout [OPTIONS] [SERVER]", "Log out from a registry", FLAGS));
      return 0;
    }
    if (positionals.length > 1) throw new BoxError("E_INVALID_INPUT", "\"box logout\" accepts at most 1 argument", { hint: "usage: box logout [OPTIONS] [SERVER]" });
    const { registry, removed } = logout(positionals[0], { all: flags.all === true, authfile: flags.authfile as string | undefined });
    if (flags.all) out(removed ? "Removed login credentials for all registries\n" : "Not logged in to any registry\n");
    else out(removed ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
    return 0;
  },
};
export default command;
