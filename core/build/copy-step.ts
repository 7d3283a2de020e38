/**
 * COPY and ADD: files are written straight into a fresh layer directory (no container), with
 * the destination rules of the Dockerfile reference: a relative destination is under WORKDIR;
 * a directory source copies its contents; a destination ending in `/` (or an existing
 * directory) receives sources by their base name; several sources need such a destination;
 * new files belong to 0:0 unless --chown names someone (looked up in the stage's passwd);
 * --chmod sets the mode; ADD unpacks local tar archives (plain, gzip, zstd) and fetches URLs.
 */
import { chmodSync, copyFileSync, existsSync, lchownSync, lutimesSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { basename, join, posix } from "node:path";
import { BoxError } from "../errors.ts";
import { decompress } from "../image/compression.ts";
import { applyLayer } from "../image/layer.ts";
import type { OwnerEntry } from "../image/owner-list.ts";
import { layerRoot } from "../image/store/layers.ts";
import { isTarHeader } from "../image/tar-header.ts";
import { restoreOwners } from "../image/userns-chown.ts";
import { stepKey } from "./cache.ts";
import { formatLocation } from "./dockerfile/errors.ts";
import type { Instruction } from "./dockerfile/types.ts";
import { expandHeredoc } from "./heredoc.ts";
import { resolveWorkdir, type StageEvaluator } from "./evaluate.ts";
import { cleanPath, IgnoreMatcher } from "./ignore.ts";
import { storeLayerFromDir } from "./layer-writer.ts";
import { lookupPath, numericUser } from "./rootfs.ts";
import type { RunResult } from "./run-step.ts";
import { hashItem, hashItems, matchSource, sourceRel, walkTree, type SourceItem } from "./sources.ts";
import { lowerDirs, type ImageState, type StepContext } from "./state.ts";

type CopyInstruction = Instruction & { kind: "COPY" | "ADD" };

type Source =
  /** `strip`: with --parents, the leading directories (before a `/./` pivot) not kept under dest. */
  | { kind: "items"; items: SourceItem[]; strip: string }
  | { kind: "heredoc"; name: string; content: string }
  | { kind: "url"; url: string };

const NO_IGNORE = new IgnoreMatcher([]);

async function isArchive(path: string): Promise<boolean> {
  const head = new Uint8Array(await Bun.file(path).slice(0, 512).arrayBuffer());
  if (head.length >= 512 && isTarHeader(head)) return true;
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const zst = head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd;
  if (!gz && !zst) return false;
  try {
    const { stream } = await decompress(Bun.file(path).stream());
    const reader = stream.getReader();
    const first = await reader.read();
    await reader.cancel().catch(() => undefined);
    return first.value !== undefined && first.value.length >= 512 && isTarHeader(first.value.subarray(0, 512));
  } catch {
    return false;
  }
}

class LayerTree {
  readonly forced = new Map<string, [number, number]>();
  /** Rootless: owners the kernel refused, given from a user namespace before the layer is stored. */
  readonly pending = new Map<string, OwnerEntry>();
  private readonly dirTimes: [string, number][] = [];

  constructor(readonly root: string, private readonly sc: StepContext, private readonly lowers: string[], private readonly owner: [number, number]) {}

  private own(rel: string, owner: [number, number]): void {
    this.forced.set(rel, owner);
    const host = this.sc.owners.toHost(owner[0], owner[1]);
    if (host === undefined) return;
    try {
      lchownSync(join(this.root, rel), host[0], host[1]);
    } catch {
      // Rootless: the tar records `owner` all the same; the unpacked tree gets it in a user namespace.
      this.pending.set(rel, { path: rel, uid: owner[0], gid: owner[1] });
    }
  }

  /** Owners an ADD'ed archive could not give, its paths relative to `dir` in this tree. */
  adopt(dir: string, owners: readonly OwnerEntry[]): void {
    for (const e of owners) {
      const rel = dir === "" ? e.path : e.path === "" ? dir : `${dir}/${e.path}`;
      if (rel === "") continue; // the layer's own root stays the user's: the store must manage it
      this.forced.set(rel, [e.uid, e.gid]);
      this.pending.set(rel, { ...e, path: rel });
    }
  }

  /** Create the directories above `rel` as the image has them, or new ones for the owner. */
  parents(rel: string): void {
    const parts = rel.split("/").filter(Boolean);
    let cur = "";
    for (const p of parts.slice(0, -1)) {
      cur = cur === "" ? p : `${cur}/${p}`;
      this.dir(cur, undefined);
    }
  }

  dir(rel: string, mode: number | undefined, mtime?: number): void {
    if (rel === "" || existsSync(join(this.root, rel))) return;
    this.parents(rel);
    const found = lookupPath(this.lowers, rel);
    const abs = join(this.root, rel);
    mkdirSync(abs);
    if (found !== undefined && found.stat.isDirectory() && mode === undefined) {
      chmodSync(abs, found.stat.mode & 0o7777);
      this.own(rel, this.sc.owners.toImage.map(found.stat.uid, found.stat.gid));
      this.dirTimes.push([rel, found.stat.mtimeMs / 1000]);
      return;
    }
    chmodSync(abs, mode ?? 0o755);
    this.own(rel, this.owner);
    if (mtime !== undefined) this.dirTimes.push([rel, mtime]);
  }

  file(rel: string, write: (abs: string) => void, mode: number, mtime: number): void {
    this.parents(rel);
    const abs = join(this.root, rel);
    write(abs);
    chmodSync(abs, mode);
    this.own(rel, this.owner);
    utimesSync(abs, mtime, mtime);
  }

  symlink(rel: string, target: string, mtime: number): void {
    this.parents(rel);
    const abs = join(this.root, rel);
    symlinkSync(target, abs);
    this.own(rel, this.owner);
    lutimesSync(abs, mtime, mtime);
  }

  /** Directory times last: creating their contents changed them. */
  finish(): void {
    for (const [rel, t] of this.dirTimes.reverse()) utimesSync(join(this.root, rel), t, t);
  }
}

export async function copyStep(sc: StepContext, state: ImageState, ev: StageEvaluator, ins: CopyInstruction): Promise<RunResult> {
  const what = `${formatLocation(ins.loc)}: ${ins.kind}`;
  const word = (raw: string) => ev.word(raw, ins.loc);
  const dest = ins.json ? ins.dest : word(ins.dest);
  const from = ins.from === undefined ? undefined : word(ins.from);
  const chown = ins.chown === undefined ? undefined : word(ins.chown);
  const chmodText = ins.chmod === undefined ? undefined : word(ins.chmod);
  if (chmodText !== undefined && !/^[0-7]{1,4}$/.test(chmodText)) throw new BoxError("E_INVALID_INPUT", `${what}: invalid --chmod=${chmodText}: expected an octal mode such as 755`);
  const chmod = chmodText === undefined ? undefined : Number.parseInt(chmodText, 8);
  if (from !== undefined) {
    // Another stage's content is named by its key: a lookup needs no flattening and no hashing.
    const fromKey = await sc.stageKey(from);
    const expanded = ins.sources.map((s) => (s.startsWith("<<") || ins.json ? s : word(s)));
    const early = stepKey(state.key, { copy: ins.kind, from: fromKey, sources: expanded, dest, chown, chmod, link: ins.link, ...extraKey(ins, word) });
    const hit = sc.cache.get(early);
    if (hit?.createdBy !== undefined) {
      sc.events.cached?.(early);
      return { ...(hit.layer ? { layer: hit.layer } : {}), createdBy: hit.createdBy, key: early, cached: true };
    }
    return copyFresh(sc, state, ev, ins, { dest, from, chown, chmod, key: early });
  }
  return copyFresh(sc, state, ev, ins, { dest, from, chown, chmod });
}

/** What --parents, --exclude and --checksum add to a step's key (nothing when unused, so older keys stay valid). */
function extraKey(ins: CopyInstruction, word: (raw: string) => string): Record<string, unknown> {
  return {
    ...(ins.parents ? { parents: true } : {}),
    ...(ins.exclude.length > 0 ? { exclude: ins.exclude.map(word) } : {}),
    ...(ins.checksum !== undefined ? { checksum: word(ins.checksum) } : {}),
  };
}

/** The first `/./` of a --parents source: what comes before it is not kept under dest. */
export function parentsPivot(src: string): { strip: string; path: string } {
  const cut = src.indexOf("/./");
  return cut < 0 ? { strip: "", path: src } : { strip: cleanPath(src.slice(0, cut)), path: src };
}

/** `rel` (relative to the source root) without the pivot's leading directories. */
export function landing(rel: string, strip: string): string {
  return strip === "" ? rel : rel === strip ? "" : rel.slice(strip.length + 1);
}

async function fetchChecked(url: string, checksum: string | undefined, what: string): Promise<Response & { bytes: Uint8Array }> {
  const res = await fetch(url);
  if (!res.ok) throw new BoxError("E_NOT_FOUND", `${what}: GET ${url}: ${res.status} ${res.statusText}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (checksum !== undefined) {
    const [algo, expected] = checksum.split(":") as [string, string];
    if (!/^sha(256|384|512)$/.test(algo) || !/^[0-9a-f]+$/.test(expected ?? "")) {
      throw new BoxError("E_INVALID_INPUT", `${what}: invalid --checksum=${checksum}`, { hint: "give sha256:<64 hex digits>" });
    }
    const actual = new Bun.CryptoHasher(algo as "sha256" | "sha384" | "sha512").update(bytes).digest("hex");
    if (actual !== expected) {
      throw new BoxError("E_INVALID_INPUT", `${what}: checksum mismatch for ${url}: expected ${algo}:${expected}, got ${algo}:${actual}`, { hint: "the content behind the URL changed, or --checksum is wrong" });
    }
  }
  return Object.assign(res, { bytes });
}

interface Expanded {
  dest: string;
  from: string | undefined;
  chown: string | undefined;
  chmod: number | undefined;
  /** Set for COPY --from, whose key was computed without reading the sources. */
  key?: string;
}

async function copyFresh(sc: StepContext, state: ImageState, ev: StageEvaluator, ins: CopyInstruction, x: Expanded): Promise<RunResult> {
  const what = `${formatLocation(ins.loc)}: ${ins.kind}`;
  const word = (raw: string) => ev.word(raw, ins.loc);
  const { dest, from, chown, chmod } = x;
  const root = from !== undefined ? await sc.stageRoot(from) : { dir: sc.context.dir, key: "context" };
  const ignore = from !== undefined ? NO_IGNORE : sc.context.ignore;

  const sources: Source[] = [];
  let count = 0;
  for (const raw of ins.sources) {
    const heredoc = raw.startsWith("<<") ? ins.heredocs.find((h) => h.name === raw.slice(2)) : undefined;
    if (heredoc) {
      sources.push({ kind: "heredoc", name: heredoc.name, content: heredoc.expand ? expandHeredoc(heredoc.content, ev.lookup, ev.escape) : heredoc.content });
      count++;
      continue;
    }
    const src = ins.json ? raw : word(raw);
    if (/^https?:\/\//.test(src)) {
      if (ins.kind === "COPY") throw new BoxError("E_INVALID_INPUT", `${what}: source can't be a URL for COPY`, { hint: "use ADD to fetch a URL" });
      sources.push({ kind: "url", url: src });
      count++;
      continue;
    }
    if (ins.checksum !== undefined) throw new BoxError("E_INVALID_INPUT", `${what}: --checksum requires an HTTP(S) source, not \`${src}\``);
    const pivot = ins.parents ? parentsPivot(src) : { strip: "", path: src };
    const items = matchSource(root.dir, pivot.path, ignore, what);
    sources.push({ kind: "items", items, strip: ins.parents ? cleanPath(sourceRel(pivot.strip, what)) : "" });
    count += items.length;
  }

  const lowers = lowerDirs((d) => layerRoot(sc.layout, d), state);
  const destAbs = dest.startsWith("/") ? dest : resolveWorkdir(state.config.WorkingDir, dest);
  const destRel = cleanPath(destAbs);
  // --parents always fills a directory: the kept paths land under it.
  const slash = dest.endsWith("/") || dest === "." || dest.endsWith("/.") || ins.parents;
  if (count > 1 && !slash) {
    throw new BoxError("E_INVALID_INPUT", `${what}: when using ${ins.kind} with more than one source file, the destination must be a directory and end with a /`);
  }
  const existingDir = destRel === "" || lookupPath(lowers, destRel)?.stat.isDirectory() === true;
  const intoDir = slash || existingDir;

  const exclude = ins.exclude.length > 0 ? new IgnoreMatcher(ins.exclude.map(word)) : undefined;
  const hash = new Bun.CryptoHasher("sha256");
  for (const s of sources) {
    if (s.kind === "items" && (exclude !== undefined || ins.parents)) {
      // Only what is copied counts: an excluded file may change without a rebuild (BuildKit's too).
      for (const item of s.items) {
        const kept = ins.parents ? landing(item.rel, s.strip) : undefined;
        for (const e of selected(root.dir, item, ignore, exclude, kept)) hashItem(hash, e.entry, posix.join(kept ?? item.rel, e.under));
      }
    } else if (s.kind === "items") hash.update(hashItems(root.dir, s.items, ignore));
    else if (s.kind === "heredoc") hash.update(`heredoc\0${s.name}\0${s.content}`);
    else hash.update(`url\0${s.url}`);
  }
  const digest = hash.digest("hex");
  const key = x.key ?? stepKey(state.key, { copy: ins.kind, from: root.key, digest, dest: destAbs, slash, chown, chmod, link: ins.link, ...extraKey(ins, word) });
  const single = sources.length === 1 && sources[0]?.kind === "items" && sources[0].items.length === 1 ? sources[0].items[0] : undefined;
  const kindWord = count > 1 ? "multi" : single?.stat.isDirectory() ? "dir" : "file";
  const createdBy = `/bin/sh -c #(nop) ${ins.kind === "COPY" && from !== undefined ? `COPY --from=${from} ` : `${ins.kind} `}${kindWord}:${digest} in ${destAbs} `;
  const hit = x.key === undefined ? sc.cache.get(key) : undefined;
  if (hit) {
    sc.events.cached?.(key);
    return { ...(hit.layer ? { layer: hit.layer } : {}), createdBy, key, cached: true };
  }

  const owner: [number, number] = chown === undefined ? [0, 0] : (() => {
    const u = numericUser(lowers, chown, `${what} --chown`);
    return [u.uid, u.gid] as [number, number];
  })();
  const tree = new LayerTree(join(sc.scratch("copy"), "diff"), sc, lowers, owner);
  mkdirSync(tree.root, { recursive: true });
  const target = (name: string) => (intoDir ? (destRel === "" ? name : `${destRel}/${name}`) : destRel);

  for (const s of sources) {
    if (s.kind === "heredoc") {
      tree.file(target(s.name), (abs) => writeFileSync(abs, s.content), chmod ?? 0o644, 0);
      continue;
    }
    if (s.kind === "url") {
      const res = await fetchChecked(s.url, ins.checksum === undefined ? undefined : word(ins.checksum), what);
      const bytes = res.bytes;
      const modified = Date.parse(res.headers.get("last-modified") ?? "");
      const name = basename(new URL(s.url).pathname) || "index.html";
      tree.file(target(name), (abs) => writeFileSync(abs, bytes), chmod ?? 0o600, Number.isNaN(modified) ? 0 : modified / 1000);
      continue;
    }
    for (const item of s.items) {
      if (ins.parents) {
        copyKept(tree, root.dir, item, destRel, landing(item.rel, s.strip), ignore, exclude, chmod);
        continue;
      }
      if (item.stat.isDirectory()) {
        const base = intoDir && count > 1 ? target("") : destRel;
        const baseRel = base.replace(/\/$/, "");
        tree.dir(baseRel, undefined);
        for (const { entry, under } of selected(root.dir, item, ignore, exclude, undefined)) {
          if (under !== "") copyEntry(tree, entry, posix.join(baseRel, under), chmod);
        }
        continue;
      }
      if (exclude?.ignores(basename(item.rel))) continue;
      if (ins.kind === "ADD" && item.stat.isFile() && (await isArchive(item.abs))) {
        const dir = destRel;
        tree.dir(dir, undefined);
        const summary = await applyLayer(Bun.file(item.abs).stream(), dir === "" ? tree.root : join(tree.root, dir), { mode: "flat", rootless: sc.paths.rootless, owners: "defer" });
        tree.adopt(dir, summary.deferredOwners ?? []);
        continue;
      }
      copyEntry(tree, item, target(basename(item.rel)), chmod);
    }
  }
  tree.finish();
  const pending = [...tree.pending.values()];
  const layer = await storeLayerFromDir(sc.layout, tree.root, {
    owners: sc.owners.toImage,
    forced: tree.forced,
    ...(pending.length > 0 ? { beforeCommit: (dir: string) => restoreOwners(dir, pending, what) } : {}),
  });
  return { layer, createdBy, key, cached: false };
}

