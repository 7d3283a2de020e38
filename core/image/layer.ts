/**
 * Unpack one image layer (a gzip, zstd or plain tar stream) into a directory.
 *
 * - "overlay" mode: the directory holds this layer alone, to be stacked as an overlay lowerdir;
 *   whiteouts become overlayfs marks (see whiteout.ts for which, root and rootless).
 * - "flat" mode: the directory already holds the layers below; whiteouts delete from it.
 *
 * Every name goes through LayerRoot, which is what keeps writes inside the root (see there).
 * Metadata follows tar's order of operations: content, then owner (chown clears setuid bits),
 * then mode, then xattrs (after chown, which clears security.capability), then times; directory
 * modes and times are applied last, since creating their contents changes their mtime and a
 * read-only mode would stop a rootless unpacker from filling them.
 *
 * File work is synchronous node:fs on purpose: one syscall costs microseconds, while each async
 * fs call is a thread-pool round trip, and a layer is mostly small files. Bodies are written in
 * the decompressor's chunks (~400 KB), never per tar block.
 *
 * On failure the root is left half-written: callers unpack into a temporary directory and rename
 * it into the store only on success.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { SyscallError } from "../errors.ts";
import { decompress } from "./compression.ts";
import { errnoOf, LayerError, withLayerContext } from "./layer-errors.ts";
import { joinRel, LayerRoot } from "./layer-root.ts";
import { type LayerSyscalls, linuxLayerSyscalls, S_IFBLK, S_IFCHR, S_IFIFO } from "./layer-syscalls.ts";
import type { OwnerEntry } from "./owner-list.ts";
import { readTar, type TarEntry, type TarHeader, type TarReaderOptions } from "./tar.ts";
import { restoreOwners } from "./userns-chown.ts";
import { isOverlayXattr, OverlayMarks, parseWhiteout, type Whiteout } from "./whiteout.ts";

export type LayerMode = "overlay" | "flat";

export interface ApplyLayerOptions extends TarReaderOptions {
  /** Default "flat". */
  mode?: LayerMode;
  /**
   * Unprivileged unpacking: chown failing with EPERM/EINVAL (an id outside the user namespace's
   * map) is counted rather than fatal, and overlay marks use user.* xattrs. Default: euid != 0.
   */
  rootless?: boolean;
  /** Named in every message ("layer sha256:…: entry `x` escapes the layer root"). */
  digest?: string;
  /** mknod and lsetxattr; tests pass a double that refuses them. */
  sys?: LayerSyscalls;
  /**
   * Rootless: what to do with the owners the kernel refused. "userns" (the default) gives them
   * afterwards from a user namespace with the user's subordinate ids (userns-chown.ts), so a file
   * the image gives to uid 1000 is uid 1000 in a rootless container; "keep" leaves such files to
   * the unpacking user, which is all there is without subordinate ids; "defer" returns them in
   * the summary (`deferredOwners`) for a caller that must read the tree as itself first.
   */
  owners?: "userns" | "keep" | "defer";
}

export interface LayerSummary {
  /** Regular files written. */
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  /** Device nodes and fifos created. */
  nodes: number;
  whiteouts: number;
  /** Bytes of regular-file content written. */
  bytes: number;
  /** Device nodes the kernel refused to create (EPERM: no CAP_MKNOD, e.g. rootless). */
  skippedDevices: number;
  /** chown calls refused in rootless mode (the unpacking user is the container's root). */
  chownFailures: number;
  /** Rootless: files given their owner (or file capability) from a user namespace afterwards. */
  ownersRestored: number;
  /**
   * Rootless: files whose archived owner is not root but outside the user's map (no subordinate
   * ids, or beyond the range), which belong to the unpacking user instead (root in the container).
   */
  ownersLost: number;
  /** With `owners: "defer"`: the refused owners, paths relative to the layer root. */
  deferredOwners?: OwnerEntry[];
  /** xattrs not set: refused by the kernel or file system, or overlay.* ones from the archive. */
  skippedXattrs: number;
}

