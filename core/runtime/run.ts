/**
 * Creating and starting containers, as a pipeline of readable steps: claim a name, start the
 * shim, resolve the configuration, lay out the directories, send the plan, then either wait in
 * the foreground or leave the monitor behind (-d). Each resource registers its undo as soon as
 * it exists, so a failure at any step leaves nothing behind.
 */
import { mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodePlan } from "../../ffi/shim-protocol.ts";
import { getgid, getuid } from "../../ffi/syscalls.ts";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import type { ContainerConfig } from "../schema/container.ts";
import { loadContainer, processStartTime, saveConfig, saveState, type ContainerRecord } from "../state/containers.ts";
import { removeTree } from "../state/remove.ts";
import { mark } from "../trace.ts";
import { currentBoundingSet, processCaps, resolveCapabilities } from "./caps.ts";
import { createContainerCgroups, removeCgroupsOf } from "./cgroups.ts";
import { mountedHierarchies, oomKilled } from "./cgroups/layout.ts";
import { cgroupfsLayout } from "./cgroups/cgroupfs.ts";
import { containerDirs, namesDir, type ContainerDirs } from "./container-dirs.ts";
import { networkHooks } from "../network/hook.ts";
import { joinSharedNetwork, sharedNetworkOf } from "../network/share.ts";
import { hostsFile, parseAddHost, resolvConf } from "./etc.ts";
import { isMapped, rootlessMaps } from "./idmap.ts";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from "./mounts.ts";
import { isValidName, newContainerId, randomName } from "./names.ts";
import {
  DEFAULT_PATH, mergeEnv, parseEnvFlag, parseNetwork, parseSecurityOpts, readEnvFile, resolveMounts,
  type RunnableImage, type RunOptions,
} from "./options.ts";
import { attachSocketPath } from "./attach.ts";
import { buildPlan } from "./plan.ts";
import { applyResources, refuseLimits } from "./resources.ts";
import { startShim, type ShimHandle } from "./shim.ts";
import type { ContainerSpec } from "./spec.ts";
import { resolveUser } from "./user.ts";
import { unwind, type Undo } from "./undo.ts";

export type { RunnableImage, RunOptions } from "./options.ts";
export type { Undo };

export interface RunEvents {
  /** The container process exists and has exec'd its command. */
  started?(info: { id: string; name: string; pid: number }): void;
  /** box's own signal handlers, installed for the lifetime of a foreground container. */
  forwardSignals?(handle: ShimHandle): () => void;
}

/** How a detached monitor calls box back when its container exits (conmon's exit command). */
export interface ExitCommand {
  argv: string[];
}

/** Claim `name` by creating names/<name> -> id; the symlink's atomic creation is the lock. */
function claimName(paths: BoxPaths, name: string, id: string): Undo {
  if (!isValidName(name)) {
    throw new BoxError("E_INVALID_INPUT", `invalid container name \`${name}\``, { hint: "names match [a-zA-Z0-9][a-zA-Z0-9_.-]*" });
  }
  const dir = namesDir(paths);
  mkdirSync(dir, { recursive: true });
  const link = join(dir, name);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      symlinkSync(id, link);
      return () => rmSync(link, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      // A name left by a container whose files are gone (a --rm container lost in a reboot)
      // is free again.
      const existing = safeReadlink(link);
      if (attempt === 0 && existing && !loadContainer(paths, existing)) {
        rmSync(link, { force: true });
        continue;
      }
      throw new BoxError("E_EXISTS", `the container name "${name}" is already in use`, {
        hint: "remove that container or choose another --name",
      });
    }
  }
  throw new BoxError("E_EXISTS", `the container name "${name}" is already in use`);
}

function safeReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** Create a container: its id, name, directories and configuration. Nothing runs yet. */
export function createContainer(paths: BoxPaths, image: RunnableImage, opts: RunOptions): { record: ContainerRecord; undo: Undo[] } {
  const undo: Undo[] = [];
  const id = newContainerId();
  let name = opts.name;
  if (name !== undefined) undo.push(claimName(paths, name, id));
  else {
    // The claim itself is the test: a generated name that is taken is simply drawn again, and
    // after a few collisions (900 pairs) a number makes it unique, as docker does.
    for (let attempt = 0; name === undefined; attempt++) {
      const candidate = attempt < 8 ? randomName() : `${randomName()}${attempt}`;
      try {
        undo.push(claimName(paths, candidate, id));
        name = candidate;
      } catch (e) {
        if (!(e instanceof BoxError && e.code === "E_EXISTS") || attempt > 64) throw e;
      }
    }
  }
  const dirs = containerDirs(paths, id, opts.rm && !opts.detach);
  for (const d of [dirs.upper, dirs.work, dirs.merged]) mkdirSync(d, { recursive: true });
  undo.push(() => removeTree(dirs.storage));
  mkdirSync(dirs.state, { recursive: true, mode: 0o700 });
  undo.push(() => removeTree(dirs.state));
  const config: ContainerConfig = {
    id,
    name: name as string,
    created: new Date().toISOString(),
    image: image.name,
    ...(image.id !== undefined ? { imageId: image.id } : {}),
    layers: image.layers,
    imageConfig: image.config,
    options: { ...opts },
  };
  saveConfig(dirs, config);
  const record: ContainerRecord = { config, state: { status: "created" }, dirs };
  saveState(dirs, record.state);
  return { record, undo };
}

/** The argv of the command a container runs: docker's ENTRYPOINT + CMD rules. */
function commandOf(config: ContainerConfig): string[] {
  const o = config.options;
  const image = config.imageConfig;
  const entrypoint = o.entrypoint !== undefined ? (o.entrypoint === "" ? [] : [o.entrypoint]) : image.entrypoint;
  const cmd = o.command.length > 0 ? o.command : o.entrypoint !== undefined ? [] : image.cmd;
  return [...entrypoint, ...cmd];
}

/**
 * Work that needs the container's process to exist but not yet run: moving a veth into its
 * network namespace, for instance. The shim holds the process between clone and its first
 * instruction while the hooks run. A hook may return its undo, run when the container is gone.
 */
export type PreStartHook = (ctx: { pid: number; record: ContainerRecord; spec: ContainerSpec }) => Promise<Undo | void>;

export interface StartOptions {
  /** Run with the process held after clone; see PreStartHook. */
  hooks?: PreStartHook[];
  detach: boolean;
  /** For a detached start: the command the monitor runs when the container exits. */
  exitCommand?: ExitCommand;
  /** Attach stdin (foreground -i / start -i). */
  interactive?: boolean;
  /** Set when the restart policy starts the container again (counted in the state). */
  restartCount?: number;
}

/**
 * Start a created (or exited) container. In the foreground, resolves with its exit code once it
 * has exited; detached, resolves with 0 as soon as it runs, leaving the monitor in charge.
 */
