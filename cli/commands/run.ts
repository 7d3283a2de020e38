/** `box run [OPTIONS] IMAGE [COMMAND [ARG...]]` */
import { BoxError } from "../../core/errors.ts";
import { parsePullPolicy, resolveRunImage } from "../../core/image/run-image.ts";
import { createContainer, runContainer, type RunOptions } from "../../core/runtime/run.ts";
import { parseRestartPolicy } from "../../core/runtime/restart-policy.ts";
import { inlineSecurityOpts } from "../../core/runtime/options.ts";
import { mark } from "../../core/trace.ts";
import type { ShimHandle } from "../../core/runtime/shim.ts";
import { isatty } from "../../core/terminal.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { exitCommand, pathsFor, type GlobalOptions } from "../context.ts";
import type { Command } from "./index.ts";
import { err, out } from "../render/output.ts";
import { LayerProgress } from "../render/progress.ts";
import { parseResources, rootlessLimitsNotice } from "../../core/runtime/resources.ts";
import { RESOURCE_FLAGS, resourceFlags } from "./update.ts";

export const RUN_FLAGS: FlagTable = {
  ...RESOURCE_FLAGS,
  "cap-add": { type: "list", description: "Add Linux capabilities" },
  "cap-drop": { type: "list", description: "Drop Linux capabilities" },
  detach: { type: "boolean", short: "d", description: "Run container in background and print container ID" },
  cgroups: { type: "string", description: "Control the container's cgroups (enabled, disabled)", default: "enabled" },
  dns: { type: "list", description: "Set custom DNS servers" },
  "add-host": { type: "list", description: "Add a custom host-to-IP mapping (host:ip)" },
  expose: { type: "list", description: "Expose a port or a range of ports (published by -P)" },
  ip: { type: "string", description: "IPv4 address (e.g., 10.88.0.20)" },
  ip6: { type: "string", description: "IPv6 address (e.g., fd00:88::20)" },
  publish: { type: "list", short: "p", description: "Publish a container's port(s) to the host ([ip:]host:container[/tcp|udp])" },
  pull: { type: "string", description: "Pull image before running (always, missing, never)", default: "missing" },
  "publish-all": { type: "boolean", short: "P", description: "Publish all exposed ports to random ports" },
  entrypoint: { type: "string", description: "Overwrite the default ENTRYPOINT of the image" },
  env: { type: "list", short: "e", description: "Set environment variables" },
  "env-file": { type: "list", description: "Read in a file of environment variables" },
  help: { type: "boolean", description: "Print usage" },
  hostname: { type: "string", short: "h", description: "Container host name" },
  init: { type: "boolean", description: "Run an init inside the container that forwards signals and reaps processes" },
  interactive: { type: "boolean", short: "i", description: "Keep STDIN open even if not attached" },
  mount: { type: "list", description: "Attach a filesystem mount to the container" },
  name: { type: "string", description: "Assign a name to the container" },
  network: { type: "string", description: "Connect a container to a network (bridge, NAME, none, host, pasta, slirp4netns, container:NAME)", default: "default" },
  net: { type: "string", description: "Alias of --network", hidden: true },
  privileged: { type: "boolean", description: "Give extended privileges to this container" },
  "read-only": { type: "boolean", description: "Mount the container's root filesystem as read only" },
  "read-only-tmpfs": { type: "boolean", description: "With --read-only, mount tmpfs on /tmp, /var/tmp and /run", default: true },
  restart: { type: "string", description: "Restart policy when the container exits (no, on-failure[:N], always, unless-stopped)", default: "no" },
  rm: { type: "boolean", description: "Automatically remove the container when it exits" },
  rootfs: { type: "string", description: "Run from this root filesystem directory instead of an image" },
  "security-opt": { type: "list", description: "Security options (no-new-privileges, seccomp=unconfined|PROFILE.json)" },
  tmpfs: { type: "list", description: "Mount a tmpfs directory" },
  tty: { type: "boolean", short: "t", description: "Allocate a pseudo-TTY" },
  user: { type: "string", short: "u", description: "Username or UID (format: <name|uid>[:<group|gid>])" },
  volume: { type: "list", short: "v", description: "Bind mount a volume" },
  workdir: { type: "string", short: "w", description: "Working directory inside the container" },
};

const USAGE = "box run [OPTIONS] IMAGE [COMMAND] [ARG...]";

/** Signals box passes on to the container, as docker's sig-proxy does. */
export function signalForwarder(terminalSignalsReachShim: boolean) {
  return (handle: ShimHandle) => {
    const signals: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"];
    // When the shim shares box's foreground process group, the terminal already delivered
    // Ctrl-C and Ctrl-\ to it; forwarding them again would send them twice.
    if (!terminalSignalsReachShim) signals.push("SIGINT", "SIGQUIT");
    const handlers = signals.map((s) => {
      const h = () => handle.signal(s);
      process.on(s, h);
      return [s, h] as const;
    });
    // In the foreground group box gets these too; the shim acts on its own copy.
    const ignore = () => undefined;
    if (terminalSignalsReachShim) for (const s of ["SIGINT", "SIGQUIT", "SIGWINCH"] as const) process.on(s, ignore);
    return () => {
      for (const [s, h] of handlers) process.off(s, h);
      if (terminalSignalsReachShim) for (const s of ["SIGINT", "SIGQUIT", "SIGWINCH"] as const) process.off(s, ignore);
    };
  };
}

