/**
 * The inputs of a container and the rules that turn them into a configuration: docker's
 * semantics for -e, --env-file, -v/--tmpfs/--mount, --security-opt and --network.
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import type { Resources } from "../schema/container.ts";
import type { UserMount } from "./mounts.ts";
import type { RestartPolicy } from "./restart-policy.ts";
import { inlineSeccompOption, parseSeccompOption, type SeccompChoice } from "./seccomp/index.ts";
import type { NetworkMode, ResolvedMount } from "./spec.ts";

/** What the image contributes: its layers (topmost first) and the run configuration. */
export interface RunnableImage {
  name: string;
  /** The stored image's ID (its config digest); absent for --rootfs directories. */
  id?: string;
  layers: string[];
  config: {
    env: string[];
    cmd: string[];
    entrypoint: string[];
    workingDir: string;
    user: string;
    /** EXPOSE: `80/tcp` keys, which -P publishes with --expose. */
    exposedPorts?: string[];
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
  /** docker's --restart, applied when a detached container exits (restart-policy.ts). */
  restart?: RestartPolicy;
  /** -d: the monitor outlives box, the output goes to the container's log. */
  detach?: boolean;
  interactive: boolean;
  tty?: { rows: number; cols: number };
  init: boolean;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  /** cgroup limits (--memory, --cpus, ...); only what the user asked for is set. */
  resources?: Resources;
  /** -p specs, as given (core/network/ports.ts parses them). */
  publish?: string[];
  /** -P: publish the --expose ports on random host ports. */
  publishAll?: boolean;
  expose?: string[];
  /** --add-host NAME:IP */
  addHosts?: string[];
  /** --ip / --ip6: a fixed address on the bridge network. */
  ip?: string;
  ip6?: string;
}

export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * What --network asks for. `default` (no flag) is the `box` bridge for root, as docker's
 * default bridge, and pasta for rootless users, as podman's; `bridge` names the default bridge
 * network; any other word names a network made with `box network create`.
 */
export type NetworkChoice =
  | { kind: "none" }
  | { kind: "host" }
  | { kind: "default" }
  | { kind: "bridge"; name: string }
  | { kind: "pasta" }
  | { kind: "slirp4netns" }
  /** container:<name|id>: join that running container's network namespace (core/network/share.ts). */
  | { kind: "container"; ref: string };

export function parseNetworkChoice(mode: string): NetworkChoice {
  if (mode === "none" || mode === "host" || mode === "pasta" || mode === "slirp4netns") return { kind: mode };
  if (mode === "default" || mode === "private" || mode === "") return { kind: "default" };
  if (mode === "bridge") return { kind: "bridge", name: "box" };
  if (mode.startsWith("container:")) {
    const ref = mode.slice("container:".length);
    if (ref === "") throw new BoxError("E_INVALID_INPUT", "--network container: needs a container", { hint: "use --network container:NAME or container:ID" });
    return { kind: "container", ref };
  }
  if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(mode)) return { kind: "bridge", name: mode };
  throw new BoxError("E_INVALID_INPUT", `--network: unsupported network mode \`${mode}\``, {
    hint: "use bridge, none, host, pasta, slirp4netns, container:NAME or the name of a network from box network ls",
  });
}

/** The namespace side of the choice: everything but host gets a network namespace of its own. */
export function parseNetwork(mode: string): NetworkMode {
  return parseNetworkChoice(mode).kind === "host" ? "host" : "none";
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
export function mergeEnv(...lists: string[][]): string[] {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const e of list) {
      const eq = e.indexOf("=");
      map.set(eq < 0 ? e : e.slice(0, eq), e);
    }
  }
  return [...map.values()];
}

export function resolveMounts(paths: BoxPaths, user: UserMount[], readOnly: boolean, readOnlyTmpfs: boolean): ResolvedMount[] {
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

/**
 * docker's --security-opt values box knows: no-new-privileges[=true|false] and
 * seccomp=unconfined|PATH (docker also accepts `:` for `=`). A seccomp profile is read and checked
 * here, so a bad one fails the run before anything starts.
 */
export function parseSecurityOpts(opts: string[]): { noNewPrivileges: boolean; seccomp: SeccompChoice } {
  let noNewPrivileges = false;
  let seccomp: SeccompChoice = { kind: "default" };
  for (const o of opts) {
    const sep = o.search(/[=:]/);
    const k = sep < 0 ? o : o.slice(0, sep);
    const v = sep < 0 ? undefined : o.slice(sep + 1);
    if (k === "no-new-privileges") noNewPrivileges = v === undefined || v === "true";
    else if (k === "seccomp" && v !== undefined) seccomp = parseSeccompOption(v);
    else {
      throw new BoxError("E_INVALID_INPUT", `--security-opt: unsupported option \`${o}\``, {
        hint: "supported: no-new-privileges[=true|false], seccomp=unconfined, seccomp=/path/to/profile.json",
      });
    }
  }
  return { noNewPrivileges, seccomp };
}

/** --security-opt as a container keeps it: a seccomp profile's path replaced by its content. */
export function inlineSecurityOpts(opts: string[]): string[] {
  return opts.map(inlineSeccompOption);
}