export async function startContainer(paths: BoxPaths, record: ContainerRecord, start: StartOptions, events: RunEvents = {}): Promise<number> {
  const { config, dirs } = record;
  const opts = config.options;
  const id = config.id;
  const undo: Undo[] = [];
  mark("run: start");
  try {
    // The state root is volatile: after a reboot a created container has none yet.
    mkdirSync(dirs.state, { recursive: true, mode: 0o700 });
    const args = commandOf(config);
    if (args.length === 0) {
      throw new BoxError("E_INVALID_INPUT", "no command specified", { hint: `give a command after the image name, e.g. box run ${config.image} /bin/sh` });
    }
    const cgroupsMode = opts.cgroups ?? "enabled";
    if (cgroupsMode !== "enabled" && cgroupsMode !== "disabled") {
      throw new BoxError("E_INVALID_INPUT", `--cgroups: invalid value \`${cgroupsMode}\``, { hint: "use --cgroups=enabled or --cgroups=disabled" });
    }
    const interactive = start.interactive ?? opts.interactive;
    // Start the shim now: its exec and its cgroup migration overlap with the work below.
    const handle = await startShim({
      stdin: !start.detach && (interactive || opts.tty) ? "inherit" : "ignore",
      stdout: start.detach ? "ignore" : "inherit",
      stderr: start.detach ? "ignore" : "inherit",
    });
    let planSent = false;
    undo.push(async () => {
      if (!planSent) await handle.abort();
    });
    // Rootless containers get groups only in a cgroup2 subtree delegated to the user; without
    // one they share the invoking session's group (as podman's do), and asked-for limits are errors.
    if (paths.rootless) refuseLimits(opts.resources, "rootless");
    if (cgroupsMode === "disabled") refuseLimits(opts.resources, "disabled");
    // Read once: the groups and the container's /sys/fs/cgroup follow the same hierarchies.
    const hierarchies = mountedHierarchies();
    const cgroups = cgroupsMode === "disabled" ? { dirs: [], procs: [] } : createContainerCgroups(id, hierarchies);
    // Before the shim's abort in the LIFO undo: a group is removable only once the shim that
    // joined it has exited.
    undo.splice(undo.length - 1, 0, () => removeCgroupsOf(cgroups.dirs));
    // Limits go in before the shim is told to join the groups: the container never runs unlimited.
    applyResources(cgroups.dirs, opts.resources);
    if (cgroups.procs.length > 0) handle.sendCgroups(cgroups.procs);
    mark("run: shim started, cgroups requested");

    const image = config.imageConfig;
    const network = parseNetwork(opts.network);
    // Networking (bridge, pasta, slirp4netns): set up by a hook while the shim holds the process.
    const networkSetup = networkHooks(paths, opts);
    const sharedNetwork = sharedNetworkOf(paths, opts);
    const userMounts = [...opts.volumes.map(parseVolumeFlag), ...opts.tmpfs.map(parseTmpfsFlag), ...opts.mounts.map(parseMountFlag)];
    const security = parseSecurityOpts(opts.securityOpt);
    const envFromFiles = opts.envFiles.flatMap(readEnvFile);
    const envFromFlags = opts.env.map((e) => parseEnvFlag(e)).filter((e): e is string => e !== undefined);
    const topLayer = config.layers[0] as string;
    const user = resolveUser(topLayer, opts.user ?? (image.user || undefined));
    const hostname = opts.hostname ?? sharedNetwork?.hostname ?? (network === "host" ? readFileSync("/proc/sys/kernel/hostname", "utf8").trim() : id.slice(0, 12));
    const userns = paths.rootless ? rootlessMaps(getuid(), getgid()) : undefined;
    if (userns && !isMapped(userns.uidRanges, user.uid)) {
      throw new BoxError("E_PERMISSION", `user ${user.uid} does not exist in this rootless container's user namespace`, {
        hint: "add a subordinate range for your user to /etc/subuid and /etc/subgid (then newuidmap maps 65536 ids)",
      });
    }
    const caps = resolveCapabilities({ privileged: opts.privileged, add: opts.capAdd, drop: opts.capDrop });
    const env = mergeEnv(
      [DEFAULT_PATH],
      image.env,
      [`HOSTNAME=${hostname}`],
      opts.tty ? ["TERM=xterm"] : [],
      [`HOME=${user.home}`],
      image.env.filter((e) => e.startsWith("HOME=")),
      envFromFiles,
      envFromFlags,
    );
    mark("run: configuration resolved");

    writeFileSync(dirs.hostname, `${hostname}\n`);
    writeFileSync(dirs.hosts, hostsFile(hostname, network, undefined, (opts.addHosts ?? []).map(parseAddHost)));
    writeFileSync(dirs.resolvConf, resolvConf(network, opts.dns));
    rmSync(dirs.exitFile, { force: true });
    const mounts = resolveMounts(paths, userMounts, opts.readOnly, opts.readOnlyTmpfs);
    mark("run: files written");

    const ephemeral = opts.rm && !start.detach;
    const spec: ContainerSpec = {
      id,
      name: config.name,
      rootfs: { lower: config.layers, upper: dirs.upper, work: dirs.work, merged: dirs.merged, volatile: ephemeral },
      readonly: opts.readOnly,
      mounts,
      etc: { hostname: dirs.hostname, hosts: sharedNetwork?.hosts ?? dirs.hosts, resolvConf: sharedNetwork?.resolvConf ?? dirs.resolvConf },
      hostname,
      network,
      ...(userns ? { userns } : {}),
      privileged: opts.privileged,
      cgroupns: true,
      cgroupfs: cgroupfsLayout(hierarchies),
      process: {
        args,
        env,
        cwd: opts.workdir ?? (image.workingDir || "/"),
        uid: user.uid,
        gid: user.gid,
        // Supplementary groups cannot be set when setgroups is denied (a single-id map).
        groups: userns?.kind === "single" ? [] : user.groups,
        caps: processCaps(caps, user.uid, currentBoundingSet()),
        noNewPrivileges: security.noNewPrivileges,
        seccomp: security.seccomp,
        ...(opts.tty ? { tty: opts.tty } : {}),
        // Detached, the monitor gives an interactive container a stdin that `box attach` feeds.
        interactive,
        init: opts.init,
      },
    };
    const plan = buildPlan(spec);
    if (userns?.kind === "single") plan.ops = plan.ops.filter((o) => o.op !== "groups");
    if (sharedNetwork) joinSharedNetwork(plan, sharedNetwork, paths.rootless);
    if (start.detach) {
      plan.header.detach = {
        log: dirs.log, exitFile: dirs.exitFile, exitCommand: start.exitCommand?.argv ?? [],
        attach: { socket: attachSocketPath(dirs), stdin: interactive },
      };
    }
    const hooks = [...(start.hooks ?? []), ...networkSetup];
    if (hooks.length > 0) plan.header.hold = true;
    handle.sendPlan(encodePlan(plan));
    planSent = true;
    mark("run: plan sent");
    if (hooks.length > 0) {
      const pid = await handle.created;
      for (const hook of hooks) {
        const u = await hook({ pid, record, spec });
        if (u) undo.push(u);
      }
      handle.release();
    }

    const stopForwarding = start.detach ? undefined : events.forwardSignals?.(handle);
    try {
      const startedAt = new Date().toISOString();
      const pid = await handle.started;
      mark("run: container started");
      const pidStartTime = processStartTime(pid);
      saveState(dirs, {
        status: "running", pid, ...(pidStartTime ? { pidStartTime } : {}), shimPid: handle.shimPid, startedAt,
        ...(start.restartCount ? { restartCount: start.restartCount } : {}),
      });
      events.started?.({ id, name: config.name, pid });
      if (start.detach) {
        // The monitor owns the container now; its exit command removes the cgroups.
        undo.length = 0;
        return 0;
      }
      const code = await handle.exited;
      mark("run: container exited");
      // Read before the undo removes the groups: the memory group's OOM counter is the only witness.
      const oom = oomKilled(cgroups.dirs);
      saveState(dirs, { status: "exited", pid, shimPid: handle.shimPid, startedAt, finishedAt: new Date().toISOString(), exitCode: code, ...(oom ? { oomKilled: true } : {}) });
      return code;
    } finally {
      stopForwarding?.();
      if (!start.detach) await handle.exited.catch(() => undefined);
    }
  } finally {
    await unwind(undo);
  }
}

/** `box run`: create, start, and (with --rm, in the foreground) remove. */
export async function runContainer(paths: BoxPaths, image: RunnableImage, opts: RunOptions, events: RunEvents = {}, exitCommand?: (id: string) => ExitCommand): Promise<number> {
  const { record, undo } = createContainer(paths, image, opts);
  let removeAfter = opts.rm && !opts.detach;
  try {
    const code = await startContainer(paths, record, { detach: opts.detach ?? false, ...(exitCommand ? { exitCommand: exitCommand(record.config.id) } : {}) }, events);
    return code;
  } catch (e) {
    // A container that never started is not kept, whatever --rm says (docker keeps it in
    // "created"; a half-made container is more trouble than it is worth to the user).
    removeAfter = true;
    throw e;
  } finally {
    if (removeAfter) await unwind(undo);
    mark("run: cleaned up");
  }
}

/** Forget a container's files and name (the container must not be running). */
export function removeContainerFiles(paths: BoxPaths, record: { config: { name: string }; dirs: ContainerDirs }): void {
  removeTree(record.dirs.state);
  removeTree(record.dirs.storage);
  try {
    unlinkSync(join(namesDir(paths), record.config.name));
  } catch {
    // already gone
  }
}
