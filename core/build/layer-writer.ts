/**
 * A directory in overlay form (an overlay upper directory, or a COPY staging tree) becomes a
 * layer: a deterministic tar with OCI whiteouts (a 0/0 character device → `.wh.<name>`, an
 * opaque directory → `.wh..wh..opq`), gzip'd by Bun's native CompressionStream, stored as a
 * blob; and the directory itself is moved into the store as the unpacked layer. Moving it
 * instead of unpacking the tar again is possible because an upper directory already has the
 * shape the store keeps (whiteouts as overlayfs marks), and costs one rename.
 *
 * Adapter note: the store's BlobSpool needs the digest before the first byte, which a build
 * only knows after the last one, so the blob is spooled here and renamed into blobs/ with
 * blobPath() once hashed.
 */
import { closeSync, existsSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeSync, type Stats } from "node:fs";
import { join } from "node:path";
import { lgetxattr } from "../../ffi/fsnodes.ts";
import { blobPath } from "../image/store/blobs.ts";
import { makeTemp, type StoreLayout } from "../image/store/layout.ts";
import { commitLayer, hasLayer } from "../image/store/layers.ts";
import { writeTar, type TarWriterEntry } from "../image/tar-writer.ts";
import { MediaType } from "../schema/oci.ts";

export interface LayerRef {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

export interface OwnerMap {
  /** Host uid/gid as stat shows them → the ids the layer records (the container's). */
  map(uid: number, gid: number): [number, number];
}

export const IDENTITY: OwnerMap = { map: (u, g) => [u, g] };

export interface WriteLayerOptions {
  owners?: OwnerMap;
  /** Per relative path: the owner to record whatever the disk says (COPY --chown when rootless). */
  forced?: Map<string, [number, number]>;
  /** Relative paths to leave out with everything under them (box commit: what the runtime put there). */
  skip?: (rel: string, st: Stats) => boolean;
  /**
   * Run on `dir` after its tar is written and before it moves into the store (not when the store
   * has the layer already): rootless COPY gives owners there, once box no longer needs to read
   * files that may then be private to another id.
   */
  beforeCommit?: (dir: string) => Promise<unknown>;
}

const SMALL_FILE = 256 * 1024;
const decoder = new TextDecoder();

function isOpaque(path: string): boolean {
  for (const ns of ["trusted", "user"]) {
    try {
      const v = lgetxattr(path, `${ns}.overlay.opaque`);
      if (v !== null && decoder.decode(v) === "y") return true;
    } catch {
      // No xattr support where the directory lives: nothing is opaque.
    }
  }
  return false;
}

function capability(path: string): Uint8Array | undefined {
  try {
    return lgetxattr(path, "security.capability") ?? undefined;
  } catch {
    return undefined;
  }
}

function devNumbers(rdev: number): [number, number] {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
  return [major, minor];
}

export interface WalkSummary {
  files: number;
  bytes: number;
}

/** The tar entries of `root`, sorted, with whiteouts and hardlinks in OCI form. */
export function* layerEntries(root: string, opts: WriteLayerOptions, summary: WalkSummary): Generator<TarWriterEntry> {
  const owners = opts.owners ?? IDENTITY;
  const links = new Map<string, string>();
  const meta = (rel: string, st: Stats) => {
    const [uid, gid] = opts.forced?.get(rel) ?? owners.map(st.uid, st.gid);
    return { uid, gid, mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
  };
  function* walk(rel: string): Generator<TarWriterEntry> {
    const dir = rel === "" ? root : join(root, rel);
    for (const name of readdirSync(dir).sort()) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const abs = join(dir, name);
      const st = lstatSync(abs);
      if (opts.skip?.(childRel, st)) continue;
      if (st.isCharacterDevice() && st.rdev === 0) {
        yield { name: rel === "" ? `.wh.${name}` : `${rel}/.wh.${name}`, type: "file", mode: 0, body: "" };
        continue;
      }
      const m = meta(childRel, st);
      if (st.isDirectory()) {
        yield { name: childRel, type: "directory", ...m };
        if (isOpaque(abs)) yield { name: `${childRel}/.wh..wh..opq`, type: "file", mode: 0, body: "" };
        yield* walk(childRel);
      } else if (st.isSymbolicLink()) {
        yield { name: childRel, type: "symlink", ...m, linkname: readlinkSync(abs) };
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          yield { name: childRel, type: "hardlink", ...m, linkname: first };
          continue;
        }
        if (st.nlink > 1) links.set(key, childRel);
        summary.files++;
        summary.bytes += st.size;
        const cap = capability(abs);
        const xattrs = cap ? { xattrs: { "security.capability": cap } } : {};
        const body = st.size <= SMALL_FILE ? readFileSync(abs) : { size: st.size, stream: Bun.file(abs).stream() };
        yield { name: childRel, type: "file", ...m, ...xattrs, body };
      } else if (st.isFIFO()) {
        yield { name: childRel, type: "fifo", ...m };
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const [devmajor, devminor] = devNumbers(st.rdev);
        yield { name: childRel, type: st.isCharacterDevice() ? "char" : "block", ...m, devmajor, devminor };
      }
    }
  }
  yield* walk("");
}

/**
 * Turn `dir` into a stored layer. `dir` is moved into the store (or removed when the store
 * already has an identical layer); the caller must not use it afterwards.
 */
export async function storeLayerFromDir(layout: StoreLayout, dir: string, opts: WriteLayerOptions = {}): Promise<LayerRef> {
  const spoolDir = makeTemp(layout, "build-blob");
  const spool = join(spoolDir, "data");
  const fd = openSync(spool, "w", 0o644);
  const summary: WalkSummary = { files: 0, bytes: 0 };
  const diff = new Bun.CryptoHasher("sha256");
  const blob = new Bun.CryptoHasher("sha256");
  let size = 0;
  try {
    const tar = writeTar(layerEntries(dir, opts, summary)).pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        diff.update(chunk);
        controller.enqueue(chunk);
      },
    }));
    const gz = tar.pipeThrough(new CompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
    for await (const chunk of gz) {
      blob.update(chunk);
      size += chunk.byteLength;
      let at = 0;
      while (at < chunk.byteLength) at += writeSync(fd, chunk, at, chunk.byteLength - at);
    }
  } catch (e) {
    closeSync(fd);
    rmSync(spoolDir, { recursive: true, force: true });
    throw e;
  }
  closeSync(fd);
  const digest = `sha256:${blob.digest("hex")}`;
  const diffId = `sha256:${diff.digest("hex")}`;
  const target = blobPath(layout, digest);
  if (existsSync(target)) rmSync(spoolDir, { recursive: true, force: true });
  else {
    renameSync(spool, target);
    rmSync(spoolDir, { recursive: true, force: true });
  }
  if (hasLayer(layout, diffId)) rmSync(dir, { recursive: true, force: true });
  else {
    await opts.beforeCommit?.(dir);
    const staging = makeTemp(layout, "build-layer");
    renameSync(dir, join(staging, "diff"));
    commitLayer(layout, staging, { diffId, blob: digest, size: summary.bytes, files: summary.files, created: new Date().toISOString() });
  }
  return { digest, diffId, size, mediaType: MediaType.OciLayerGzip };
}
