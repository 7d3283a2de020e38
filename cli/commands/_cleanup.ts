/** Hidden: run by a detached container's monitor when the container exits. */
import { cleanupContainer } from "../../core/runtime/lifecycle.ts";
import { applyRestartPolicy } from "../../core/runtime/restart-policy.ts";
import { exitCommand, pathsFor } from "../context.ts";
import type { Command } from "./index.ts";

const command: Command = {
  summary: "(internal) record a detached container's exit and remove its cgroups",
  async run(argv, globals) {
    const [id] = argv;
    if (!id) return 125;
    const paths = pathsFor(globals);
    await cleanupContainer(paths, id);
    await applyRestartPolicy(paths, id, (cid) => exitCommand(globals, paths, cid));
    return 0;
  },
};
export default command;
