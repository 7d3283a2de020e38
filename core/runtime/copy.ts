/**
 * `box cp` between a container and the host. Paths inside the container are resolved the way
 * the container itself would see them: every symlink is followed inside its root and clamped
 * there, so a container whose /etc is a symlink to `/` can never make box read or write the
 * host's /etc. A running container is reached through /proc/PID/root; a stopped one through
 * its layers, upper first (a whiteout hides what is below).
 */
import { accessSync, constants, cpSync, existsSync, lstatSync, mkdirSync, readlinkSync, statSync, type Stats } from "node:fs";
import { basename, join } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import type { ContainerRecord } from "../state/containers.ts";
import { writeTar } from "../image/tar-writer.ts";
import { containerLayers, containerOwners, mergedTree, tarEntries, type MergedEntry } from "./export.ts";
import { isRunning } from "./lifecycle.ts";

const MAX_LINKS = 40;

function unreadable(rel: string, cause: unknown): BoxError {
  return new BoxError("E_PERMISSION", `cannot read \`/${rel}\` of the container`, {
    cause,
    hint: "rootless, files a container user other than root made private are readable only with subordinate ids (/etc/subuid, /etc/subgid); or make them readable in the container (chmod)",
  });
}

/**
 * lstat, undefined when nothing is there. A refusal is an error, not an absence: under a 0700
 * directory of another container user the name may well exist, and saying "not found" would
 * hide why (and stop box from trying again in the user namespace).
 */
function lstatIn(p: string, rel: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") throw unreadable(rel, e);
    return undefined;
  }
}

/** Find the host path that holds `rel` in a stopped container's merged view. */
function layerLookup(r: ContainerRecord, rel: string): string | undefined {
  for (const dir of [r.dirs.upper, ...r.config.layers]) {
    const p = join(dir, rel);
    const st = lstatIn(p, rel);
    if (st === undefined) continue;
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    return p;
  }
  return undefined;
}

interface View {
  /** The host path of a container path whose parents are already resolved, if it exists. */
  locate(rel: string): string | undefined;
  /** Where a new entry at `rel` is written. */
  target(rel: string): string;
}

/**
 * `throughLayers`: read even a running container through its layers. Inside the user's user
 * namespace /proc/PID/root of a container is out of reach (the container's namespace is a
 * sibling, not a child, so the kernel's ptrace check refuses it); its layers are not.
 */
function viewOf(r: ContainerRecord, throughLayers = false): View {
  if (!throughLayers && isRunning(r) && r.state.pid !== undefined) {
    const root = `/proc/${r.state.pid}/root`;
    return { locate: (rel) => (lstatIn(join(root, rel), rel) !== undefined ? join(root, rel) : undefined), target: (rel) => join(root, rel) };
  }
  return { locate: (rel) => layerLookup(r, rel), target: (rel) => join(r.dirs.upper, rel) };
}

function throughLayers(paths: BoxPaths | undefined): boolean {
  return paths?.inUserNamespace === true;
}

/** Resolve a container path to a relative path with no symlink in it, clamped at the root. */
export function resolveContainerPath(view: View, path: string, followLast: boolean): string {
  let parts = path.split("/").filter((p) => p && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    if (part === "..") {
      done.pop();
      continue;
    }
    const rel = [...done, part].join("/");
    const host = view.locate(rel);
    const isLast = parts.length === 0;
    if (host && lstatSync(host).isSymbolicLink() && (!isLast || followLast)) {
      if (++links > MAX_LINKS) throw new BoxError("E_INVALID_INPUT", `too many symlinks resolving \`${path}\` in the container`);
      const target = readlinkSync(host);
      if (target.startsWith("/")) done.length = 0;
      parts = [...target.split("/").filter((p) => p && p !== "."), ...parts];
      continue;
    }
    done.push(part);
  }
  return done.join("/");
}

const COPY = { recursive: true, force: true, verbatimSymlinks: true, dereference: false, preserveTimestamps: true } as const;

