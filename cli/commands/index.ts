/** The command table: each entry loads its module only when that command runs. */
import type { GlobalOptions } from "../context.ts";

export interface Command {
  summary: string;
  run(args: string[], globals: GlobalOptions): Promise<number>;
}

type Loader = () => Promise<Command>;

export const COMMANDS: Record<string, Loader> = {
  run: () => import("./run.ts").then((m) => m.default),
  pull: () => import("./pull.ts").then((m) => m.default),
  version: () => import("./version.ts").then((m) => m.default),
};

const SUMMARIES: [string, string][] = [
  ["run", "Create and run a container from an image"],
  ["pull", "Download an image (the built-in `base` works offline)"],
  ["version", "Show the box version"],
];

export function renderTopHelp(): string {
  const rows = SUMMARIES.map(([n, s]) => `  ${n.padEnd(10)}${s}`).join("\n");
  return `Usage:  box [--root DIR] [--runroot DIR] [--log-level debug] COMMAND

A daemonless container engine.

Commands:
${rows}

Run 'box COMMAND --help' for more information on a command.
`;
}