/** `box run`, or with `create` set `box create`: the same flags, but nothing is started. */
export async function runOrCreate(argv: string[], globals: GlobalOptions, create: boolean): Promise<number> {
    const verb = create ? "create" : "run";
    const usage = create ? "box create [OPTIONS] IMAGE [COMMAND] [ARG...]" : USAGE;
    const { flags, positionals } = parseFlags(verb, RUN_FLAGS, argv, true);
    if (flags.help) {
      out(renderHelp(usage, create ? "Create a new container" : "Create and run a new container from an image", RUN_FLAGS));
      return 0;
    }
    const rootfs = flags.rootfs as string | undefined;
    // With --rootfs the first positional is already the command, as with podman.
    const [imageRef, ...cmd] = rootfs !== undefined ? ["", ...positionals] : positionals;
    if (rootfs === undefined && !imageRef) {
      throw new BoxError("E_INVALID_INPUT", `"box ${verb}" requires at least 1 argument`, { hint: `usage: ${usage}` });
    }
    const tty = flags.tty as boolean;
    const interactive = flags.interactive as boolean;
    // Only a container run in the foreground reads this terminal; -d and create leave it to attach.
    if (tty && interactive && !create && !flags.detach && !isatty(0)) {
      throw new BoxError("E_INVALID_INPUT", "the input device is not a TTY", { hint: "drop -t, or run box from a terminal" });
    }
    // Checked before anything is resolved or created: a bad limit costs nothing.
    const resources = parseResources(resourceFlags(flags));
    const paths = pathsFor(globals);
    mark("run: flags parsed");
    const progress = isatty(2) ? new LayerProgress("Pull complete", err) : undefined;
    const image = await resolveRunImage(paths, {
      ref: imageRef as string,
      rootfs,
      policy: parsePullPolicy(flags.pull as string),
      pull: {
        announce: (ref) => err(`Unable to find image '${ref}' locally\n`),
        ...(progress ? { onEvent: (e) => (e.type === "resolved" ? progress.start(e.layers.map((l) => l.digest)) : progress.update(e.digest, e.status, e.done, e.total)) } : {}),
      },
    }).finally(() => progress?.finish());
    mark("run: image resolved");
    // The shim reads the window size from the terminal itself; 0x0 asks it to.
    const size = tty ? { rows: 0, cols: 0 } : undefined;
    const options: RunOptions = {
      command: cmd,
      ...(flags.entrypoint !== undefined ? { entrypoint: flags.entrypoint as string } : {}),
      ...(flags.name !== undefined ? { name: flags.name as string } : {}),
      ...(flags.hostname !== undefined ? { hostname: flags.hostname as string } : {}),
      ...(flags.workdir !== undefined ? { workdir: flags.workdir as string } : {}),
      ...(flags.user !== undefined ? { user: flags.user as string } : {}),
      env: flags.env as string[],
      envFiles: flags["env-file"] as string[],
      readOnly: flags["read-only"] as boolean,
      readOnlyTmpfs: flags["read-only-tmpfs"] as boolean,
      volumes: flags.volume as string[],
      tmpfs: flags.tmpfs as string[],
      mounts: flags.mount as string[],
      network: (flags.net as string | undefined) ?? (flags.network as string),
      dns: flags.dns as string[],
      publish: flags.publish as string[],
      publishAll: flags["publish-all"] as boolean,
      expose: flags.expose as string[],
      addHosts: flags["add-host"] as string[],
      ...(flags.ip !== undefined ? { ip: flags.ip as string } : {}),
      ...(flags.ip6 !== undefined ? { ip6: flags.ip6 as string } : {}),
      cgroups: flags.cgroups as string,
      rm: flags.rm as boolean,
      detach: flags.detach as boolean,
      interactive,
      ...(size ? { tty: size } : {}),
      init: flags.init as boolean,
      privileged: flags.privileged as boolean,
      capAdd: flags["cap-add"] as string[],
      capDrop: flags["cap-drop"] as string[],
      securityOpt: inlineSecurityOpts(flags["security-opt"] as string[]),
      restart: parseRestartPolicy(flags.restart as string),
      ...(resources ? { resources } : {}),
    };
    if (options.restart?.name !== "no" && options.rm) {
      throw new BoxError("E_INVALID_INPUT", "conflicting options: --restart and --rm", { hint: "a container that restarts cannot also be removed when it exits" });
    }
    if (create) {
      out(`${createContainer(paths, image, options).record.config.id}\n`);
      return 0;
    }
    // A rootless user at a terminal is told once (core remembers) which limits their containers
    // cannot have; a script's stderr stays the container's own.
    const note = resources || flags.cgroups === "disabled" || !isatty(2) ? undefined : rootlessLimitsNotice(paths);
    if (note) err(`box: note: ${note}\n`);
    return await runContainer(paths, image, options, { forwardSignals: signalForwarder(tty || interactive), started: flags.detach ? ({ id }) => out(`${id}\n`) : undefined }, (id) => exitCommand(globals, paths, id));
}

const command: Command = {
  summary: "Create and run a container from an image",
  run: (argv, globals) => runOrCreate(argv, globals, false),
};
export default command;
