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
  ps: () => import("./ps.ts").then((m) => m.default),
  logs: () => import("./logs.ts").then((m) => m.default),
  stop: () => import("./stop.ts").then((m) => m.default),
  kill: () => import("./kill.ts").then((m) => m.default),
  rm: () => import("./rm.ts").then((m) => m.default),
  wait: () => import("./wait.ts").then((m) => m.default),
  start: () => import("./start.ts").then((m) => m.default),
  inspect: () => import("./inspect.ts").then((m) => m.default),
  _cleanup: () => import("./_cleanup.ts").then((m) => m.default),
};

const SUMMARIES: [string, string][] = [
  ["run", "Create and run a container from an image"],
  ["pull", "Download an image (the built-in `base` works offline)"],
  ["version", "Show the box version"],
  ["ps", "List containers"],
  ["logs", "Fetch the logs of a container"],
  ["start", "Start one or more stopped containers"],
  ["stop", "Stop one or more running containers"],
  ["kill", "Kill one or more running containers"],
  ["rm", "Remove one or more containers"],
  ["wait", "Block until containers stop, then print their exit codes"],
  ["inspect", "Display detailed information on containers"],
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
