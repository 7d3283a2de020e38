/**
 * `box save`: store → image archive, in one of three forms, all of them OCI image layouts:
 *
 *   docker-archive  what Docker 25+'s `docker save` writes: an OCI layout (oci-layout, index.json,
 *                   blobs/sha256/…) that also carries docker's manifest.json and repositories,
 *                   so `docker load`, `podman load`, skopeo's docker-archive: and oci-archive:
 *                   transports and containerd all read it.
 *   oci-archive     the OCI layout alone, as a tar (podman's `--format oci-archive`).
 *   oci-dir         the OCI layout as a directory (podman's `--format oci-dir`).
 *
 * Layers go out as the store holds them, compressed blobs byte for byte: no recompression, and an
 * archive no bigger than what was pulled. docker's own archives carry uncompressed layers, but
 * every reader accepts compressed ones: `docker load` decompresses layer files whatever they are,
 * containers/image's docker-archive source decompresses them to match the diff_ids, and in the
 * OCI view each blob is named by its own digest with its own media type, as the layout requires.
 * A blob is hashed on its way out, so a store blob that rotted fails the save instead of being
 * shipped. Every member has mtime 0 and fixed modes, so saving the same images twice gives the
 * same bytes.
 *
 * Output is atomic: an archive is written beside its final name and renamed into place only once
 * complete, a directory likewise; a failed save leaves nothing at the name it was given.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { BoxError, SyscallError } from "../../errors.ts";
import type { BoxPaths } from "../../paths.ts";
import { Annotation, MediaType, parseImageConfig, parseManifest, type Descriptor, type Platform } from "../../schema/oci.ts";
import { requireImage } from "../local.ts";
import { parseReference } from "../reference.ts";
import { loadRegistriesConfig } from "../registries-config.ts";
import { blobPath, readBlob } from "../store/blobs.ts";
import { type ImageRecord, readIndex } from "../store/images.ts";
import { asWriter } from "../store/gc.ts";
import { prepareStore, storeLayout, type StoreLayout } from "../store/layout.ts";
import { storedNames } from "../store/lookup.ts";
import { type TarWriterEntry, writeTar } from "../tar-writer.ts";

export const SAVE_FORMATS = ["docker-archive", "oci-archive", "oci-dir"] as const;
export type SaveFormat = (typeof SAVE_FORMATS)[number];

/** Where the archive goes: a file or directory path, or an open fd (stdout). */
export type SaveTarget = { kind: "path"; path: string } | { kind: "fd"; fd: number; label: string };

interface SavedImage {
  record: ImageRecord;
  /** Fully qualified names to save it under; none for an image named by ID. */
  names: string[];
}

const encoder = new TextEncoder();
const json = (value: unknown): Uint8Array => encoder.encode(`${JSON.stringify(value)}\n`);

/** A repository without tag or digest ("busybox", "localhost:5000/app"): docker saves all its tags. */
function isNameOnly(query: string): boolean {
  if (query.includes("@") || /^(sha256:)?[a-f0-9]{1,64}$/.test(query)) return false;
  return !query.slice(query.lastIndexOf("/") + 1).includes(":");
}

const repositoryOf = (name: string): string => name.slice(0, name.lastIndexOf(":"));

/** The images the arguments name, each once, with the names each was asked for by. */
export async function resolveImages(paths: BoxPaths, queries: readonly string[]): Promise<SavedImage[]> {
  const layout = storeLayout(paths.storage);
  const search = loadRegistriesConfig(paths).search;
  const saved = new Map<string, SavedImage>();
  const add = (record: ImageRecord, name: string | undefined): void => {
    const entry = saved.get(record.id) ?? { record, names: [] };
    saved.set(record.id, entry);
    if (name !== undefined && !entry.names.includes(name)) entry.names.push(name);
  };
  for (const query of queries) {
    if (isNameOnly(query)) {
      let ref;
      try {
        ref = parseReference(query);
      } catch {
        ref = undefined;
      }
      if (ref !== undefined) {
        const images = readIndex(layout).images;
        // The first repository the name can mean that has any tags, in lookup order.
        const repo = storedNames(ref, search).map(repositoryOf).find((r) => images.some((i) => i.names.some((n) => repositoryOf(n) === r)));
        if (repo !== undefined) {
          for (const image of images) for (const n of image.names) if (repositoryOf(n) === repo) add(image, n);
          continue;
        }
      }
    }
    const record = await requireImage(paths, query);
    let name: string | undefined;
    try {
      const ref = parseReference(query);
      if (ref.digest === undefined) name = storedNames(ref, search).find((n) => record.names.includes(n));
    } catch {
      // An image ID or a prefix of one: saved without a name, as docker does.
    }
    add(record, name);
  }
  return [...saved.values()];
}