const EPERM = 1;
/** setxattr failures that mean "not allowed here", not "something broke". */
const XATTR_REFUSALS = new Set([1 /* EPERM */, 13 /* EACCES */, 95 /* EOPNOTSUPP */, 7 /* E2BIG */, 34 /* ERANGE */]);
const { O_WRONLY, O_CREAT, O_EXCL, O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

function writeAll(fd: number, chunk: Uint8Array): void {
  let at = 0;
  while (at < chunk.length) at += writeSync(fd, chunk, at, chunk.length - at);
}

class Unpacker {
  readonly summary: LayerSummary = {
    files: 0,
    directories: 0,
    symlinks: 0,
    hardlinks: 0,
    nodes: 0,
    whiteouts: 0,
    bytes: 0,
    skippedDevices: 0,
    chownFailures: 0,
    ownersRestored: 0,
    ownersLost: 0,
    skippedXattrs: 0,
  };
  /**
   * Rootless: relative path → the owner (and file capability) the kernel refused, for
   * restoreOwners. Kept in step with the tree: a replaced or removed path leaves it.
   */
  readonly pendingOwners = new Map<string, OwnerEntry>();
  /** Paths this layer wrote, and their ancestors: a whiteout never deletes the layer's own files. */
  private readonly written = new Set<string>();
  /** Directory mode and mtime, applied once everything inside them is written. */
  private readonly deferred = new Map<string, { mode: number; mtime: number }>();
  private readonly marks: OverlayMarks | undefined;
  /** Read once: files created with a mode the umask leaves alone need no fchmod. */
  private readonly umask = process.umask();
  private readonly euid = process.geteuid?.() ?? -1;
  private readonly egid = process.getegid?.() ?? -1;
  /** "uid:gid" pairs the kernel refused in rootless mode: the answer will not change, skip asking. */
  private readonly refusedOwners = new Set<string>();

  constructor(
    private readonly root: LayerRoot,
    private readonly sys: LayerSyscalls,
    mode: LayerMode,
    private readonly rootless: boolean,
  ) {
    this.marks = mode === "overlay" ? new OverlayMarks(sys, root, rootless) : undefined;
  }

  async apply(entry: TarEntry): Promise<void> {
    const h = entry.header;
    const parts = this.root.components(h.name);
    const base = parts.at(-1);
    if (base === undefined) return this.applyToRoot(h);
    const dirParts = parts.slice(0, -1);
    const whiteout = parseWhiteout(base);
    if (whiteout !== null) return this.whiteout(h.name, dirParts, whiteout);

    const dirRel = this.root.resolveDir(h.name, dirParts, true) as string;
    const rel = joinRel(dirRel, base);
    const abs = this.root.abs(rel);
    switch (h.type) {
      case "file":
        await this.file(entry, dirRel, rel, abs);
        break;
      case "directory":
        this.directory(h, dirRel, rel, abs);
        break;
      case "symlink":
        this.symlink(h, dirRel, rel, abs);
        break;
      case "hardlink":
        this.hardlink(h, rel, abs);
        break;
      case "char":
      case "block":
      case "fifo":
        this.node(h, dirRel, rel, abs);
        break;
    }
    this.markWritten(rel);
  }

  /** Apply the deferred directory modes and times, deepest first so parents stay searchable. */
  finish(): void {
    const depth = (rel: string) => (rel === "" ? 0 : rel.split("/").length);
    const dirs = [...this.deferred].sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, { mode, mtime }] of dirs) {
      // O_NOFOLLOW: had a later entry put a symlink here, `deferred` would have been cleared.
      // This is the second lock on that door.
      const fd = openSync(this.root.abs(rel), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      try {
        fchmodSync(fd, mode);
        futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
    }
  }

  private markWritten(rel: string): void {
    for (let r = rel; r !== "" && !this.written.has(r); r = r.slice(0, Math.max(r.lastIndexOf("/"), 0))) {
      this.written.add(r);
    }
  }

  /** Create with `make`; if the name is taken, remove what is there (never following it) and retry. */
  private place<T>(rel: string, abs: string, make: () => T): T {
    try {
      return make();
    } catch (err) {
      if (errnoOf(err) !== "EEXIST") throw err;
    }
    this.clear(rel, abs);
    return make();
  }

  /** Remove whatever is at `rel`; a symlink is removed itself, a directory with its contents. */
  private clear(rel: string, abs: string): void {
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return;
    this.pendingOwners.delete(rel);
    if (!st.isDirectory()) {
      unlinkSync(abs);
      return;
    }
    rmSync(abs, { recursive: true, force: true });
    this.root.forget(rel);
    this.deferred.delete(rel);
    const prefix = `${rel}/`;
    for (const d of this.deferred.keys()) if (d.startsWith(prefix)) this.deferred.delete(d);
    for (const p of this.pendingOwners.keys()) if (p.startsWith(prefix)) this.pendingOwners.delete(p);
  }

  /**
   * Give a node its archived owner. Skipped when it would change nothing: a node this unpacker
   * just created is owned by the euid, with the egid unless its directory is setgid. Most layer
   * files are root's and unpacked by root, so this saves a syscall per file.
   */
  private chown(h: TarHeader, rel: string, dirRel: string, created: boolean, op: () => void): void {
    if (created && h.uid === this.euid && h.gid === this.egid && !this.root.isSetgid(dirRel)) return;
    const owner = `${h.uid}:${h.gid}`;
    if (this.refusedOwners.has(owner)) {
      this.refused(h, rel, dirRel, created);
      return;
    }
    try {
      op();
    } catch (err) {
      const code = errnoOf(err);
      // EPERM: no CAP_CHOWN; EINVAL: the id is not mapped in this user namespace.
      if (this.rootless && (code === "EPERM" || code === "EINVAL")) {
        this.refusedOwners.add(owner);
        this.refused(h, rel, dirRel, created);
        return;
      }
      throw err;
    }
  }

  /**
   * Rootless, the unpacking user is the container's root: a node it owns (it created it, in a
   * directory that is not setgid, or found it so) is already 0:0 in the container. Everything
   * else is kept for restoreOwners.
   */
  private refused(h: TarHeader, rel: string, dirRel: string, created: boolean): void {
    this.summary.chownFailures++;
    if (h.uid === 0 && h.gid === 0) {
      if (created && !this.root.isSetgid(dirRel)) return;
      const st = lstatSync(this.root.abs(rel));
      if (st.uid === this.euid && st.gid === this.egid) return;
    }
    this.pendingOwners.set(rel, { path: rel, uid: h.uid, gid: h.gid });
  }

  private xattrs(abs: string, h: TarHeader, rel?: string): void {
    for (const [name, value] of h.xattrs) {
      if (isOverlayXattr(name)) {
        this.summary.skippedXattrs++;
        continue;
      }
      try {
        this.sys.lsetxattr(abs, name, value);
      } catch (err) {
        if (!(err instanceof SyscallError) || !XATTR_REFUSALS.has(err.errno)) throw err;
        // A plain user may not set a file capability; root of the user namespace may.
        if (this.rootless && rel !== undefined && name === "security.capability" && err.errno === EPERM) {
          this.pendingOwners.set(rel, { ...(this.pendingOwners.get(rel) ?? { path: rel, uid: h.uid, gid: h.gid }), cap: value });
          continue;
        }
        this.summary.skippedXattrs++;
      }
    }
  }

  private async file(entry: TarEntry, dirRel: string, rel: string, abs: string): Promise<void> {
    const h = entry.header;
    const fd = this.place(rel, abs, () => openSync(abs, O_WRONLY | O_CREAT | O_EXCL, h.mode & 0o777));
    try {
      if (h.size > 0) for await (const chunk of entry.body()) writeAll(fd, chunk);
      this.chown(h, rel, dirRel, true, () => fchownSync(fd, h.uid, h.gid));
      if ((h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0) fchmodSync(fd, h.mode);
      if (h.xattrs.size > 0) this.xattrs(abs, h, rel);
      futimesSync(fd, h.mtime, h.mtime);
    } finally {
      closeSync(fd);
    }
    this.summary.files++;
    this.summary.bytes += h.size;
  }

  private directory(h: TarHeader, dirRel: string, rel: string, abs: string): void {
    // Owner-writable until finish(), so that a rootless unpacker can fill a 0555 directory.
    const mode = (h.mode & 0o777) | 0o700;
    let created = true;
    try {
      mkdirSync(abs, mode);
      this.root.noteDir(rel);
    } catch (err) {
      if (errnoOf(err) !== "EEXIST") throw err;
      const st = lstatSync(abs);
      if (st.isDirectory()) {
        created = false;
        this.root.noteDir(rel, st.mode);
      } else {
        this.clear(rel, abs);
        mkdirSync(abs, mode);
        this.root.noteDir(rel);
      }
    }
    this.chown(h, rel, dirRel, created, () => lchownSync(abs, h.uid, h.gid));
    if (h.xattrs.size > 0) this.xattrs(abs, h);
    this.deferred.set(rel, { mode: h.mode, mtime: h.mtime });
    this.summary.directories++;
  }

  private symlink(h: TarHeader, dirRel: string, rel: string, abs: string): void {
    // The target is stored as written and never resolved here: it only means something inside
    // the container's root, and LayerRoot refuses to follow it out of this one.
    this.place(rel, abs, () => symlinkSync(h.linkname, abs));
    this.chown(h, rel, dirRel, true, () => lchownSync(abs, h.uid, h.gid));
    if (h.xattrs.size > 0) this.xattrs(abs, h);
    lutimesSync(abs, h.mtime, h.mtime);
    this.summary.symlinks++;
  }

  private hardlink(h: TarHeader, rel: string, abs: string): void {
    const parts = this.root.components(h.linkname, h.name);
    const base = parts.at(-1);
    const dirRel = base === undefined ? null : this.root.resolveDir(h.name, parts.slice(0, -1), false);
    const target = dirRel === null || base === undefined ? undefined : this.root.abs(joinRel(dirRel, base));
    const st = target === undefined ? undefined : lstatSync(target, { throwIfNoEntry: false });
    if (target === undefined || st === undefined || st.isDirectory()) {
      const what = st?.isDirectory() ? "is a directory" : "does not exist in the layer root";
      throw new LayerError("E_INVALID_INPUT", `${this.root.label}: entry \`${h.name}\`: hard link target \`${h.linkname}\` ${what}`);
    }
    if (target === abs) return;
    // link(2) does not follow a symlink target: linking to `evil -> /etc/passwd` links the symlink.
    this.place(rel, abs, () => linkSync(target, abs));
    // The same inode under a second name: should a later entry replace the first, its owner is
    // still owed through this one.
    const owed = this.pendingOwners.get(joinRel(dirRel as string, base as string));
    if (owed !== undefined) this.pendingOwners.set(rel, { ...owed, path: rel });
    this.summary.hardlinks++;
  }

  private node(h: TarHeader, dirRel: string, rel: string, abs: string): void {
    const type = h.type === "char" ? S_IFCHR : h.type === "block" ? S_IFBLK : S_IFIFO;
    try {
      this.place(rel, abs, () => this.sys.mknod(abs, type | (h.mode & 0o777), h.devmajor, h.devminor));
    } catch (err) {
      if (type !== S_IFIFO && err instanceof SyscallError && err.errno === EPERM) {
        this.summary.skippedDevices++;
        return;
      }
      throw err;
    }
    this.chown(h, rel, dirRel, true, () => lchownSync(abs, h.uid, h.gid));
    // chmod follows symlinks, but `abs` is the node mknod just made, not a link.
    chmodSync(abs, h.mode);
    if (h.xattrs.size > 0) this.xattrs(abs, h);
    lutimesSync(abs, h.mtime, h.mtime);
    this.summary.nodes++;
  }

  /** "./" in the archive: the root's own owner, mode and times. */
  private applyToRoot(h: TarHeader): void {
    if (h.type !== "directory") {
      throw new LayerError("E_INVALID_INPUT", `${this.root.label}: entry \`${h.name}\` would replace the layer root with a ${h.type}`);
    }
    this.chown(h, "", "", false, () => lchownSync(this.root.path, h.uid, h.gid));
    if (h.xattrs.size > 0) this.xattrs(this.root.path, h);
    this.deferred.set("", { mode: h.mode, mtime: h.mtime });
  }

  private whiteout(name: string, dirParts: string[], w: Whiteout): void {
    if (w.kind === "aufs") return;
    // ".wh." alone would name the directory itself; ".wh.." its parent.
    if (w.kind === "whiteout" && (w.target === "" || w.target === "." || w.target === "..")) {
      throw new LayerError("E_INVALID_INPUT", `${this.root.label}: entry \`${name}\` is not a valid whiteout`);
    }
    this.summary.whiteouts++;
    // Overlay mode materialises the directory (the mark lives in it); flat mode has nothing to
    // delete under a directory that does not exist.
    const dirRel = this.root.resolveDir(name, dirParts, this.marks !== undefined);
    if (dirRel === null) return;
    if (w.kind === "opaque") {
      if (this.marks !== undefined) this.marks.opaqueDir(name, dirRel);
      else this.prune(dirRel);
      return;
    }
    const rel = joinRel(dirRel, w.target);
    // Whiteouts apply to the layers below only; a file this layer also ships stays.
    if (this.written.has(rel)) return;
    const abs = this.root.abs(rel);
    this.clear(rel, abs);
    this.marks?.whiteout(name, rel, dirRel);
  }

  /** Flat-mode opaque directory: delete what the layers below left in it, keep this layer's. */
  private prune(dirRel: string): void {
    for (const child of readdirSync(this.root.abs(dirRel))) {
      const rel = joinRel(dirRel, child);
      const abs = this.root.abs(rel);
      if (!this.written.has(rel)) this.clear(rel, abs);
      else if (lstatSync(abs).isDirectory()) this.prune(rel);
    }
  }
}

/**
 * Unpack the layer in `stream` (gzip, zstd or plain tar) into `rootDir`, created if missing.
 *
 * @example
 *   const summary = await applyLayer(Bun.file(blobPath).stream(), tmpDir, { mode: "overlay", digest });
 */
export async function applyLayer(
  stream: ReadableStream<Uint8Array>,
  rootDir: string,
  options: ApplyLayerOptions = {},
): Promise<LayerSummary> {
  const label = options.digest === undefined ? "layer" : `layer ${options.digest}`;
  let entry: string | undefined;
  try {
    mkdirSync(rootDir, { recursive: true });
    const root = new LayerRoot(realpathSync(rootDir), label);
    const rootless = options.rootless ?? process.geteuid?.() !== 0;
    const unpacker = new Unpacker(root, options.sys ?? linuxLayerSyscalls, options.mode ?? "flat", rootless);
    const { stream: tar } = await decompress(stream);
    for await (const e of readTar(tar, options)) {
      entry = e.header.name;
      await unpacker.apply(e);
      entry = undefined;
    }
    unpacker.finish();
    entry = undefined;
    if (rootless && unpacker.pendingOwners.size > 0) {
      const pending = [...unpacker.pendingOwners.values()];
      if (options.owners === "defer") return { ...unpacker.summary, deferredOwners: pending };
      const outcome = options.owners === "keep"
        ? { restored: 0, lost: pending.filter((e) => e.uid !== 0 || e.gid !== 0).length }
        : await restoreOwners(root.path, pending, label);
      unpacker.summary.ownersRestored = outcome.restored;
      unpacker.summary.ownersLost = outcome.lost;
    }
    return unpacker.summary;
  } catch (err) {
    // Failed before the reader took the stream: release the producer (a download) all the same.
    if (!stream.locked) await stream.cancel().catch(() => undefined);
    throw withLayerContext(err, label, entry);
  }
}
