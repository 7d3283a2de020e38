/**
 * The files a COPY or ADD reads: each source resolved in the context (after .dockerignore) or
 * in another stage's root, wildcards expanded (Go filepath.Match, component by component), and
 * a content digest of all of it for the cache key. Names, types, modes and bytes count;
 * mtimes do not (a `touch` or a fresh checkout must not bust the cache).
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync, type Stats } from "node:fs";
import { join, posix } from "node:path";
import { BoxError } from "../errors.ts";
import { cleanPath, compile, IgnoreMatcher } from "./ignore.ts";

export interface SourceItem {
  /** Path relative to the source root. */
  rel: string;
  abs: string;
  stat: Stats;
}

const NO_IGNORE = new IgnoreMatcher([]);

const hasWildcard = (p: string): boolean => /[*?[]/.test(p);

/** A source path inside its root; `../x` is refused as docker's classic builder does. */
export function sourceRel(src: string, what: string): string {
  const norm = posix.normalize(src.startsWith("/") ? `.${src}` : src);
  if (norm === ".." || norm.startsWith("../")) {
    throw new BoxError("E_INVALID_INPUT", `${what}: forbidden path outside the build context: ${src}`, { hint: "COPY and ADD read only files inside the context directory" });
  }
  return cleanPath(norm);
}

function exists(abs: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(abs) : lstatSync(abs);
  } catch {
    return undefined;
  }
}

/** Expand one source (maybe a wildcard) into the entries it names. */
export function matchSource(root: string, src: string, ignore: IgnoreMatcher, what: string): SourceItem[] {
  const rel = sourceRel(src, what);
  if (!hasWildcard(rel)) {
    const abs = rel === "" ? root : join(root, rel);
    // The source itself is followed if it is a symlink (docker copies what it points to).
    const stat = exists(abs, true);
    if (stat === undefined || (rel !== "" && ignore.ignores(rel))) {
      throw new BoxError("E_NOT_FOUND", `${what}: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
    }
    return [{ rel, abs, stat }];
  }
  const parts = rel.split("/");
  let level: string[] = [""];
  for (const part of parts) {
    const next: string[] = [];
    for (const dir of level) {
      if (!hasWildcard(part)) {
        const cand = dir === "" ? part : `${dir}/${part}`;
        if (exists(join(root, cand), false)) next.push(cand);
        continue;
      }
      const re = compile(part);
      let names: string[] = [];
      try {
        names = readdirSync(dir === "" ? root : join(root, dir)).sort();
      } catch {
        continue;
      }
      for (const n of names) if (re.test(n)) next.push(dir === "" ? n : `${dir}/${n}`);
    }
    level = next;
  }
  const items = level.filter((r) => !ignore.ignores(r)).map((r) => ({ rel: r, abs: join(root, r), stat: statSync(join(root, r)) }));
  if (items.length === 0) {
    throw new BoxError("E_NOT_FOUND", `${what}: no source files were specified: \`${src}\` matches nothing in the build context`);
  }
  return items;
}

/** Every entry under a directory source, sorted, ignored ones left out (relative to the root). */
export function* walkTree(root: string, rel: string, ignore: IgnoreMatcher): Generator<SourceItem> {
  const dir = rel === "" ? root : join(root, rel);
  for (const name of readdirSync(dir).sort()) {
    const childRel = rel === "" ? name : `${rel}/${name}`;
    const ignored = ignore.ignores(childRel);
    const abs = join(dir, name);
    const stat = lstatSync(abs);
    // An ignored directory may still hold files that a `!` pattern brings back.
    if (ignored && !(stat.isDirectory() && ignore.hasExclusions())) continue;
    if (!ignored) yield { rel: childRel, abs, stat };
    if (stat.isDirectory()) yield* walkTree(root, childRel, ignore);
  }
}

export function hashItem(h: Bun.CryptoHasher, item: SourceItem, name: string): void {
  const st = item.stat;
  const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isFile() ? "f" : "o";
  h.update(`${type}\0${name}\0${st.mode & 0o7777}\0${st.size}\0`);
  if (type === "f") h.update(readFileSync(item.abs));
  else if (type === "l") h.update(readlinkSync(item.abs));
}

/** The content digest of `items` and everything under the directories among them. */
export function hashItems(root: string, items: SourceItem[], ignore: IgnoreMatcher = NO_IGNORE): string {
  const h = new Bun.CryptoHasher("sha256");
  for (const item of items) {
    hashItem(h, item, item.rel);
    if (item.stat.isDirectory()) for (const child of walkTree(root, item.rel, ignore)) hashItem(h, child, child.rel);
  }
  return h.digest("hex");
}

/** Convenience for RUN --mount=type=bind from the context. */
export function hashPaths(root: string, srcs: string[], ignore: IgnoreMatcher): string {
  return hashItems(root, srcs.flatMap((s) => matchSource(root, s, ignore, "RUN --mount")), ignore);
}