/** One file or directory of the layout. A blob from the store streams and is verified on the way. */
type LayoutEntry =
  | { name: string; kind: "directory" }
  | { name: string; kind: "bytes"; bytes: Uint8Array }
  | { name: string; kind: "blob"; digest: string; size: number };

const blobName = (digest: string): string => `blobs/sha256/${digest.slice("sha256:".length)}`;

function platformOf(config: Uint8Array): Platform {
  const c = parseImageConfig(config);
  return { architecture: c.architecture, os: c.os, ...(c.variant === undefined ? {} : { variant: c.variant }) };
}

/** The layout's entries, metadata first (a reader of a stream learns what is coming), then blobs. */
export function layoutEntries(layout: StoreLayout, images: SavedImage[], format: SaveFormat): LayoutEntry[] {
  const descriptors: Descriptor[] = [];
  const dockerManifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const small = new Map<string, Uint8Array>();
  const layers = new Map<string, number>();
  for (const { record, names } of images) {
    const manifestBytes = readBlob(layout, record.manifest);
    const manifest = parseManifest(manifestBytes);
    if (manifest.kind !== "manifest") throw new BoxError("E_BAD_STATE", `image ${record.id}: stored manifest ${record.manifest} is an index`);
    const config = readBlob(layout, record.id);
    small.set(record.manifest, manifestBytes);
    small.set(record.id, config);
    for (const l of manifest.manifest.layers) layers.set(l.digest, l.size);
    const base = { mediaType: manifest.mediaType, digest: record.manifest, size: manifestBytes.byteLength, platform: platformOf(config) };
    if (names.length === 0) descriptors.push(base);
    for (const name of names) {
      const ref = parseReference(name);
      const tag = ref.tag ?? "latest";
      // Docker 25+ writes the full name for containerd and the bare tag as ref.name; podman's
      // OCI archives carry the full name in ref.name, which is what podman and skopeo read back.
      const annotations = format === "docker-archive"
        ? { [Annotation.ContainerdImageName]: name, [Annotation.RefName]: tag }
        : { [Annotation.ContainerdImageName]: name, [Annotation.RefName]: name };
      descriptors.push({ ...base, annotations });
    }
    if (format === "docker-archive") {
      const familiar = names.map((n) => parseReference(n).familiar());
      dockerManifest.push({
        Config: blobName(record.id),
        RepoTags: familiar.length === 0 ? null : familiar,
        Layers: manifest.manifest.layers.map((l) => blobName(l.digest)),
      });
      const top = record.layers.at(-1)?.diffId;
      for (const f of familiar) {
        const colon = f.lastIndexOf(":");
        const repo = f.slice(0, colon);
        repositories[repo] = { ...repositories[repo], [f.slice(colon + 1)]: (top ?? record.id).slice("sha256:".length) };
      }
    }
  }
  const entries: LayoutEntry[] = [
    { name: "blobs", kind: "directory" },
    { name: "blobs/sha256", kind: "directory" },
    { name: "oci-layout", kind: "bytes", bytes: json({ imageLayoutVersion: "1.0.0" }) },
    { name: "index.json", kind: "bytes", bytes: json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: descriptors }) },
  ];
  if (format === "docker-archive") {
    entries.push({ name: "manifest.json", kind: "bytes", bytes: json(dockerManifest) });
    if (Object.keys(repositories).length > 0) entries.push({ name: "repositories", kind: "bytes", bytes: json(repositories) });
  }
  for (const [digest, bytes] of small) entries.push({ name: blobName(digest), kind: "bytes", bytes });
  for (const [digest, size] of layers) if (!small.has(digest)) entries.push({ name: blobName(digest), kind: "blob", digest, size });
  return entries;
}

/** A store blob's bytes, hashed as they pass; a mismatch at the end fails the save. */
async function* verifiedBlob(layout: StoreLayout, digest: string, size: number): AsyncGenerator<Uint8Array> {
  const path = blobPath(layout, digest);
  let actual: number;
  try {
    actual = statSync(path).size;
  } catch (cause) {
    throw new BoxError("E_NOT_FOUND", `blob ${digest} is missing from the store`, { cause, hint: "pull the image again to restore it" });
  }
  if (actual !== size) throw new BoxError("E_DIGEST_MISMATCH", `store blob ${digest} is ${actual} bytes, its manifest says ${size}`, { hint: "remove the image and pull it again" });
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) {
    hasher.update(chunk);
    yield chunk;
  }
  const got = `sha256:${hasher.digest("hex")}`;
  if (got !== digest) throw new BoxError("E_DIGEST_MISMATCH", `store blob ${digest} is corrupt: it hashes to ${got}`, { hint: "remove the image and pull it again" });
}

