/**
 * `box cp` between a container and the host. Paths inside the container are resolved the way
 * the container itself would see them: every symlink is followed inside its root and clamped
 * there, so a container whose /etc is a symlink to `/` can never make box read or write the
 * host's /etc. A running container is reached through /proc/PID/root; a stopped one through
 * its layers, upper first (a whiteout hides what is below).
 */
import { cpSync, existsSync, lstatSync, mkdirSync, readlinkSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { BoxError } from "../errors.ts";
import type { ContainerRecord } from "../state/containers.ts";
import { isRunning } from "./lifecycle.ts";

const MAX_LINKS = 40;

/** Find the host path that holds `rel` in a stopped container's merged view. */
function layerLookup(r: ContainerRecord, rel: string): string | undefined {
  for (const dir of [r.dirs.upper, ...r.config.layers]) {
    const p = join(dir, rel);
    try {
      const st = lstatSync(p);
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      return p;
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

interface View {
  /** The host path of a container path whose parents are already resolved, if it exists. */
  locate(rel: string): string | undefined;
  /** Where a new entry at `rel` is written. */
  target(rel: string): string;
}

function viewOf(r: ContainerRecord): View {
  if (isRunning(r) && r.state.pid !== undefined) {
    const root = `/proc/${r.state.pid}/root`;
    return { locate: (rel) => (existsSyncL(join(root, rel)) ? join(root, rel) : undefined), target: (rel) => join(root, rel) };
  }
  return { locate: (rel) => layerLookup(r, rel), target: (rel) => join(r.dirs.upper, rel) };
}

function existsSyncL(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
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

export function copyFromContainer(r: ContainerRecord, src: string, dest: string): void {
  const view = viewOf(r);
  const rel = resolveContainerPath(view, src, true);
  const from = view.locate(rel);
  if (!from) throw new BoxError("E_NOT_FOUND", `could not find the file ${src} in container ${r.config.name}`);
  const contentsOnly = src.endsWith("/.");
  let to = dest;
  if (!contentsOnly && existsSync(dest) && statSync(dest).isDirectory()) to = join(dest, basename(rel) || "root");
  if (contentsOnly && !existsSync(dest)) mkdirSync(dest, { recursive: true });
  cpSync(from, to, COPY);
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
