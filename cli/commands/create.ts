/** `box create [OPTIONS] IMAGE [COMMAND] [ARG...]`: `box run`'s flags, nothing started. */
import type { Command } from "./index.ts";
import { runOrCreate } from "./run.ts";

const command: Command = {
  summary: "Create a new container",
  run: (argv, globals) => runOrCreate(argv, globals, true),
};
export default command;
