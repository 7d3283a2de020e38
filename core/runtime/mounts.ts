/**
 * The user's mounts: `-v`, `--tmpfs` and `--mount`, parsed into one shape with docker's rules.
 */
import { posix } from "node:path";
import { BoxError } from "../errors.ts";

export type UserMount =
  | { type: "bind"; source: string; target: string; readonly: boolean }
  | { type: "volume"; name: string; anonymous: boolean; target: string; readonly: boolean }
  | { type: "tmpfs"; target: string; readonly: boolean; size?: string; mode?: string; exec: boolean };

function containerPath(p: string, flag: string): string {
  if (!p.startsWith("/")) {
    throw new BoxError("E_INVALID_INPUT", `${flag}: invalid mount path \`${p}\`: the container path must be absolute`);
  }
  const norm = posix.normalize(p);
  if (norm === "/") throw new BoxError("E_INVALID_INPUT", `${flag}: cannot mount over the container's root \`/\``);
  return norm.replace(/\/+$/, "");
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}

/** `-v [SOURCE:]TARGET[:OPTIONS]` where SOURCE is a host path or a volume name. */
export function parseVolumeFlag(spec: string): UserMount {
  const parts = spec.split(":");
  if (parts.length > 3 || parts.some((p) => p === "")) {
    throw new BoxError("E_INVALID_INPUT", `-v: invalid volume specification \`${spec}\``, {
      hint: "use -v /host/path:/container/path[:ro] or -v name:/container/path",
    });
  }
  let readonly = false;
  let source: string | undefined;
  let target: string;
  if (parts.length === 1) {
    target = parts[0] as string;
  } else if (parts.length === 2 && (parts[1] as string).startsWith("/")) {
    source = parts[0];
    target = parts[1] as string;
  } else if (parts.length === 2) {
    // `-v /ctr:ro` is an anonymous volume with options.
    target = parts[0] as string;
    readonly = parseVolumeOptions(parts[1] as string, spec);
  } else {
    source = parts[0];
    target = parts[1] as string;
    readonly = parseVolumeOptions(parts[2] as string, spec);
  }
  const t = containerPath(target, "-v");
  if (source === undefined) return { type: "volume", name: randomHex(32), anonymous: true, target: t, readonly };
  if (source.startsWith("/")) return { type: "bind", source: posix.normalize(source), target: t, readonly };
  if (source.startsWith(".")) {
    throw new BoxError("E_INVALID_INPUT", `-v: \`${source}\` is a relative path`, { hint: "bind mounts need an absolute host path, e.g. -v \"$PWD/dir:/dir\"" });
  }
  if (!VOLUME_NAME.test(source)) {
    throw new BoxError("E_INVALID_INPUT", `-v: \`${source}\` is not a valid volume name`, { hint: "volume names match [a-zA-Z0-9][a-zA-Z0-9_.-]*" });
  }
  return { type: "volume", name: source, anonymous: false, target: t, readonly };
}

function parseVolumeOptions(opts: string, spec: string): boolean {
  let readonly = false;
  for (const o of opts.split(",")) {
    if (o === "ro") readonly = true;
    else if (o === "rw") readonly = false;
    // SELinux relabelling and propagation modes are accepted for compatibility; this host has
    // no SELinux and container mounts are private.
    else if (["z", "Z", "private", "rprivate", "shared", "rshared", "slave", "rslave", "nocopy", "O"].includes(o)) continue;
    else throw new BoxError("E_INVALID_INPUT", `-v: unknown option \`${o}\` in \`${spec}\``, { hint: "valid options are ro, rw, z, Z" });
  }
  return readonly;
}

/** `--tmpfs /path[:size=64m,mode=1777,ro,exec]`. */
export function parseTmpfsFlag(spec: string): UserMount {
  const idx = spec.indexOf(":");
  const target = containerPath(idx < 0 ? spec : spec.slice(0, idx), "--tmpfs");
  const m: UserMount & { type: "tmpfs" } = { type: "tmpfs", target, readonly: false, exec: false };
  if (idx >= 0) {
    for (const o of spec.slice(idx + 1).split(",").filter(Boolean)) applyTmpfsOption(m, o, spec);
  }
  return m;
}

function applyTmpfsOption(m: UserMount & { type: "tmpfs" }, o: string, spec: string): void {
  const [k, v] = o.split("=", 2) as [string, string | undefined];
  if (k === "ro") m.readonly = true;
  else if (k === "rw") m.readonly = false;
  else if (k === "exec") m.exec = true;
  else if (k === "noexec") m.exec = false;
  else if (["nosuid", "nodev", "suid", "dev", "atime", "noatime", "relatime", "strictatime"].includes(k)) return;
  else if (k === "size" && v && /^\d+[kmgKMG%]?$/.test(v)) m.size = v.toLowerCase();
  else if (k === "mode" && v && /^[0-7]{3,4}$/.test(v)) m.mode = v;
  else throw new BoxError("E_INVALID_INPUT", `--tmpfs: invalid option \`${o}\` in \`${spec}\``, { hint: "e.g. --tmpfs /run:size=64m,mode=755" });
}

/** `--mount type=bind|volume|tmpfs,source=...,target=...,readonly`. */
export function parseMountFlag(spec: string): UserMount {
  const kv = new Map<string, string>();
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    kv.set(key, eq < 0 ? "true" : part.slice(eq + 1));
  }
  const type = kv.get("type") ?? "volume";
  const target = kv.get("target") ?? kv.get("destination") ?? kv.get("dst");
  if (!target) throw new BoxError("E_INVALID_INPUT", `--mount: no target in \`${spec}\``, { hint: "add target=/path/in/container" });
  const t = containerPath(target, "--mount");
  const ro = kv.get("readonly") ?? kv.get("ro");
  const readonly = ro !== undefined && ro !== "false" && ro !== "0";
  const source = kv.get("source") ?? kv.get("src");
  if (type === "bind") {
    if (!source || !source.startsWith("/")) {
      throw new BoxError("E_INVALID_INPUT", `--mount: a bind mount needs an absolute source, got \`${source ?? ""}\``);
    }
    return { type: "bind", source: posix.normalize(source), target: t, readonly };
  }
  if (type === "volume") {
    if (source !== undefined && !VOLUME_NAME.test(source)) {
      throw new BoxError("E_INVALID_INPUT", `--mount: \`${source}\` is not a valid volume name`);
    }
    return { type: "volume", name: source ?? randomHex(32), anonymous: source === undefined, target: t, readonly };
  }
  if (type === "tmpfs") {
    const m: UserMount & { type: "tmpfs" } = { type: "tmpfs", target: t, readonly, exec: false };
    const size = kv.get("tmpfs-size");
    if (size !== undefined) applyTmpfsOption(m, `size=${size}`, spec);
    const mode = kv.get("tmpfs-mode");
    if (mode !== undefined) applyTmpfsOption(m, `mode=${mode}`, spec);
    return m;
  }
  throw new BoxError("E_INVALID_INPUT", `--mount: unsupported type \`${type}\``, { hint: "box supports type=bind, type=volume and type=tmpfs" });
}