function tarEntries(layout: StoreLayout, entries: LayoutEntry[]): TarWriterEntry[] {
  return entries.map((e): TarWriterEntry => {
    if (e.kind === "directory") return { name: e.name, type: "directory", mode: 0o755 };
    if (e.kind === "bytes") return { name: e.name, type: "file", mode: 0o644, body: e.bytes };
    return { name: e.name, type: "file", mode: 0o644, body: { size: e.size, stream: verifiedBlob(layout, e.digest, e.size) } };
  });
}

function writeFully(fd: number, chunk: Uint8Array, label: string): void {
  let at = 0;
  while (at < chunk.byteLength) {
    try {
      at += writeSync(fd, chunk, at, chunk.byteLength - at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      if (code === "EPIPE") throw new BoxError("E_SYSCALL", `write ${label}: broken pipe`, { cause: err });
      throw err;
    }
  }
}

async function writeTarTo(fd: number, label: string, layout: StoreLayout, entries: LayoutEntry[]): Promise<void> {
  for await (const chunk of writeTar(tarEntries(layout, entries))) writeFully(fd, chunk, label);
}

/** A sibling of `path` to build the output under, removed if the save fails or is interrupted. */
function stagingName(path: string): string {
  return join(dirname(path), `.${basename(path)}.box-save-${process.pid}`);
}

/** Run `fn` with `cleanup` also run if SIGINT or SIGTERM ends the process meanwhile. */
async function removingOnSignal<T>(cleanup: () => void, fn: () => Promise<T>): Promise<T> {
  // The signal is raised again once no handler is left, so box ends as the signal meant (128+N
  // to the shell) without core deciding how the process exits.
  const onSignal = (signal: NodeJS.Signals): void => {
    cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.kill(process.pid, signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await fn();
  } catch (err) {
    cleanup();
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function saveArchiveFile(path: string, layout: StoreLayout, entries: LayoutEntry[]): Promise<void> {
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new BoxError("E_INVALID_INPUT", `open ${path}: is a directory`, { hint: "give -o a file name, or use --format oci-dir to write a directory" });
  }
  const staging = stagingName(path);
  await removingOnSignal(() => rmSync(staging, { force: true }), async () => {
    let fd: number;
    try {
      fd = openSync(staging, "w", 0o644);
    } catch (err) {
      // Named after the file asked for, not the staging name beside it.
      const errno = Math.abs((err as NodeJS.ErrnoException).errno ?? 0);
      throw new SyscallError(`open \`${path}\``, errno);
    }
    try {
      await writeTarTo(fd, path, layout, entries);
    } finally {
      closeSync(fd);
    }
    renameSync(staging, path);
  });
}

async function saveDirectory(path: string, layout: StoreLayout, entries: LayoutEntry[]): Promise<void> {
  if (existsSync(path) && (!statSync(path).isDirectory() || readdirSync(path).length > 0)) {
    throw new BoxError("E_EXISTS", `${path} already exists and is not an empty directory`, { hint: "give -o a new directory name" });
  }
  const staging = stagingName(path);
  await removingOnSignal(() => rmSync(staging, { recursive: true, force: true }), async () => {
    mkdirSync(staging, { mode: 0o755 });
    for (const e of entries) {
      const target = join(staging, e.name);
      if (e.kind === "directory") {
        mkdirSync(target, { recursive: true, mode: 0o755 });
        continue;
      }
      const fd = openSync(target, "wx", 0o644);
      try {
        if (e.kind === "bytes") writeFully(fd, e.bytes, target);
        else for await (const chunk of verifiedBlob(layout, e.digest, e.size)) writeFully(fd, chunk, target);
      } finally {
        closeSync(fd);
      }
    }
    if (existsSync(path)) rmdirSync(path);
    renameSync(staging, path);
  });
}

/** Save the images `queries` name in `format` to `target`. */
export async function saveImages(paths: BoxPaths, queries: readonly string[], format: SaveFormat, target: SaveTarget): Promise<void> {
  if (format === "oci-dir" && target.kind !== "path") throw new BoxError("E_INVALID_INPUT", "--format oci-dir writes a directory: give it with -o DIR");
  const layout = storeLayout(paths.storage);
  const images = await resolveImages(paths, queries);
  // Held as a writer holds it, so no garbage collection removes a blob while it is being copied.
  prepareStore(layout);
  await asWriter(layout, async () => {
    // The documents are read and checked before the first byte goes out.
    const entries = layoutEntries(layout, images, format);
    if (format === "oci-dir" && target.kind === "path") return saveDirectory(target.path, layout, entries);
    if (target.kind === "fd") return writeTarTo(target.fd, target.label, layout, entries);
    return saveArchiveFile(target.path, layout, entries);
  });
}
