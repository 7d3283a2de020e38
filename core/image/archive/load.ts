/**
 * `box load`: image archives → store. Reads what `docker save` (legacy and 25+), `podman save`
 * (docker-archive and oci-archive), `skopeo copy` and `box save` write, plain or gzip/zstd
 * compressed, from a file, a directory or a pipe.
 *
 * Three phases, so that a bad archive leaves no image behind:
 *   1. plan: index the archive, read and validate every manifest and config, find every layer
 *      the images name. A missing member, an unsafe path or a malformed document fails here,
 *      before a single layer is read.
 *   2. ingest: each distinct layer streams from its place in the archive through the store's
 *      ingest path (the one pull uses): hashed against its blob digest and its diff_id while it
 *      is unpacked into tmp/, renamed into place only when both match.
 *   3. record: the configs and manifests are stored and every image's record is written in one
 *      update of the index. A failure before this point leaves no record, only what tmp/ holds
 *      and unreferenced verified layers, which the next garbage collection removes.
 *
 * A compressed archive or a pipe cannot be read at random, so it is first decompressed into a
 * file in the store's tmp/ (a writer's lock keeps the collector away from it); then it is read
 * like any other archive file. Memory stays bounded by chunk sizes, whatever the archive's size.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { BoxError, describe } from "../../errors.ts";
import type { BoxPaths } from "../../paths.ts";
import {
  Annotation,
  decodeJsonDocument,
  DockerArchiveManifest,
  type ImageConfig,
  LAYER_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  MediaType,
  OciLayoutFile,
  parseImageConfig,
  parseManifest,
  sha256Digest,
  validateDocument,
  type Descriptor,
} from "../../schema/oci.ts";
import { FileLock } from "../../state/atomic.ts";
import { isatty } from "../../terminal.ts";
import { decompress } from "../compression.ts";
import { parseReference } from "../reference.ts";
import { hostPlatform, selectManifest } from "../registry/platform.ts";
import { isTarHeader } from "../tar-header.ts";
import { blobPath, blobSize, hasBlob, writeBlob } from "../store/blobs.ts";
import { asWriter, sweepIfIdle } from "../store/gc.ts";
import { type ImageRecord, putImage, readIndex, updateIndex } from "../store/images.ts";
import { ingestLayer, layerSize } from "../store/ingest.ts";
import { readLayerMeta, removeLayer } from "../store/layers.ts";
import { discard, makeTemp, prepareStore, storeLayout, type StoreLayout } from "../store/layout.ts";
import { type ArchiveSource, DirSource, type Member, TarFileSource } from "./source.ts";

export interface LoadInput {
  /** An archive file or an image directory; standard input when undefined. */
  file?: string | undefined;
}

export interface LoadedImage {
  id: string;
  /** Fully qualified names, in archive order; empty for an untagged image. */
  names: string[];
}

/** manifest.json, index.json, manifests and configs are read into memory; containers/image caps them alike. */
const MAX_DOCUMENT = MAX_MANIFEST_BYTES;

/** Layers unpacked at once. Unpacking is synchronous file system work, so more buys nothing. */
const LAYER_CONCURRENCY = 2;

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];
const XZ = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const BZIP2 = [0x42, 0x5a, 0x68];

