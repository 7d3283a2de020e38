/**
 * The owners a rootless unpack could not give: a list of (path in the layer, container uid, gid,
 * and any file capability refused with them), handed to `box _chown`, which applies it from
 * inside a user namespace that maps the user's subordinate ids (userns-chown.ts starts it).
 *
 * The list crosses a process boundary as JSON lines on stdin, so the reading side validates every
 * line, and every path goes through LayerRoot: resolved inside the layer root without ever
 * following a symlink out of it, the final component never followed (lchown). A hostile archive
 * that planted `a -> /etc` and an entry `a/passwd` owned by 1000 gets `<root>/etc/passwd` chowned
 * or nothing, never the host's file.
 */
import { chmodSync, lchownSync, lstatSync, realpathSync, rmSync } from "node:fs";
import * as v from "valibot";
import { lsetxattr } from "../../ffi/fsnodes.ts";
import { BoxError } from "../errors.ts";
import { joinRel, LayerRoot } from "./layer-root.ts";

export interface OwnerEntry {
  /** Relative to the layer root, as the unpacker resolved it ("" is the root itself). */
  path: string;
  /** Container ids, as the archive records them. */
  uid: number;
  gid: number;
  /** security.capability as archived: chown clears it, and a plain user may not set it at all. */
  cap?: Uint8Array;
}

const Id = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xfffffffe));
const OwnerLine = v.strictObject({
  path: v.pipe(v.string(), v.check((s) => !s.includes("\0"), "path contains a NUL byte")),
  uid: Id,
  gid: Id,
  cap: v.optional(v.pipe(v.string(), v.base64())),
});

export function encodeOwnerList(entries: Iterable<OwnerEntry>): Uint8Array {
  let out = "";
  for (const e of entries) {
    const line: v.InferOutput<typeof OwnerLine> = { path: e.path, uid: e.uid, gid: e.gid };
    if (e.cap !== undefined) line.cap = Buffer.from(e.cap).toString("base64");
    out += `${JSON.stringify(line)}\n`;
  }
  return new TextEncoder().encode(out);
}

export function parseOwnerList(text: string): OwnerEntry[] {
  const out: OwnerEntry[] = [];
  let n = 0;
  for (const raw of text.split("\n")) {
    n++;
    if (raw === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new BoxError("E_INVALID_INPUT", `owner list line ${n}: not JSON`);
    }
    const parsed = v.safeParse(OwnerLine, json);
    if (!parsed.success) throw new BoxError("E_INVALID_INPUT", `owner list line ${n}: ${v.summarize(parsed.issues)}`);
    const { path, uid, gid, cap } = parsed.output;
    out.push({ path, uid, gid, ...(cap === undefined ? {} : { cap: new Uint8Array(Buffer.from(cap, "base64")) }) });
  }
  return out;
}

/**
 * Give each entry its owner. Run where the ids exist (inside the user namespace): chown clears
 * the setuid and setgid bits and the file capability, so the mode is set again afterwards and
 * the capability written last.
 */
export function applyOwners(rootDir: string, entries: readonly OwnerEntry[]): number {
  const root = new LayerRoot(realpathSync(rootDir), `layer root \`${rootDir}\``);
  for (const e of entries) {
    const parts = root.components(e.path);
    const base = parts.at(-1);
    let abs = root.path;
    if (base !== undefined) {
      const dir = root.resolveDir(e.path, parts.slice(0, -1), false);
      if (dir === null) throw new BoxError("E_NOT_FOUND", `${root.label}: \`${e.path}\`: no such file or directory`);
      abs = root.abs(joinRel(dir, base));
    }
    const st = lstatSync(abs);
    lchownSync(abs, e.uid, e.gid);
    // chmod follows symlinks; a symlink has no setuid bit to lose and is skipped.
    if (!st.isSymbolicLink() && (st.mode & 0o6000) !== 0) chmodSync(abs, st.mode & 0o7777);
    if (e.cap !== undefined && st.isFile()) lsetxattr(abs, "security.capability", e.cap);
  }
  return entries.length;
}

/**
 * Remove the tree at `path` (run inside the user namespace, where its owners are mapped and the
 * namespace's root may empty any directory of theirs). box only asks for its own directories
 * (a store's tmp/ entry, a container's); a path that is not absolute and clean, or is too close
 * to / to be one of those, is refused rather than trusted.
 */
export function removeOwnedTree(path: string): void {
  const parts = path.split("/");
  if (!path.startsWith("/") || parts.some((p, i) => i > 0 && (p === "" || p === "." || p === "..")) || parts.length < 4) {
    throw new BoxError("E_INVALID_INPUT", `remove \`${path}\`: not a directory box made (an absolute, clean path at least three levels deep)`);
  }
  rmSync(path, { recursive: true, force: true });
}
