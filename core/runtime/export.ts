/**
 * `box export`: a container's file system as the container sees it, as one uncompressed tar.
 *
 * The overlay is merged here, in user space, rather than read through a mount: box is a
 * multi-threaded process and cannot unshare a mount namespace of its own, a rootless user cannot
 * mount the overlay on the host at all, and a running container's /proc/PID/root would bring its
 * /proc, /sys and volumes along. The rules are overlayfs's (Documentation/filesystems/overlayfs.rst):
 * for each name, the topmost layer that has it decides; a whiteout (a 0/0 character device, or
 * an empty file marked `<ns>.overlay.whiteout`) hides it; a non-directory hides everything below;
 * a directory merges with the directories below it down to the first opaque one
 * (`<ns>.overlay.opaque=y`) or the first layer where the name is not a directory.
 */
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeSync, type Stats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { lgetxattr } from "../../ffi/fsnodes.ts";
import { getgid, getuid } from "../../ffi/syscalls.ts";
import { BoxError } from "../errors.ts";
import { writeTar, type TarWriterEntry } from "../image/tar-writer.ts";
import type { BoxPaths } from "../paths.ts";
import type { ContainerRecord } from "../state/containers.ts";
import { rootlessMaps } from "./idmap.ts";

/** Host ids as stat shows them → the ids the container (and so the archive) should record. */
export type OwnerMapper = (uid: number, gid: number) => [number, number];

/**
 * As root, host ids are container ids. Rootless, the container's ids live shifted in the host's
 * subordinate ranges (and the user's own id is the container's root), so they are mapped back;
 * an id outside every range becomes nobody (65534), as the kernel shows it inside.
 */
export function containerOwners(paths: BoxPaths): OwnerMapper {
  // In the user's user namespace the kernel already shows the container's ids.
  if (!paths.rootless || paths.inUserNamespace) return (u, g) => [u, g];
  const maps = rootlessMaps(getuid(), getgid());
  const back = (ranges: { inside: number; outside: number; count: number }[], id: number): number => {
    for (const r of ranges) if (id >= r.outside && id < r.outside + r.count) return r.inside + (id - r.outside);
    return 65534;
  };
  return (u, g) => [back(maps.uidRanges, u), back(maps.gidRanges, g)];
}

const SMALL_FILE = 256 * 1024;
const decoder = new TextDecoder();

function xattrText(path: string, name: string): string | undefined {
  for (const ns of ["trusted", "user"]) {
    try {
      const v = lgetxattr(path, `${ns}.${name}`);
      if (v !== null) return decoder.decode(v);
    } catch {
      // No xattr support where the layer lives: the mark cannot be there.
    }
  }
  return undefined;
}

/** A whiteout: the kernel's 0/0 device, or the "xwhiteout" box's unpacker writes where mknod is refused. */
function isWhiteout(path: string, st: Stats): boolean {
  if (st.isCharacterDevice()) return st.rdev === 0;
  return st.isFile() && st.size === 0 && xattrText(path, "overlay.whiteout") !== undefined;
}

function isOpaque(path: string): boolean {
  return xattrText(path, "overlay.opaque") === "y";
}

