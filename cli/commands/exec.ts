/** `box exec [OPTIONS] CONTAINER COMMAND [ARG...]` */
import { BoxError } from "../../core/errors.ts";
import { execInContainer } from "../../core/runtime/exec.ts";
import { findContainer } from "../../core/state/containers.ts";
import { isatty } from "../../core/terminal.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { signalForwarder } from "./run.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  detach: { type: "boolean", short: "d", description: "Detached mode: run command in the background" },
  env: { type: "list", short: "e", description: "Set environment variables" },
  "env-file": { type: "list", description: "Read in a file of environment variables" },
  interactive: { type: "boolean", short: "i", description: "Keep STDIN open even if not attached" },
  privileged: { type: "boolean", description: "Give extended privileges to the command" },
  tty: { type: "boolean", short: "t", description: "Allocate a pseudo-TTY" },
  user: { type: "string", short: "u", description: "Username or UID (format: <name|uid>[:<group|gid>])" },
  workdir: { type: "string", short: "w", description: "Working directory inside the container" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box exec [OPTIONS] CONTAINER COMMAND [ARG...]";

const command: Command = {
  summary: "Execute a command in a running container",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("exec", FLAGS, argv, true);
    if (flags.help) {
      out(renderHelp(USAGE, "Execute a command in a running container", FLAGS));
      return 0;
    }
    const [ref, ...cmd] = positionals;
    if (!ref || cmd.length === 0) throw new BoxError("E_INVALID_INPUT", "\"box exec\" requires at least 2 arguments", { hint: `usage: ${USAGE}` });
    const tty = flags.tty as boolean;
    const interactive = flags.interactive as boolean;
    if (tty && interactive && !isatty(0)) throw new BoxError("E_INVALID_INPUT", "the input device is not a TTY", { hint: "drop -t, or run box from a terminal" });
    const paths = pathsFor(globals);
    return execInContainer(paths, findContainer(paths, ref), {
      command: cmd,
      env: flags.env as string[],
      envFiles: flags["env-file"] as string[],
      ...(flags.user !== undefined ? { user: flags.user as string } : {}),
      ...(flags.workdir !== undefined ? { workdir: flags.workdir as string } : {}),
      tty,
      interactive,
      detach: flags.detach as boolean,
      privileged: flags.privileged as boolean,
    }, signalForwarder(tty || interactive));
  },
};
export default command;