/** `paths`: whose box reads (in the user namespace, a running container through its layers). */
export function copyFromContainer(r: ContainerRecord, src: string, dest: string, paths?: BoxPaths): void {
  const view = viewOf(r, throughLayers(paths));
  const rel = resolveContainerPath(view, src, true);
  const from = view.locate(rel);
  if (!from) throw new BoxError("E_NOT_FOUND", `could not find the file ${src} in container ${r.config.name}`);
  const contentsOnly = src.endsWith("/.");
  let to = dest;
  if (!contentsOnly && existsSync(dest) && statSync(dest).isDirectory()) to = join(dest, basename(rel) || "root");
  if (contentsOnly && !existsSync(dest)) mkdirSync(dest, { recursive: true });
  try {
    cpSync(from, to, COPY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") throw unreadable(rel, e);
    throw e;
  }
}

/**
 * `box cp CONTAINER:SRC -`: SRC as a tar stream, named by its last component as docker names it
 * (`SRC/.`: its contents only), owners as the container sees them. The merged view is walked
 * only along SRC's ancestors, so whiteouts and opaque directories hide what they hide in there.
 */
export function copyFromContainerTar(paths: BoxPaths, r: ContainerRecord, src: string): ReadableStream<Uint8Array> {
  const layered = throughLayers(paths) || !isRunning(r) || r.state.pid === undefined;
  const view = viewOf(r, layered);
  const rel = resolveContainerPath(view, src, true);
  if (!view.locate(rel)) throw new BoxError("E_NOT_FOUND", `could not find the file ${src} in container ${r.config.name}`);
  const layers = layered ? containerLayers(r) : [`/proc/${r.state.pid}/root`];
  const contentsOnly = src.endsWith("/.") || rel === "";
  const under = (p: string) => rel === "" || p === rel || p.startsWith(`${rel}/`);
  const prefix = basename(rel);
  function* entries(): Generator<MergedEntry> {
    if (!contentsOnly && !lstatSync(view.locate(rel) as string).isDirectory()) {
      yield { rel: prefix, abs: view.locate(rel) as string, stat: lstatSync(view.locate(rel) as string) };
      return;
    }
    for (const e of mergedTree(layers, (p) => !under(p) && !rel.startsWith(`${p}/`))) {
      if (!under(e.rel) || (contentsOnly && e.rel === rel)) continue;
      const tail = rel === "" ? e.rel : e.rel.slice(rel.length + 1);
      yield { ...e, rel: contentsOnly ? tail : tail === "" ? prefix : `${prefix}/${tail}` };
    }
  }
  // Everything is checked before the first byte goes out: a refusal halfway would leave a
  // truncated archive on stdout, and nothing could be tried again then.
  for (const e of entries()) {
    if (!e.stat.isFile() && !e.stat.isDirectory()) continue;
    try {
      accessSync(e.abs, e.stat.isDirectory() ? constants.R_OK | constants.X_OK : constants.R_OK);
    } catch (err) {
      throw unreadable(e.rel, err);
    }
  }
  return writeTar(tarEntries(entries(), containerOwners(paths)));
}

export function copyToContainer(r: ContainerRecord, src: string, dest: string): void {
  if (!existsSync(src)) throw new BoxError("E_NOT_FOUND", `could not find the file ${src} on the host`);
  const view = viewOf(r);
  const rel = resolveContainerPath(view, dest, true);
  const existing = view.locate(rel);
  const srcIsDir = statSync(src).isDirectory();
  const contentsOnly = src.endsWith("/.");
  let targetRel = rel;
  if (existing && statSync(existing).isDirectory() && !contentsOnly) targetRel = join(rel, basename(src));
  else if (!existing) {
    // The parent must exist in the container, as with docker.
    const parent = rel.split("/").slice(0, -1).join("/");
    if (parent !== "" && !view.locate(parent)) {
      throw new BoxError("E_NOT_FOUND", `could not find the directory ${dest.split("/").slice(0, -1).join("/") || "/"} in container ${r.config.name}`);
    }
  }
  const to = view.target(targetRel);
  mkdirSync(join(to, ".."), { recursive: true });
  if (srcIsDir && contentsOnly) mkdirSync(to, { recursive: true });
  cpSync(src, to, COPY);
}
