/** `box cp CONTAINER:SRC_PATH DEST_PATH|SRC_PATH CONTAINER:DEST_PATH` */
import { BoxError } from "../../core/errors.ts";
import { copyFromContainer, copyFromContainerTar, copyToContainer } from "../../core/runtime/copy.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { isPermissionRefusal, rerunInUserNamespace } from "../../core/image/userns-chown.ts";
import { streamToStdout } from "./export.ts";
import { out } from "../render/output.ts";
import { pathsFor } from "../context.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box cp CONTAINER:SRC_PATH DEST_PATH|SRC_PATH CONTAINER:DEST_PATH";

const command: Command = {
  summary: "Copy files/folders between a container and the local filesystem",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("cp", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Copy files/folders between a container and the local filesystem", FLAGS));
      return 0;
    }
    const paths = pathsFor(globals);
    requireArgs("cp", USAGE, positionals, 2, 2);
    const [a, b] = positionals as [string, string];
    const split = (s: string) => {
      const i = s.indexOf(":");
      return i > 0 && !s.startsWith("/") && !s.startsWith(".") ? { ref: s.slice(0, i), path: s.slice(i + 1) } : undefined;
    };
    const from = split(a);
    const to = split(b);
    if ((from && to) || (!from && !to)) {
      throw new BoxError("E_INVALID_INPUT", "copying between containers or between host paths is not supported", { hint: `usage: ${USAGE}` });
    }
    if (from) {
      const r = findContainer(paths, from.ref);
      let stream: ReadableStream<Uint8Array> | undefined;
      try {
        // The archive's checks all run here, before its first byte is written.
        if (b === "-") stream = copyFromContainerTar(paths, r, from.path);
        else copyFromContainer(r, from.path, b, paths);
      } catch (e) {
        // Files a container user made private are readable in the user's user namespace only.
        // Tried second, not first: a running container is best read through /proc/PID/root
        // (its volumes too), which is out of reach from in there.
        const again = isPermissionRefusal(e) ? await rerunInUserNamespace(paths, "cp", argv, globals.debug) : undefined;
        if (again === undefined) throw e;
        return again;
      }
      if (stream !== undefined) await streamToStdout(stream);
    }
    else if (to) copyToContainer(findContainer(paths, to.ref), a, to.path);
    return 0;
  },
};
export default command;
