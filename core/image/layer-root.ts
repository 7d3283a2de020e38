/**
 * The directory a layer is unpacked into, and the only way layer.ts turns an archived name into a
 * host path. This is where "nothing is written outside the root" is enforced:
 *
 * - Archived names are cleaned lexically first. An absolute name, or one whose `..` would climb
 *   above the root, is refused outright: real layer tools never write them.
 * - Every directory component is then looked up with lstat, never followed by the kernel. A
 *   symlink met on the way (made by this archive or already in the tree) is resolved the way a
 *   chroot would resolve it: absolute targets restart at the root and `..` stops at the root.
 *   So `a -> /etc` followed by `a/passwd` writes `<root>/etc/passwd`, never the host's. This is
 *   containers/storage's and Docker's behaviour (securejoin, FollowSymlinkInScope), which keeps
 *   layers that rely on symlinked parents (merged /usr) working.
 * - The final component is never followed: callers create it with O_EXCL, symlink(2), link(2)
 *   or mknod(2), all of which refuse to go through an existing link.
 *
 * Directories proven real (created here or lstat'ed) are cached by relative path, so a layer of
 * thousands of files in a few directories costs one lstat per directory, not per component per
 * file. The cache stays true because every removal in the root goes through `forget`, and because
 * nothing else touches the root while a layer is unpacked into it (a private staging directory,
 * renamed into the store afterwards). It also
 * remembers whether each directory is setgid (new files there take its group), which lets the
 * unpacker skip a chown that would change nothing.
 */
import { lstatSync, mkdirSync, readlinkSync } from "node:fs";
import { BoxError } from "../errors.ts";
import { LayerError } from "./layer-errors.ts";

const S_ISGID = 0o2000;

/** Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

export function joinRel(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

export class LayerRoot {
  /** Relative paths ("" is the root) known to be real directories, and whether each is setgid. */
  private readonly dirs = new Map<string, boolean>();

  /**
   * @param path absolute, symlink-free path of an existing directory (the caller realpath()s it)
   * @param label "layer sha256:…", the prefix of every message
   */
  constructor(
    readonly path: string,
    readonly label: string,
  ) {
    this.dirs.set("", (lstatSync(path).mode & S_ISGID) !== 0);
  }

  abs(rel: string): string {
    return rel === "" ? this.path : `${this.path}/${rel}`;
  }

  escapes(name: string): BoxError {
    return new LayerError("E_INVALID_INPUT", `${this.label}: entry \`${name}\` escapes the layer root`, {
      hint: "the layer archive is malformed or hostile; it was not unpacked",
    });
  }

  /**
   * The components of an archived name after lexical cleaning ("./a//b/" → ["a", "b"]).
   * `entry` is the name reported on failure (a hard link reports itself, not its target).
   */
  components(name: string, entry = name): string[] {
    if (name.startsWith("/")) throw this.escapes(entry);
    if (name.includes("\0")) {
      throw new LayerError("E_INVALID_INPUT", `${this.label}: entry \`${entry}\` contains a NUL byte`);
    }
    const out: string[] = [];
    for (const c of name.split("/")) {
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (out.length === 0) throw this.escapes(entry);
        out.pop();
        continue;
      }
      out.push(c);
    }
    return out;
  }

  /**
   * Resolve directory components to the relative path of a real directory inside the root,
   * resolving symlinks chroot-style. Missing directories are created (0755, like tar) when
   * `create` is set; otherwise a missing one yields null.
   */
  resolveDir(entry: string, parts: readonly string[], create: boolean): string | null {
    const stack: string[] = [];
    let cur = "";
    let queue: readonly string[] = parts;
    let i = 0;
    let hops = 0;
    while (i < queue.length) {
      const c = queue[i++] as string;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        // At the root, ".." stays at the root, as it does in a chroot.
        stack.pop();
        cur = stack.join("/");
        continue;
      }
      const rel = joinRel(cur, c);
      const known = this.dirs.get(rel);
      if (known !== undefined) {
        stack.push(c);
        cur = rel;
        continue;
      }
      const abs = this.abs(rel);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      let setgid: boolean;
      if (st === undefined) {
        if (!create) return null;
        mkdirSync(abs, 0o755);
        setgid = this.dirs.get(cur) ?? true; // a new directory inherits its parent's setgid bit
      } else if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINKS) {
          throw new LayerError("E_INVALID_INPUT", `${this.label}: entry \`${entry}\`: too many levels of symbolic links at \`${rel}\``);
        }
        const target = readlinkSync(abs);
        if (target.startsWith("/")) {
          stack.length = 0;
          cur = "";
        }
        queue = [...target.split("/"), ...queue.slice(i)];
        i = 0;
        continue;
      } else if (st.isDirectory()) {
        setgid = (st.mode & S_ISGID) !== 0;
      } else {
        throw new LayerError("E_INVALID_INPUT", `${this.label}: entry \`${entry}\`: \`${rel}\` is not a directory`);
      }
      this.dirs.set(rel, setgid);
      stack.push(c);
      cur = rel;
    }
    return cur;
  }

  /**
   * Record a directory the unpacker made (`mode` undefined: it inherits its parent's setgid bit)
   * or found in place (`mode` from its lstat).
   */
  noteDir(rel: string, mode?: number): void {
    const parent = rel.lastIndexOf("/") === -1 ? "" : rel.slice(0, rel.lastIndexOf("/"));
    this.dirs.set(rel, mode === undefined ? (this.dirs.get(parent) ?? true) : (mode & S_ISGID) !== 0);
  }

  /** Whether files created in `rel` take its group; true when unknown, which is the safe answer. */
  isSetgid(rel: string): boolean {
    return this.dirs.get(rel) ?? true;
  }

  /** Forget what is cached at and below `rel`, which was just removed or replaced. */
  forget(rel: string): void {
    if (!this.dirs.delete(rel)) return; // not a known directory: nothing below it is cached
    const prefix = `${rel}/`;
    for (const d of this.dirs.keys()) if (d.startsWith(prefix)) this.dirs.delete(d);
  }
}
