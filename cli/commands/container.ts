/** `box container <sub>`: docker's management-command spellings of the container verbs. */
import { BoxError } from "../../core/errors.ts";
import { out } from "../render/output.ts";
import type { Command } from "./index.ts";


const SUBCOMMANDS: Record<string, [string, () => Promise<Command>]> = {
  ls: ["List containers", () => import("./ps.ts").then((m) => m.default)],
  list: ["List containers", () => import("./ps.ts").then((m) => m.default)],
  run: ["Create and run a new container from an image", () => import("./run.ts").then((m) => m.default)],
  start: ["Start one or more stopped containers", () => import("./start.ts").then((m) => m.default)],
  stop: ["Stop one or more running containers", () => import("./stop.ts").then((m) => m.default)],
  restart: ["Restart one or more containers", () => import("./restart.ts").then((m) => m.default)],
  kill: ["Kill one or more running containers", () => import("./kill.ts").then((m) => m.default)],
  rm: ["Remove one or more containers", () => import("./rm.ts").then((m) => m.default)],
  wait: ["Block until containers stop, then print their exit codes", () => import("./wait.ts").then((m) => m.default)],
  logs: ["Fetch the logs of a container", () => import("./logs.ts").then((m) => m.default)],
  exec: ["Execute a command in a running container", () => import("./exec.ts").then((m) => m.default)],
  inspect: ["Display detailed information on containers", () => import("./inspect.ts").then((m) => m.default)],
  pause: ["Pause all processes within one or more containers", () => import("./pause.ts").then((m) => m.default)],
  unpause: ["Unpause all processes within one or more containers", () => import("./unpause.ts").then((m) => m.default)],
  rename: ["Rename a container", () => import("./rename.ts").then((m) => m.default)],
  diff: ["Inspect changes to files or directories on a container's filesystem", () => import("./diff.ts").then((m) => m.default)],
  cp: ["Copy files/folders between a container and the local filesystem", () => import("./cp.ts").then((m) => m.default)],
  prune: ["Remove all stopped containers", () => import("./container-prune.ts").then((m) => m.default)],
  create: ["Create a new container", () => import("./create.ts").then((m) => m.default)],
  attach: ["Attach local standard input, output, and error streams to a running container", () => import("./attach.ts").then((m) => m.default)],
  top: ["Display the running processes of a container", () => import("./top.ts").then((m) => m.default)],
  port: ["List port mappings or a specific mapping for the container", () => import("./port.ts").then((m) => m.default)],
  stats: ["Display a live stream of container(s) resource usage statistics", () => import("./stats.ts").then((m) => m.default)],
  update: ["Update the resource limits of one or more containers", () => import("./update.ts").then((m) => m.default)],
  export: ["Export a container's filesystem as a tar archive", () => import("./export.ts").then((m) => m.default)],
  commit: ["Create a new image from a container's changes", () => import("./commit.ts").then((m) => m.default)],
  checkpoint: ["Checkpoint one or more running containers (CRIU)", () => import("./checkpoint.ts").then((m) => m.default)],
  restore: ["Restore one or more containers from a checkpoint (CRIU)", () => import("./restore.ts").then((m) => m.default)],
};

function help(): string {
  const rows = Object.entries(SUBCOMMANDS).filter(([n]) => n !== "list").map(([n, [s]]) => `  ${n.padEnd(12)}${s}`);
  return `Usage:  box container COMMAND\n\nManage containers\n\nCommands:\n${rows.join("\n")}\n\nRun 'box container COMMAND --help' for more information on a command.\n`;
}

const command: Command = {
  summary: "Manage containers",
  async run(argv, globals) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
      out(help());
      return 0;
    }
    const entry = SUBCOMMANDS[sub];
    if (entry === undefined) throw new BoxError("E_INVALID_INPUT", `unknown command "${sub}" for "box container"`, { hint: "see 'box container --help'" });
    return (await entry[1]()).run(rest, globals);
  },
};
export default command;
