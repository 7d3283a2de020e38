/**
 * `box run` as a pipeline of readable steps: resolve the configuration, start the shim, lay out
 * the container's directories, send the plan, wait, clean up. Each resource registers its undo
 * as soon as it exists, so a failure at any step leaves nothing behind.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodePlan } from "../../ffi/shim-protocol.ts";
import { getgid, getuid } from "../../ffi/syscalls.ts";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { writeJsonAtomic } from "../state/atomic.ts";
import { removeTree } from "../state/remove.ts";
import { mark } from "../trace.ts";
import { currentBoundingSet, processCaps, resolveCapabilities } from "./caps.ts";
import { createContainerCgroups, removeContainerCgroups } from "./cgroups.ts";
import { containerDirs, namesDir } from "./container-dirs.ts";
import { hostsFile, resolvConf } from "./etc.ts";
import { isMapped, rootlessMaps } from "./idmap.ts";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, type UserMount } from "./mounts.ts";
import { isValidName, newContainerId, randomName } from "./names.ts";
import { buildPlan } from "./plan.ts";
import { startShim, type ShimHandle } from "./shim.ts";
import type { ContainerSpec, NetworkMode, ResolvedMount } from "./spec.ts";
import { resolveUser } from "./user.ts";

/** What the image contributes: its layers (topmost first) and the run configuration. */
export interface RunnableImage {
  name: string;
  layers: string[];
  config: {
    env: string[];
    cmd: string[];
    entrypoint: string[];
    workingDir: string;
    user: string;
  };
}

export interface RunOptions {
  command: string[];
  entrypoint?: string;
  name?: string;
  hostname?: string;
  env: string[];
  envFiles: string[];
  workdir?: string;
  user?: string;
  readOnly: boolean;
  readOnlyTmpfs: boolean;
  volumes: string[];
  tmpfs: string[];
  mounts: string[];
  network: string;
  dns: string[];
  /** podman's --cgroups: "enabled" (default) or "disabled" (stay in box's own cgroup). */
  cgroups?: string;
  rm: boolean;
  interactive: boolean;
  tty?: { rows: number; cols: number };
  init: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
}

export interface RunEvents {
  /** The container process exists and has exec'd its command. */
  started?(info: { id: string; name: string; pid: number }): void;
  /** box's own signal handlers, installed for the lifetime of the container. */
  forwardSignals?(handle: ShimHandle): () => void;
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function parseNetwork(mode: string): NetworkMode {
  if (mode === "none" || mode === "host") return mode;
  if (mode === "default" || mode === "private" || mode === "bridge") return "none";
  throw new BoxError("E_INVALID_INPUT", `--network: unsupported network mode \`${mode}\``, {
    hint: "this build supports --network none (private, loopback only) and --network host",
  });
}

/** `-e NAME=value`, or `-e NAME` to copy it from box's own environment (skipped when unset). */
export function parseEnvFlag(spec: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const eq = spec.indexOf("=");
  const name = eq < 0 ? spec : spec.slice(0, eq);
  if (name === "" || /\s/.test(name)) {
    throw new BoxError("E_INVALID_INPUT", `-e: invalid environment variable \`${spec}\``, { hint: "use -e NAME=value" });
  }
  if (eq >= 0) return spec;
  const v = env[name];
  return v === undefined ? undefined : `${name}=${v}`;
}

export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new BoxError("E_INVALID_INPUT", `--env-file: cannot read \`${path}\`: ${(e as NodeJS.ErrnoException).code ?? e}`, { cause: e });
  }
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const v = parseEnvFlag(line);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** Later entries win, as with docker: image env, then box's, then the user's. */
function mergeEnv(...lists: string[][]): string[] {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const e of list) {
      const eq = e.indexOf("=");
      map.set(eq < 0 ? e : e.slice(0, eq), e);
    }
  }
  return [...map.values()];
}

function resolveMounts(paths: BoxPaths, user: UserMount[], readOnly: boolean, readOnlyTmpfs: boolean): ResolvedMount[] {
  const out: ResolvedMount[] = [];
  const seen = new Set<string>();
  for (const m of user) {
    if (seen.has(m.target)) throw new BoxError("E_INVALID_INPUT", `duplicate mount point \`${m.target}\``);
    seen.add(m.target);
    if (m.type === "bind") {
      let file = false;
      try {
        file = !statSync(m.source).isDirectory();
      } catch {
        throw new BoxError("E_INVALID_INPUT", `bind source path \`${m.source}\` does not exist`, {
          hint: "create it first, or check the path given to -v/--mount",
        });
      }
      out.push({ type: "bind", source: m.source, target: m.target, readonly: m.readonly, file, data: "", exec: true });
    } else if (m.type === "volume") {
      const data = join(paths.storage, "volumes", m.name, "_data");
      mkdirSync(data, { recursive: true });
      out.push({ type: "bind", source: data, target: m.target, readonly: m.readonly, file: false, data: "", exec: true });
    } else {
      const data = [m.mode ? `mode=${m.mode}` : "mode=1777", m.size ? `size=${m.size}` : ""].filter(Boolean).join(",");
      out.push({ type: "tmpfs", source: "tmpfs", target: m.target, readonly: m.readonly, file: false, data, exec: m.exec });
    }
  }
  // podman's --read-only-tmpfs: a read-only container still gets writable scratch space.
  if (readOnly && readOnlyTmpfs) {
    for (const target of ["/tmp", "/var/tmp", "/run"]) {
      if (seen.has(target)) continue;
      out.push({ type: "tmpfs", source: "tmpfs", target, readonly: false, file: false, data: "mode=1777", exec: true });
    }
  }
  return out;
}

