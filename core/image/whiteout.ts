/**
 * OCI whiteouts (image-spec layer.md, "Whiteouts") and their overlayfs equivalents.
 *
 * In an OCI layer, `.wh.<name>` deletes <name> from the layers below and `.wh..wh..opq` in a
 * directory hides everything the layers below put there. Other `.wh..wh.*` names are AUFS
 * bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`) and are dropped, as Docker drops them.
 *
 * A layer unpacked into its own directory for use as an overlay lowerdir keeps these as overlay
 * marks instead (kernel Documentation/filesystems/overlayfs.rst, "whiteouts and opaque
 * directories"):
 * - whiteout: a character device 0/0. mknod of exactly 0/0 needs no CAP_MKNOD since Linux 5.8
 *   ("vfs: allow unprivileged whiteout creation"), so rootless gets it too. Where mknod is still
 *   refused, an "xwhiteout" is written instead: an empty regular file with the
 *   `<ns>.overlay.whiteout` xattr, its directory marked `<ns>.overlay.opaque=x`; lower layers
 *   only, Linux 6.7+.
 * - opaque directory: `<ns>.overlay.opaque=y`.
 * <ns> is "trusted" for root, which overlayfs reads by default, and "user" rootless: trusted.*
 * xattrs need CAP_SYS_ADMIN in the initial namespace, so a rootless overlay is mounted with the
 * `userxattr` option (Linux 5.11+), under which overlayfs reads user.overlay.* instead.
 */
import { closeSync, constants, openSync } from "node:fs";
import { SyscallError } from "../errors.ts";
import { LayerError } from "./layer-errors.ts";
import type { LayerRoot } from "./layer-root.ts";
import { type LayerSyscalls, S_IFCHR } from "./layer-syscalls.ts";

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";

export type Whiteout = { kind: "opaque" } | { kind: "whiteout"; target: string } | { kind: "aufs" };

/** What a final name component means as a whiteout; null when it is an ordinary name. */
export function parseWhiteout(base: string): Whiteout | null {
  if (!base.startsWith(WHITEOUT_PREFIX)) return null;
  if (base === OPAQUE_MARKER) return { kind: "opaque" };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: "aufs" };
  return { kind: "whiteout", target: base.slice(WHITEOUT_PREFIX.length) };
}

/**
 * overlay.* xattrs are overlayfs's control plane (whiteouts, opacity, redirects, metacopy): an
 * archive that carried them could hide or redirect files in the layers below once mounted.
 */
export function isOverlayXattr(name: string): boolean {
  return /^(trusted|user)\.overlay\./.test(name);
}

const EPERM = 1;
const encoder = new TextEncoder();

export class OverlayMarks {
  /** Opaque value already set per directory: "y" (opaque) wins over "x" (has xwhiteouts). */
  private readonly opaque = new Map<string, "x" | "y">();
  private readonly ns: "trusted" | "user";

  constructor(
    private readonly sys: LayerSyscalls,
    private readonly root: LayerRoot,
    rootless: boolean,
  ) {
    this.ns = rootless ? "user" : "trusted";
  }

  /** Write a whiteout for `rel` (in directory `dirRel`); the name must be free. */
  whiteout(entry: string, rel: string, dirRel: string): void {
    const abs = this.root.abs(rel);
    try {
      this.sys.mknod(abs, S_IFCHR, 0, 0);
      return;
    } catch (err) {
      if (!(err instanceof SyscallError) || err.errno !== EPERM) throw err;
    }
    closeSync(openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
    this.set(entry, abs, `${this.ns}.overlay.whiteout`, "y");
    if (this.opaque.get(dirRel) === undefined) this.mark(entry, dirRel, "x");
  }

  opaqueDir(entry: string, dirRel: string): void {
    if (this.opaque.get(dirRel) !== "y") this.mark(entry, dirRel, "y");
  }

  private mark(entry: string, dirRel: string, value: "x" | "y"): void {
    this.set(entry, this.root.abs(dirRel), `${this.ns}.overlay.opaque`, value);
    this.opaque.set(dirRel, value);
  }

  private set(entry: string, abs: string, name: string, value: string): void {
    try {
      this.sys.lsetxattr(abs, name, encoder.encode(value));
    } catch (err) {
      throw new LayerError("E_UNSUPPORTED", `${this.root.label}: entry \`${entry}\`: cannot write overlay mark ${name}`, {
        cause: err,
        hint: "the storage file system does not keep these xattrs; unpack in flat mode instead",
      });
    }
  }
}
