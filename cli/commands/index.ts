/** The command table: each entry loads its module only when that command runs. */
import type { GlobalOptions } from "../context.ts";

export interface Command {
  summary: string;
  run(args: string[], globals: GlobalOptions): Promise<number>;
}

type Loader = () => Promise<Command>;

export const COMMANDS: Record<string, Loader> = {
  run: () => import("./run.ts").then((m) => m.default),
  build: () => import("./build.ts").then((m) => m.default),
  pull: () => import("./pull.ts").then((m) => m.default),
  push: () => import("./push.ts").then((m) => m.default),
  images: () => import("./images.ts").then((m) => m.default),
  image: () => import("./image.ts").then((m) => m.default),
  rmi: () => import("./rmi.ts").then((m) => m.default),
  tag: () => import("./tag.ts").then((m) => m.default),
  history: () => import("./history.ts").then((m) => m.default),
  login: () => import("./login.ts").then((m) => m.default),
  logout: () => import("./logout.ts").then((m) => m.default),
  info: () => import("./info.ts").then((m) => m.default),
  save: () => import("./save.ts").then((m) => m.default),
  load: () => import("./load.ts").then((m) => m.default),
  import: () => import("./import.ts").then((m) => m.default),
  export: () => import("./export.ts").then((m) => m.default),
  commit: () => import("./commit.ts").then((m) => m.default),
  attach: () => import("./attach.ts").then((m) => m.default),
  version: () => import("./version.ts").then((m) => m.default),
  ps: () => import("./ps.ts").then((m) => m.default),
  logs: () => import("./logs.ts").then((m) => m.default),
  stop: () => import("./stop.ts").then((m) => m.default),
  kill: () => import("./kill.ts").then((m) => m.default),
  rm: () => import("./rm.ts").then((m) => m.default),
  wait: () => import("./wait.ts").then((m) => m.default),
  start: () => import("./start.ts").then((m) => m.default),
  inspect: () => import("./inspect.ts").then((m) => m.default),
  exec: () => import("./exec.ts").then((m) => m.default),
  network: () => import("./network.ts").then((m) => m.default),
  port: () => import("./port.ts").then((m) => m.default),
  restart: () => import("./restart.ts").then((m) => m.default),
  pause: () => import("./pause.ts").then((m) => m.default),
  unpause: () => import("./unpause.ts").then((m) => m.default),
  rename: () => import("./rename.ts").then((m) => m.default),
  diff: () => import("./diff.ts").then((m) => m.default),
  cp: () => import("./cp.ts").then((m) => m.default),
  container: () => import("./container.ts").then((m) => m.default),
  create: () => import("./create.ts").then((m) => m.default),
  update: () => import("./update.ts").then((m) => m.default),
  stats: () => import("./stats.ts").then((m) => m.default),
  top: () => import("./top.ts").then((m) => m.default),
  _cleanup: () => import("./_cleanup.ts").then((m) => m.default),
  _chown: () => import("./_chown.ts").then((m) => m.default),
};

const SUMMARIES: [string, string][] = [
  ["run", "Create and run a container from an image"],
  ["build", "Build an image from a Dockerfile"],
  ["pull", "Download an image from a registry (the built-in `base` works offline)"],
  ["push", "Upload an image to a registry"],
  ["images", "List images"],
  ["image", "Manage images (ls, inspect, rm, prune, pull, push, tag, history)"],
  ["rmi", "Remove one or more images"],
  ["tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"],
  ["history", "Show the history of an image"],
  ["login", "Log in to a registry"],
  ["logout", "Log out from a registry"],
  ["save", "Save one or more images to a tar archive (streamed to STDOUT by default)"],
  ["load", "Load an image from a tar archive or STDIN"],
  ["import", "Import the contents from a tarball to create a filesystem image"],
  ["export", "Export a container's filesystem as a tar archive"],
  ["commit", "Create a new image from a container's changes"],
  ["info", "Display system-wide information"],
  ["version", "Show the box version"],
  ["ps", "List containers"],
  ["logs", "Fetch the logs of a container"],
  ["start", "Start one or more stopped containers"],
  ["stop", "Stop one or more running containers"],
  ["kill", "Kill one or more running containers"],
  ["rm", "Remove one or more containers"],
  ["wait", "Block until containers stop, then print their exit codes"],
  ["inspect", "Display detailed information on containers"],
  ["exec", "Execute a command in a running container"],
  ["attach", "Attach local standard input, output, and error streams to a running container"],
  ["network", "Manage networks (create, ls, inspect, rm, connect, disconnect, prune)"],
  ["port", "List port mappings or a specific mapping for the container"],
  ["update", "Update the resource limits of one or more containers"],
  ["stats", "Display a live stream of container(s) resource usage statistics"],
  ["top", "Display the running processes of a container"],
  ["restart", "Restart one or more containers"],
  ["pause", "Pause all processes within one or more containers"],
  ["unpause", "Unpause all processes within one or more containers"],
  ["rename", "Rename a container"],
  ["diff", "Inspect changes to files or directories on a container's filesystem"],
  ["cp", "Copy files/folders between a container and the local filesystem"],
  ["create", "Create a new container"],
  ["container", "Manage containers (ls, prune, and the verbs above)"],
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