function parseSecurityOpts(opts: string[]): { noNewPrivileges: boolean } {
  let noNewPrivileges = false;
  for (const o of opts) {
    const [k, v] = o.split(/[=:]/, 2);
    if (k === "no-new-privileges") noNewPrivileges = v === undefined || v === "true";
    else {
      throw new BoxError("E_INVALID_INPUT", `--security-opt: unsupported option \`${o}\``, { hint: "supported: no-new-privileges[=true|false]" });
    }
  }
  return { noNewPrivileges };
}

/** Claim `name` by creating names/<name> -> id; the symlink's atomic creation is the lock. */
function claimName(paths: BoxPaths, name: string, id: string): () => void {
  if (!isValidName(name)) {
    throw new BoxError("E_INVALID_INPUT", `invalid container name \`${name}\``, { hint: "names match [a-zA-Z0-9][a-zA-Z0-9_.-]*" });
  }
  const dir = namesDir(paths);
  mkdirSync(dir, { recursive: true });
  const link = join(dir, name);
  try {
    symlinkSync(id, link);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw new BoxError("E_EXISTS", `the container name "${name}" is already in use`, {
        hint: "remove that container or choose another --name",
      });
    }
    throw e;
  }
  return () => rmSync(link, { force: true });
}

/** Run a container in the foreground and return its exit code. */
export async function runContainer(paths: BoxPaths, image: RunnableImage, opts: RunOptions, events: RunEvents = {}): Promise<number> {
  const undo: (() => void | Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of undo.reverse()) {
      try {
        await fn();
      } catch {
        // Cleanup is best effort; the first error (or the exit code) is what the user needs.
      }
    }
    undo.length = 0;
  };
  mark("run: start");
  try {
    const id = newContainerId();
    let name = opts.name;
    if (name === undefined) {
      for (let i = 0; i < 5; i++) {
        name = randomName();
        if (!existsSync(join(namesDir(paths), name))) break;
      }
    }
    undo.push(claimName(paths, name as string, id));
    const dirs = containerDirs(paths, id, opts.rm);

    const cgroupsMode = opts.cgroups ?? "enabled";
    if (cgroupsMode !== "enabled" && cgroupsMode !== "disabled") {
      throw new BoxError("E_INVALID_INPUT", `--cgroups: invalid value \`${cgroupsMode}\``, { hint: "use --cgroups=enabled or --cgroups=disabled" });
    }
    // Start the shim now: its exec and its cgroup migration overlap with the work below.
    const handle = await startShim({ stdin: opts.interactive || opts.tty ? "inherit" : "ignore", stdout: "inherit", stderr: "inherit" });
    let planSent = false;
    undo.push(async () => {
      if (!planSent) await handle.abort();
    });
    // Rootless users get no cgroup delegation on this kind of host; their containers share the
    // invoking session's cgroup (as podman's do without systemd delegation).
    const cgroups = paths.rootless || cgroupsMode === "disabled" ? { dirs: [], procs: [] } : createContainerCgroups(id);
    // Registered before the shim's abort runs (undo is LIFO): a group is removable only once
    // the shim that joined it has exited.
    undo.splice(undo.length - 1, 0, () => removeContainerCgroups(cgroups.dirs));
    if (cgroups.procs.length > 0) handle.sendCgroups(cgroups.procs);
    mark("run: shim started, cgroups requested");

    const entrypoint = opts.entrypoint !== undefined ? (opts.entrypoint === "" ? [] : [opts.entrypoint]) : image.config.entrypoint;
    const cmd = opts.command.length > 0 ? opts.command : opts.entrypoint !== undefined ? [] : image.config.cmd;
    const args = [...entrypoint, ...cmd];
    if (args.length === 0) {
      throw new BoxError("E_INVALID_INPUT", "no command specified", { hint: `give a command after the image name, e.g. box run ${image.name} /bin/sh` });
    }

    const network = parseNetwork(opts.network);
    const userMounts = [
      ...opts.volumes.map(parseVolumeFlag),
      ...opts.tmpfs.map(parseTmpfsFlag),
      ...opts.mounts.map(parseMountFlag),
    ];
    const security = parseSecurityOpts(opts.securityOpt);
    const envFromFiles = opts.envFiles.flatMap(readEnvFile);
    const envFromFlags = opts.env.map((e) => parseEnvFlag(e)).filter((e): e is string => e !== undefined);

    const topLayer = image.layers[0] as string;
    const user = resolveUser(topLayer, opts.user ?? (image.config.user || undefined));
    const hostname = opts.hostname ?? (network === "host" ? readFileSync("/proc/sys/kernel/hostname", "utf8").trim() : id.slice(0, 12));
    const rootless = paths.rootless;
    const userns = rootless ? rootlessMaps(getuid(), getgid()) : undefined;
    if (userns && !isMapped(userns.uidRanges, user.uid)) {
      throw new BoxError("E_PERMISSION", `user ${user.uid} does not exist in this rootless container's user namespace`, {
        hint: "add a subordinate range for your user to /etc/subuid and /etc/subgid (then newuidmap maps 65536 ids)",
      });
    }
    const caps = resolveCapabilities({ privileged: opts.privileged, add: opts.capAdd, drop: opts.capDrop });

    const env = mergeEnv(
      [DEFAULT_PATH],
      image.config.env,
      [`HOSTNAME=${hostname}`],
      opts.tty ? ["TERM=xterm"] : [],
      [`HOME=${user.home}`],
      image.config.env.filter((e) => e.startsWith("HOME=")),
      envFromFiles,
      envFromFlags,
    );

    mark("run: configuration resolved");


    mkdirSync(dirs.state, { recursive: true, mode: 0o700 });
    undo.push(() => removeTree(dirs.state));
    for (const d of [dirs.upper, dirs.work, dirs.merged]) mkdirSync(d, { recursive: true });
    undo.push(() => removeTree(dirs.storage));
    writeFileSync(dirs.hostname, `${hostname}\n`);
    writeFileSync(dirs.hosts, hostsFile(hostname, network));
    writeFileSync(dirs.resolvConf, resolvConf(network, opts.dns));
    const mounts = resolveMounts(paths, userMounts, opts.readOnly, opts.readOnlyTmpfs);
    mark("run: files written");

    const spec: ContainerSpec = {
      id,
      name: name as string,
      rootfs: { lower: image.layers, upper: dirs.upper, work: dirs.work, merged: dirs.merged, volatile: opts.rm },
      readonly: opts.readOnly,
      mounts,
      etc: { hostname: dirs.hostname, hosts: dirs.hosts, resolvConf: dirs.resolvConf },
      hostname,
      network,
      ...(userns ? { userns } : {}),
      privileged: opts.privileged,
      cgroupns: true,
      process: {
        args,
        env,
        cwd: opts.workdir ?? (image.config.workingDir || "/"),
        uid: user.uid,
        gid: user.gid,
        // Supplementary groups cannot be set when setgroups is denied (a single-id map).
        groups: userns?.kind === "single" ? [] : user.groups,
        caps: processCaps(caps, user.uid, currentBoundingSet()),
        noNewPrivileges: security.noNewPrivileges,
        ...(opts.tty ? { tty: opts.tty } : {}),
        interactive: opts.interactive,
        init: opts.init,
      },
    };
    const plan = buildPlan(spec);
    if (userns?.kind === "single") plan.ops = plan.ops.filter((o) => o.op !== "groups");
    handle.sendPlan(encodePlan(plan));
    planSent = true;
    mark("run: plan sent");
    const stopForwarding = events.forwardSignals?.(handle);
    try {
      const startedAt = new Date().toISOString();
      const pid = await handle.started;
      mark("run: container started");
      writeJsonAtomic(dirs.stateFile, { id, name, image: image.name, status: "running", pid, startedAt }, { durable: false });
      events.started?.({ id, name: name as string, pid });
      const code = await handle.exited;
      mark("run: container exited");
      if (!opts.rm) {
        writeJsonAtomic(dirs.stateFile, { id, name, image: image.name, status: "exited", exitCode: code, startedAt, finishedAt: new Date().toISOString() }, { durable: false });
      }
      return code;
    } finally {
      stopForwarding?.();
      await handle.exited.catch(() => undefined);
      if (!opts.rm) {
        // A container kept for later keeps its name, files and state; only its cgroups go.
        undo.splice(0, undo.length, () => removeContainerCgroups(cgroups.dirs));
      }
    }
  } finally {
    await cleanup();
    mark("run: cleaned up");
  }
}

/** Used by tests and `box rm` until the lifecycle commands exist: forget a kept container. */
export function removeContainerFiles(paths: BoxPaths, id: string, name?: string): void {
  const dirs = containerDirs(paths, id);
  removeTree(dirs.state);
  removeTree(dirs.storage);
  if (name) {
    try {
      unlinkSync(join(namesDir(paths), name));
    } catch {
      // already gone
    }
  }
}