function startsWith(head: Uint8Array, magic: number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

interface LayerPlan {
  member: Member;
  /** The blob digest; for an uncompressed layer this is its diff_id. */
  digest: string;
  diffId: string;
  mediaType: string;
  size: number;
  /** Set when an archive manifest names this blob: then the store must hold exactly it. */
  fixed: boolean;
}

interface ImagePlan {
  id: string;
  config: Uint8Array;
  parsed: ImageConfig;
  /** A manifest from the archive, kept byte for byte; synthesized when the archive has none. */
  manifest?: { bytes: Uint8Array; digest: string; mediaType: string } | undefined;
  layers: LayerPlan[];
  names: string[];
}

function invalid(message: string, hint?: string): BoxError {
  return new BoxError("E_INVALID_INPUT", message, hint === undefined ? {} : { hint });
}

/** Load every image in the archive; returns them in archive order. */
export async function loadImages(paths: BoxPaths, input: LoadInput): Promise<LoadedImage[]> {
  const layout = storeLayout(paths.storage);
  // Refuse a terminal before touching the store: there is nothing to read.
  if (input.file === undefined && isatty(0)) {
    throw invalid("requested load from stdin, but stdin is a terminal", "use the -i flag or redirect an archive into box load");
  }
  prepareStore(layout);
  sweepIfIdle(layout);
  const stored: LayerPlan[] = [];
  try {
    return await asWriter(layout, async () => {
      const opened = await openArchive(layout, input);
      try {
        const plans = await plan(opened.source);
        await ingest(layout, paths.rootless, opened.source.label, plans, stored);
        return record(layout, plans);
      } finally {
        opened.source.close();
        if (opened.spool !== undefined) discard(layout, opened.spool);
      }
    });
  } catch (err) {
    forgetStored(layout, stored);
    throw err;
  }
}

/**
 * After a failed load, take back the layers and blobs it stored before the failure, so that a bad
 * archive leaves the store as it found it. Only done when no other writer is active (a parallel
 * pull or load may be about to reference them); otherwise they stay, unreferenced, until the
 * next garbage collection, like the leftovers of an interrupted pull.
 */
function forgetStored(layout: StoreLayout, stored: LayerPlan[]): void {
  if (stored.length === 0) return;
  const lock = FileLock.tryAcquire(layout.storageLock, "exclusive");
  if (lock === undefined) return;
  try {
    const blobs = new Set<string>();
    const layers = new Set<string>();
    for (const image of readIndex(layout).images) {
      for (const l of image.layers) {
        blobs.add(l.digest);
        layers.add(l.diffId);
      }
    }
    for (const l of stored) {
      if (!layers.has(l.diffId)) removeLayer(layout, l.diffId);
      if (!blobs.has(l.digest) && hasBlob(layout, l.digest)) discard(layout, blobPath(layout, l.digest));
    }
  } catch {
    // Best effort: garbage collection removes whatever is left.
  } finally {
    lock.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Opening the input

interface Opened {
  source: ArchiveSource;
  /** The tmp/ directory holding a decompressed copy, removed when done. */
  spool?: string | undefined;
}

async function openArchive(layout: StoreLayout, input: LoadInput): Promise<Opened> {
  if (input.file === undefined) {
    const st = fstatSync(0);
    if (st.isFile()) return fromFile(layout, "/proc/self/fd/0", "stdin", st.size);
    return fromStream(layout, Bun.stdin.stream(), "stdin");
  }
  const path = input.file;
  let st;
  try {
    st = statSync(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new BoxError(code === "ENOENT" ? "E_NOT_FOUND" : "E_INVALID_INPUT", `open ${path}: ${code === "ENOENT" ? "no such file or directory" : describe(cause)}`);
  }
  if (st.isDirectory()) return { source: new DirSource(path, path) };
  if (st.isFile()) return fromFile(layout, path, path, st.size);
  return fromStream(layout, Bun.file(path).stream(), path);
}

function readHead(path: string, n: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, buf, got, n - got, got);
      if (r === 0) break;
      got += r;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function unsupportedCompression(label: string, head: Uint8Array): BoxError | undefined {
  const format = startsWith(head, XZ) ? "xz" : startsWith(head, BZIP2) && !isTarHeader(head) ? "bzip2" : undefined;
  if (format === undefined) return undefined;
  return new BoxError("E_UNSUPPORTED", `${label}: the archive is ${format}-compressed; box load reads plain, gzip and zstd archives`, {
    hint: `decompress it first (${format === "xz" ? "xz -d" : "bunzip2"})`,
  });
}

function notAnArchive(label: string): BoxError {
  return invalid(`${label}: not an image archive: it is neither a tar file nor a gzip or zstd-compressed one`, "give box load a file written by docker save, podman save, skopeo or box save");
}

async function fromFile(layout: StoreLayout, path: string, label: string, size: number): Promise<Opened> {
  if (size === 0) throw invalid(`${label}: the archive is empty`);
  const head = readHead(path, 512);
  if (isTarHeader(head)) return { source: new TarFileSource(path, label) };
  const unsupported = unsupportedCompression(label, head);
  if (unsupported !== undefined) throw unsupported;
  if (startsWith(head, GZIP) || startsWith(head, ZSTD)) return fromStream(layout, Bun.file(path).stream(), label);
  throw notAnArchive(label);
}

/** Decompress (if need be) into a file under tmp/, then read that. */
async function fromStream(layout: StoreLayout, stream: ReadableStream<Uint8Array>, label: string): Promise<Opened> {
  let plain: ReadableStream<Uint8Array>;
  try {
    plain = (await decompress(stream)).stream;
  } catch (err) {
    if (err instanceof BoxError && err.code === "E_UNSUPPORTED") {
      throw new BoxError("E_UNSUPPORTED", `${label}: the archive is compressed with a format box load does not read (xz or bzip2)`, {
        hint: "decompress it first; box load reads plain, gzip and zstd archives",
      });
    }
    throw err;
  }
  const spool = makeTemp(layout, "load");
  try {
    const file = join(spool, "archive.tar");
    const fd = openSync(file, "w", 0o600);
    let total = 0;
    try {
      for await (const chunk of plain) {
        let at = 0;
        while (at < chunk.byteLength) at += writeSync(fd, chunk, at, chunk.byteLength - at);
        total += chunk.byteLength;
      }
    } catch (cause) {
      // The decompressor's own words ("unexpected end of file") say which it was.
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new BoxError("E_INVALID_INPUT", `${label}: the archive is truncated or corrupt (${detail})`, { hint: "the file was cut short or damaged; save the image again" });
    } finally {
      closeSync(fd);
    }
    if (total === 0) throw invalid(`${label}: the archive is empty`);
    if (!isTarHeader(readHead(file, 512))) throw notAnArchive(label);
    return { source: new TarFileSource(file, label), spool };
  } catch (err) {
    discard(layout, spool);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Planning

/** A small document (a manifest, a config) read whole, after its size is checked. */
function readDocument(member: Member, label: string, what: string): Uint8Array {
  if (member.size > MAX_DOCUMENT) {
    throw invalid(`${label}: ${what} \`${member.name}\` is ${member.size} bytes, over the limit of ${MAX_DOCUMENT} (4 MiB)`, "a document this large is not an image manifest or config; the archive is malformed");
  }
  return member.bytes();
}

async function plan(source: ArchiveSource): Promise<ImagePlan[]> {
  const manifestJson = source.member("manifest.json");
  const indexJson = source.member("index.json");
  if (manifestJson !== undefined) return planDocker(source, manifestJson, indexJson);
  if (indexJson !== undefined) return planOci(source, indexJson);
  const incomplete = source instanceof TarFileSource && !source.complete;
  throw invalid(
    `${source.label}: not an image archive: it has neither manifest.json (docker-archive) nor index.json (oci-archive)${incomplete ? ", and no end-of-archive marker: it is probably truncated" : ""}`,
    incomplete ? "the file was cut short; save the image again" : "give box load a file written by docker save, podman save, skopeo or box save",
  );
}

/** `context: <the error>`, keeping its code and its hint (the renderer prints only the outer hint). */
function withContext(err: unknown, context: string): BoxError {
  const code = err instanceof BoxError ? err.code : "E_INVALID_INPUT";
  const hint = err instanceof BoxError ? err.hint : undefined;
  return new BoxError(code, context, hint === undefined ? { cause: err } : { cause: err, hint });
}

function parseConfig(bytes: Uint8Array, label: string, name: string): ImageConfig {
  try {
    return parseImageConfig(bytes);
  } catch (err) {
    throw withContext(err, `${label}: config \`${name}\``);
  }
}

function checkLayerCount(label: string, subject: string, layers: number, config: ImageConfig): void {
  if (config.rootfs.diff_ids.length !== layers) {
    throw invalid(`${label}: ${subject} lists ${layers} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`, "the archive is malformed");
  }
}

/** A name from manifest.json's RepoTags or an index annotation, fully qualified. */
function qualify(label: string, name: string, where: string): string {
  let ref;
  try {
    ref = parseReference(name);
  } catch (err) {
    throw withContext(err, `${label}: ${where}`);
  }
  if (ref.digest !== undefined) throw invalid(`${label}: ${where}: \`${name}\` is not a tag; names in an archive are NAME:TAG`);
  return ref.toString();
}

/** The blob digest a docker-archive layer member is stored under, and its media type. */
async function dockerLayer(member: Member, diffId: string): Promise<{ digest: string; mediaType: string }> {
  const head = member.head(512);
  if (isTarHeader(head) || member.size === 0) return { digest: diffId, mediaType: MediaType.OciLayer };
  const mediaType = startsWith(head, GZIP) ? MediaType.OciLayerGzip : startsWith(head, ZSTD) ? MediaType.OciLayerZstd : MediaType.OciLayer;
  if (mediaType === MediaType.OciLayer) return { digest: diffId, mediaType };
  // A compressed layer (docker load accepts them, and box save writes its stored blobs so): its
  // name in a Docker 25+ or box archive is its digest; anywhere else it has to be hashed first.
  const named = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(member.name);
  if (named !== null) return { digest: `sha256:${named[1]}`, mediaType };
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of member.stream()) hasher.update(chunk);
  return { digest: `sha256:${hasher.digest("hex")}`, mediaType };
}

async function planDocker(source: ArchiveSource, manifestJson: Member, indexJson: Member | undefined): Promise<ImagePlan[]> {
  const label = source.label;
  const bytes = readDocument(manifestJson, label, "manifest");
  let items;
  try {
    items = validateDocument(DockerArchiveManifest, decodeJsonDocument(bytes, "manifest.json"), "manifest.json");
  } catch (err) {
    throw withContext(err, label);
  }
  const reusable = indexJson === undefined ? [] : reusableManifests(source, indexJson);
  const plans: ImagePlan[] = [];
  for (const item of items) {
    const configMember = source.member(item.Config);
    if (configMember === undefined) throw invalid(`${label}: manifest.json names config \`${item.Config}\`, which is not in the archive`, "the archive is incomplete or malformed");
    const config = readDocument(configMember, label, "config");
    const parsed = parseConfig(config, label, item.Config);
    checkLayerCount(label, `the image with config \`${item.Config}\``, item.Layers.length, parsed);
    const layers: LayerPlan[] = [];
    for (const [i, path] of item.Layers.entries()) {
      const member = source.member(path);
      if (member === undefined) throw invalid(`${label}: manifest.json names layer \`${path}\`, which is not in the archive`, "the archive is incomplete or malformed");
      const diffId = parsed.rootfs.diff_ids[i] as string;
      const { digest, mediaType } = await dockerLayer(member, diffId);
      layers.push({ member, digest, diffId, mediaType, size: member.size, fixed: false });
    }
    const id = sha256Digest(config);
    // Docker 25+ and box archives are OCI layouts too: where the layout holds a manifest for
    // exactly these blobs, keep it, so the image keeps its manifest digest through save and load.
    const manifest = reusable.find((m) => m.config === id && m.layers.length === layers.length && m.layers.every((d, i) => d === layers[i]?.digest));
    if (manifest !== undefined) for (const l of layers) l.fixed = true;
    for (const [i, l] of layers.entries()) if (manifest !== undefined) l.mediaType = manifest.mediaTypes[i] as string;
    const names = (item.RepoTags ?? []).map((t) => qualify(label, t, "manifest.json RepoTags"));
    plans.push({ id, config, parsed, manifest, layers, names });
  }
  return plans;
}

interface ReusableManifest {
  bytes: Uint8Array;
  digest: string;
  mediaType: string;
  config: string;
  layers: string[];
  mediaTypes: string[];
}

/** The image manifests an index.json beside a manifest.json names; unreadable ones are ignored, as docker load ignores the index. */
function reusableManifests(source: ArchiveSource, indexJson: Member): ReusableManifest[] {
  const out: ReusableManifest[] = [];
  try {
    const index = parseManifest(readDocument(indexJson, source.label, "index"));
    if (index.kind !== "index") return out;
    for (const desc of index.index.manifests) {
      if (desc.mediaType !== MediaType.OciManifest && desc.mediaType !== MediaType.DockerManifest) continue;
      const member = source.member(blobName(desc.digest));
      if (member === undefined || member.size > MAX_DOCUMENT) continue;
      const bytes = member.bytes();
      if (sha256Digest(bytes) !== desc.digest) continue;
      const m = parseManifest(bytes);
      if (m.kind !== "manifest") continue;
      out.push({
        bytes,
        digest: m.digest,
        mediaType: m.mediaType,
        config: m.manifest.config.digest,
        layers: m.manifest.layers.map((l) => l.digest),
        mediaTypes: m.manifest.layers.map((l) => l.mediaType),
      });
    }
  } catch {
    return out;
  }
  return out;
}

function blobName(digest: string): string {
  return `blobs/sha256/${digest.slice("sha256:".length)}`;
}

/** A blob named by a descriptor, present and of the size the descriptor gives. */
function blobMember(source: ArchiveSource, desc: Descriptor, what: string): Member {
  const member = source.member(blobName(desc.digest));
  if (member === undefined) throw invalid(`${source.label}: ${what} ${desc.digest} is not in the archive (no \`${blobName(desc.digest)}\`)`, "the archive is incomplete or malformed");
  if (member.size !== desc.size) {
    throw new BoxError("E_DIGEST_MISMATCH", `${source.label}: ${what} ${desc.digest} is ${member.size} bytes, but its descriptor says ${desc.size}`, { hint: "the archive is corrupt" });
  }
  return member;
}

/** A small blob read whole and checked against its digest. */
function readVerified(source: ArchiveSource, desc: Descriptor, what: string): Uint8Array {
  const bytes = readDocument(blobMember(source, desc, what), source.label, what);
  const actual = sha256Digest(bytes);
  if (actual !== desc.digest) {
    throw new BoxError("E_DIGEST_MISMATCH", `${source.label}: ${what} ${desc.digest}: digest mismatch: it hashes to ${actual}`, { hint: "the archive is corrupt or was tampered with; nothing was loaded" });
  }
  return bytes;
}

/**
 * The name an index entry gives its image: containerd's full name (Docker 25+ writes it), else
 * the ref.name annotation when it is a whole reference (podman and box write those). A bare
 * ref.name ("latest", "v1") names no repository, so such an image loads untagged.
 */
function annotatedName(label: string, annotations: Record<string, string> | undefined): string | undefined {
  const full = annotations?.[Annotation.ContainerdImageName];
  if (full !== undefined && full !== "") return qualify(label, full, `index.json annotation ${Annotation.ContainerdImageName}`);
  const ref = annotations?.[Annotation.RefName];
  if (ref !== undefined && /[/:]/.test(ref)) return qualify(label, ref, `index.json annotation ${Annotation.RefName}`);
  return undefined;
}

async function planOci(source: ArchiveSource, indexJson: Member): Promise<ImagePlan[]> {
  const label = source.label;
  let index;
  try {
    index = parseManifest(readDocument(indexJson, label, "index"));
  } catch (err) {
    throw withContext(err, `${label}: index.json`);
  }
  if (index.kind !== "index") throw invalid(`${label}: index.json is an image manifest, not an image index`);
  // The image-layout marker is required by the spec but left out by some writers; when present it must be sound.
  const marker = source.member("oci-layout");
  if (marker !== undefined) {
    try {
      validateDocument(OciLayoutFile, decodeJsonDocument(readDocument(marker, label, "oci-layout"), "oci-layout"), "oci-layout");
    } catch (err) {
      throw withContext(err, label);
    }
  }
  const plans = new Map<string, ImagePlan>();
  for (const top of index.index.manifests) {
    let desc: Descriptor = top;
    if (desc.mediaType === MediaType.OciIndex || desc.mediaType === MediaType.DockerManifestList) {
      // A multi-platform image (skopeo copy --all, buildx): load the one for this machine.
      const nested = parseManifest(readVerified(source, desc, "image index"));
      if (nested.kind !== "index") throw invalid(`${label}: ${desc.digest} is declared an index but is a manifest`);
      desc = selectManifest<Descriptor>(nested.index.manifests, hostPlatform(), `${label}: ${desc.digest}`);
    }
    if (desc.mediaType !== MediaType.OciManifest && desc.mediaType !== MediaType.DockerManifest) continue;
    const name = annotatedName(label, top.annotations);
    const existing = plans.get(desc.digest);
    if (existing !== undefined) {
      if (name !== undefined && !existing.names.includes(name)) existing.names.push(name);
      continue;
    }
    const bytes = readVerified(source, desc, "manifest");
    const manifest = parseManifest(bytes);
    if (manifest.kind !== "manifest") throw invalid(`${label}: ${desc.digest} is declared a manifest but is an index`);
    const configDesc = manifest.manifest.config;
    // Signatures, SBOMs and other artifacts that share the layout are not images to load.
    if (configDesc.mediaType !== MediaType.OciConfig && configDesc.mediaType !== MediaType.DockerConfig) continue;
    const config = readVerified(source, configDesc, "config");
    const parsed = parseConfig(config, label, configDesc.digest);
    checkLayerCount(label, `manifest ${desc.digest}`, manifest.manifest.layers.length, parsed);
    const layers: LayerPlan[] = manifest.manifest.layers.map((l, i) => {
      if (!LAYER_MEDIA_TYPES.has(l.mediaType)) {
        throw new BoxError("E_UNSUPPORTED", `${label}: layer ${l.digest} has media type ${l.mediaType}`, {
          hint: "box unpacks tar layers (plain, gzip or zstd); foreign and non-tar layers are not supported",
        });
      }
      return { member: blobMember(source, l, "layer"), digest: l.digest, diffId: parsed.rootfs.diff_ids[i] as string, mediaType: l.mediaType, size: l.size, fixed: true };
    });
    plans.set(desc.digest, {
      id: configDesc.digest,
      config,
      parsed,
      manifest: { bytes, digest: manifest.digest, mediaType: manifest.mediaType },
      layers,
      names: name === undefined ? [] : [name],
    });
  }
  if (plans.size === 0) throw invalid(`${label}: index.json names no container image`, "the layout holds only artifacts or other platforms' images");
  return [...plans.values()];
}

// ---------------------------------------------------------------------------------------------
// Ingesting layers

/** The media type the store already knows a blob by, or what its first bytes say. */
function storedMediaType(layout: StoreLayout, digest: string): string {
  for (const image of readIndex(layout).images) {
    const known = image.layers.find((l) => l.digest === digest);
    if (known !== undefined) return known.mediaType;
  }
  const head = readHead(blobPath(layout, digest), 4);
  return startsWith(head, GZIP) ? MediaType.OciLayerGzip : startsWith(head, ZSTD) ? MediaType.OciLayerZstd : MediaType.OciLayer;
}

async function ingest(layout: StoreLayout, rootless: boolean, label: string, plans: ImagePlan[], stored: LayerPlan[]): Promise<void> {
  const jobs = new Map<string, LayerPlan>();
  for (const p of plans) {
    for (const layer of p.layers) {
      // A layer the store already has (unpacked, with its blob) needs nothing from the archive,
      // unless an archive manifest pins the exact blob, as docker load skips known layers.
      const meta = layer.fixed ? undefined : readLayerMeta(layout, layer.diffId);
      if (meta !== undefined && hasBlob(layout, meta.blob)) {
        layer.digest = meta.blob;
        layer.size = blobSize(layout, meta.blob) ?? layer.size;
        layer.mediaType = storedMediaType(layout, meta.blob);
        continue;
      }
      if (!jobs.has(layer.digest)) jobs.set(layer.digest, layer);
    }
  }
  const queue = [...jobs.values()];
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job !== undefined && failure === undefined; job = queue.shift()) {
      const { member, digest, diffId, size } = job;
      try {
        const result = await ingestLayer(layout, {
          digest,
          size,
          diffId,
          open: async () => ({ stream: member.stream(), verified: false }),
        }, { rootless });
        if (result === "stored") stored.push(job);
      } catch (err) {
        failure ??= { err: withContext(err, `${label}: layer \`${member.name}\``) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(LAYER_CONCURRENCY, queue.length) }, worker));
  if (failure !== undefined) throw failure.err;
}

// ---------------------------------------------------------------------------------------------
// Recording the images

function synthesizeManifest(p: ImagePlan): { bytes: Uint8Array; digest: string; mediaType: string } {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: p.id, size: p.config.byteLength },
    layers: p.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  return { bytes, digest: sha256Digest(bytes), mediaType: MediaType.OciManifest };
}

function record(layout: StoreLayout, plans: ImagePlan[]): LoadedImage[] {
  const records: ImageRecord[] = [];
  const added = new Date().toISOString();
  for (const p of plans) {
    writeBlob(layout, p.config, p.id);
    const manifest = p.manifest ?? synthesizeManifest(p);
    writeBlob(layout, manifest.bytes, manifest.digest);
    const unique = [...new Set(p.layers.map((l) => l.diffId))];
    records.push({
      id: p.id,
      manifest: manifest.digest,
      manifestMediaType: manifest.mediaType,
      names: p.names,
      repoDigests: [],
      layers: p.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, mediaType: l.mediaType })),
      size: unique.reduce((sum, d) => sum + layerSize(layout, d), 0),
      ...(p.parsed.created === undefined ? {} : { created: p.parsed.created }),
      architecture: p.parsed.architecture,
      os: p.parsed.os,
      added,
    });
  }
  // One update for every image: an archive loads whole or not at all.
  updateIndex(layout, (index) => {
    for (const r of records) putImage(index, { ...r, names: [...r.names] });
  });
  return plans.map((p) => ({ id: p.id, names: p.names }));
}