/**
 * The entries a source item copies, each with its path below where the item lands ("" for the
 * item itself), --exclude applied. Patterns match the path as it lands: below a directory
 * source, the file's own name, or with --parents the kept path (BuildKit matches from the
 * copy's root, which is each of these).
 */
function* selected(root: string, item: SourceItem, ignore: IgnoreMatcher, exclude: IgnoreMatcher | undefined, kept: string | undefined): Generator<{ entry: SourceItem; under: string }> {
  const excluded = (p: string) => exclude !== undefined && p !== "" && exclude.ignores(p);
  if (excluded(kept ?? (item.stat.isDirectory() ? "" : basename(item.rel)))) return;
  yield { entry: item, under: "" };
  if (!item.stat.isDirectory()) return;
  for (const child of walkTree(root, item.rel, ignore)) {
    const under = child.rel.slice(item.rel === "" ? 0 : item.rel.length + 1);
    if (!excluded(posix.join(kept ?? "", under))) yield { entry: child, under };
  }
}

/** COPY --parents: each entry lands at its kept path (below the pivot) under dest. */
function copyKept(tree: LayerTree, root: string, item: SourceItem, destRel: string, kept: string, ignore: IgnoreMatcher, exclude: IgnoreMatcher | undefined, chmod: number | undefined): void {
  for (const { entry, under } of selected(root, item, ignore, exclude, kept)) {
    const rel = posix.join(destRel, kept, under);
    if (rel === "." || (under === "" && kept === "")) tree.dir(destRel, undefined);
    else copyEntry(tree, entry, rel, chmod);
  }
}

function copyEntry(tree: LayerTree, item: SourceItem, rel: string, chmod: number | undefined): void {
  const st = item.stat;
  const mtime = st.mtimeMs / 1000;
  if (st.isDirectory()) tree.dir(rel, chmod ?? st.mode & 0o7777, mtime);
  else if (st.isSymbolicLink()) tree.symlink(rel, readlinkSync(item.abs), mtime);
  else if (st.isFile()) {
    tree.file(rel, (abs) => (st.size > 1 << 20 ? copyFileSync(item.abs, abs) : writeFileSync(abs, readFileSync(item.abs))), chmod ?? st.mode & 0o7777, mtime);
  }
}
