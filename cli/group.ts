/**
 * docker's management commands (`box image ls`, `box container rm`): a noun whose subcommands
 * are the verbs' own command modules, loaded only when chosen.
 */
import { BoxError } from "../core/errors.ts";
import type { Command } from "./commands/index.ts";
import { out } from "./render/output.ts";

/** name → [summary, loader]. Names listed as aliases work but stay out of the help. */
export type Subcommands = Record<string, [string, () => Promise<Command>]>;

export function commandGroup(noun: string, summary: string, subcommands: Subcommands, aliases: string[] = []): Command {
  const help = (): string => {
    const rows = Object.entries(subcommands).filter(([n]) => !aliases.includes(n)).map(([n, [s]]) => `  ${n.padEnd(10)}${s}`);
    return `Usage:  box ${noun} COMMAND\n\n${summary}\n\nCommands:\n${rows.join("\n")}\n\nRun 'box ${noun} COMMAND --help' for more information on a command.\n`;
  };
  return {
    summary,
    async run(argv, globals) {
      const [sub, ...rest] = argv;
      if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
        out(help());
        return 0;
      }
      const entry = subcommands[sub];
      if (entry === undefined) throw new BoxError("E_INVALID_INPUT", `unknown command "${sub}" for "box ${noun}"`, { hint: `see 'box ${noun} --help'` });
      return (await entry[1]()).run(rest, globals);
    },
  };
}