function unreadable(path: string, cause: unknown): BoxError {
  return new BoxError("E_PERMISSION", `cannot read \`${path}\` of the container`, {
    cause,
    hint: "rootless, files a container user other than root made private are readable to box only with subordinate ids (/etc/subuid, /etc/subgid); or make them readable in the container (chmod)",
  });
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function devNumbers(rdev: number): [number, number] {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
  return [major, minor];
}

export interface MergedEntry {
  /** Path relative to the root, no leading slash. */
  rel: string;
  /** Where its content is on the host. */
  abs: string;
  stat: Stats;
}

/**
 * The merged view of `layers` (topmost first), depth first, names sorted: what a mount of the
 * overlay would list. `skip(rel)` leaves a path (and what is under it) out.
 */
export function* mergedTree(layers: readonly string[], skip?: (rel: string) => boolean): Generator<MergedEntry> {
  function* walk(rel: string, sources: string[]): Generator<MergedEntry> {
    const names = new Set<string>();
    for (const src of sources) {
      try {
        for (const n of readdirSync(join(src, rel))) names.add(n);
      } catch (e) {
        // A directory a running container deleted meanwhile adds nothing; one box may not read
        // would silently drop content from the archive, so that is an error.
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "ENOTDIR") throw unreadable(`/${rel}`, e);
      }
    }
    for (const name of [...names].sort()) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      if (skip?.(childRel)) continue;
      let i = 0;
      let top: { abs: string; st: Stats } | undefined;
      for (; i < sources.length; i++) {
        const abs = join(sources[i] as string, childRel);
        const st = lstatOrUndefined(abs);
        if (st !== undefined) {
          top = { abs, st };
          break;
        }
      }
      if (top === undefined || isWhiteout(top.abs, top.st)) continue;
      yield { rel: childRel, abs: top.abs, stat: top.st };
      if (!top.st.isDirectory()) continue;
      const below: string[] = [sources[i] as string];
      if (!isOpaque(top.abs)) {
        for (let j = i + 1; j < sources.length; j++) {
          const abs = join(sources[j] as string, childRel);
          const st = lstatOrUndefined(abs);
          if (st === undefined) continue;
          if (!st.isDirectory()) break;
          below.push(sources[j] as string);
          if (isOpaque(abs)) break;
        }
      }
      yield* walk(childRel, below);
    }
  }
  yield* walk("", [...layers]);
}

/** Tar entries of a merged tree: owners mapped, hard links kept, file capabilities carried. */
export function* tarEntries(tree: Iterable<MergedEntry>, owners: OwnerMapper): Generator<TarWriterEntry> {
  const links = new Map<string, string>();
  for (const { rel, abs, stat: st } of tree) {
    const [uid, gid] = owners(st.uid, st.gid);
    const m = { uid, gid, mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) yield { name: rel, type: "directory", ...m };
    else if (st.isSymbolicLink()) yield { name: rel, type: "symlink", ...m, linkname: readlinkSync(abs) };
    else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        yield { name: rel, type: "hardlink", ...m, linkname: first };
        continue;
      }
      if (st.nlink > 1) links.set(key, rel);
      let cap: Uint8Array | null = null;
      try {
        cap = lgetxattr(abs, "security.capability");
      } catch {
        // No xattrs on this file system: no file capabilities either.
      }
      let body: Uint8Array | { size: number; stream: ReadableStream<Uint8Array> };
      try {
        if (st.size <= SMALL_FILE) body = readFileSync(abs);
        else {
          // The stream opens the file lazily; opening it here reports a refusal by name.
          closeSync(openSync(abs, "r"));
          body = { size: st.size, stream: Bun.file(abs).stream() };
        }
      } catch (e) {
        throw unreadable(`/${rel}`, e);
      }
      yield { name: rel, type: "file", ...m, ...(cap ? { xattrs: { "security.capability": cap } } : {}), body };
    } else if (st.isFIFO()) yield { name: rel, type: "fifo", ...m };
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const [devmajor, devminor] = devNumbers(st.rdev);
      yield { name: rel, type: st.isCharacterDevice() ? "char" : "block", ...m, devmajor, devminor };
    }
    // Sockets are not archived: tar has no type for them, and docker leaves them out too.
  }
}

/** The container's layers, topmost (its writable layer) first. */
export function containerLayers(r: ContainerRecord): string[] {
  return [r.dirs.upper, ...r.config.layers];
}

/** The container's file system as an uncompressed tar stream. */
export function exportContainer(paths: BoxPaths, r: ContainerRecord): ReadableStream<Uint8Array> {
  return writeTar(tarEntries(mergedTree(containerLayers(r)), containerOwners(paths)));
}

/**
 * Write `stream` to `file` atomically: a temporary file beside it, renamed over it at the end, so
 * a failed or interrupted export never leaves a truncated archive under the name asked for.
 */
export async function writeStreamAtomic(stream: ReadableStream<Uint8Array>, file: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.box-${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, "w", 0o644);
  } catch (e) {
    throw new BoxError("E_INVALID_INPUT", `cannot write \`${file}\`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      cause: e,
      hint: "give -o a path in a directory that exists and that you may write to",
    });
  }
  try {
    for await (const chunk of stream) {
      let at = 0;
      while (at < chunk.byteLength) at += writeSync(fd, chunk, at, chunk.byteLength - at);
    }
    closeSync(fd);
    renameSync(temp, file);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(temp, { force: true });
    throw e;
  }
}
