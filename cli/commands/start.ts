/** `box start [-a] [-i] CONTAINER...` */
import { BoxError } from "../../core/errors.ts";
import { connectAttach, type AttachSession } from "../../core/runtime/attach.ts";
import { isRunning } from "../../core/runtime/lifecycle.ts";
import { startContainer } from "../../core/runtime/run.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { exitCommand, pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import { ATTACH_FLAGS, attachStdio, exitStatus, printOutput, requireTerminal, stdioFlags } from "./attach.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  attach: { type: "boolean", short: "a", description: "Attach STDOUT/STDERR and forward signals" },
  "detach-keys": ATTACH_FLAGS["detach-keys"] as FlagTable[string],
  interactive: { type: "boolean", short: "i", description: "Attach container's STDIN" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box start [OPTIONS] CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Start one or more stopped containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("start", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Start one or more stopped containers", FLAGS));
      return 0;
    }
    requireArgs("start", USAGE, positionals, 1);
    const paths = pathsFor(globals);
    const interactive = flags.interactive as boolean;
    if ((flags.attach as boolean) || interactive) {
      if (positionals.length > 1) throw new BoxError("E_INVALID_INPUT", "you cannot start and attach multiple containers at once");
      const parsed = stdioFlags(flags);
      const r = findContainer(paths, positionals[0] as string);
      const running = isRunning(r);
      // As `docker start -ai`: the stdin of the container it starts ends with box's; one already
      // running is only attached to, and keeps its stdin open.
      const opts = { ...parsed, tty: r.config.options.tty !== undefined, stdin: interactive, stdinOnce: !running };
      requireTerminal(opts);
      // The container runs under its own monitor, as with -d, and box connects while the monitor
      // holds it before its first instruction: no output is missed, and the detach keys leave it running.
      let session: AttachSession | undefined;
      if (running) session = await connectAttach(r.dirs, r.config.name, { output: printOutput });
      else {
        try {
          await startContainer(paths, r, {
            detach: true,
            ...(interactive ? { interactive } : {}),
            exitCommand: exitCommand(globals, paths, r.config.id),
            hooks: [async () => {
              session = await connectAttach(r.dirs, r.config.name, { output: printOutput });
            }],
          });
        } catch (e) {
          session?.close();
          throw e;
        }
      }
      return exitStatus(paths, r, await attachStdio(session as AttachSession, opts));
    }
    return forEach(positionals, async (ref) => {
      const r = findContainer(paths, ref);
      if (!isRunning(r)) await startContainer(paths, r, { detach: true, exitCommand: exitCommand(globals, paths, r.config.id) });
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;
