/**
 * Bringing one layer into the store: its compressed blob into blobs/ and its unpacked tree into
 * layers/, from a single pass over the bytes. The compressed stream is spooled to partial/ and,
 * at the same time, decompressed, hashed (the diff_id the image config promises) and unpacked into
 * a staging directory. Only when both digests check out are the blob and the tree renamed into place.
 */
import { join } from "node:path";
import { BoxError } from "../../errors.ts";
import { FileLock } from "../../state/atomic.ts";
import { decompress } from "../compression.ts";
import { applyLayer } from "../layer.ts";
import { isTransientNetworkError } from "../registry/retry.ts";
import { blobPath, hasBlob } from "./blobs.ts";
import { discard, makeTemp, type StoreLayout } from "./layout.ts";
import { commitLayer, hasLayer, readLayerMeta, type LayerMeta } from "./layers.ts";
import { concatStreams, PartialBlob } from "./partial.ts";
import { HashTap } from "./hash-tap.ts";

export interface LayerSource {
  /** The compressed blob's digest and size, as the manifest gives them. */
  digest: string;
  size?: number | undefined;
  /** The uncompressed tar's digest, from the image config. */
  diffId: string;
  /**
   * Open the blob. A stream from a registry arrives already verifying its digest; `verified: false`
   * asks the store to check it (a local file).
   */
  open(): Promise<{ stream: ReadableStream<Uint8Array>; verified: boolean }>;
  /** The blob from byte `offset` on, unverified; undefined if the source cannot serve ranges. */
  openFrom?(offset: number): Promise<ReadableStream<Uint8Array> | undefined>;
}

export type IngestPhase = "waiting" | "downloading" | "extracting";

export interface IngestOptions {
  rootless: boolean;
  onPhase?: (phase: IngestPhase) => void;
  /** Rootless: this many files lost a non-root owner the user's id map lacks (see layer.ts). */
  onOwnersLost?: (files: number) => void;
}

export type IngestResult = "present" | "stored";

function digestMismatch(what: string, expected: string, actual: string): BoxError {
  return new BoxError("E_DIGEST_MISMATCH", `${what}: digest mismatch: expected ${expected}, got ${actual}`, {
    hint: "the image is corrupt or was tampered with; nothing was kept",
  });
}

/** Make sure the store holds this layer's blob and unpacked tree. Safe to run in parallel. */
export async function ingestLayer(layout: StoreLayout, src: LayerSource, options: IngestOptions): Promise<IngestResult> {
  if (hasBlob(layout, src.digest) && hasLayer(layout, src.diffId)) return "present";
  options.onPhase?.("waiting");
  using _lock = await FileLock.acquireAsync(join(layout.locks, `layer-${src.diffId.slice(7)}.lock`));
  // Another process may have finished the same layer while this one waited.
  const needBlob = !hasBlob(layout, src.digest);
  const needLayer = !hasLayer(layout, src.diffId);
  if (!needBlob && !needLayer) return "present";

  const { raw, verified, partial } = needBlob
    ? await openRemote(layout, src)
    : { raw: Bun.file(blobPath(layout, src.digest)).stream(), verified: false, partial: undefined };
  options.onPhase?.(needBlob ? "downloading" : "extracting");
  const compressed = new HashTap(!verified);
  let staging: string | undefined;
  try {
    const counted = raw.pipeThrough(compressed.stream());
    let meta: LayerMeta | undefined;
    if (needLayer) {
      staging = makeTemp(layout, "layer");
      const diff = new HashTap(true);
      const { stream: tar } = await decompress(counted);
      const summary = await applyLayer(tar.pipeThrough(diff.stream()), join(staging, "diff"), {
        mode: "overlay",
        rootless: options.rootless,
        digest: src.digest,
      });
      if (summary.ownersLost > 0) options.onOwnersLost?.(summary.ownersLost);
      const diffId = diff.digest();
      if (diffId !== src.diffId) throw digestMismatch(`layer ${src.digest}: uncompressed content`, src.diffId, diffId ?? "an unfinished stream");
      meta = { diffId: src.diffId, blob: src.digest, size: summary.bytes, files: summary.files, created: new Date().toISOString() };
    } else {
      for await (const _ of counted) {
        // Drained for its side effects: the spool and the hash.
      }
    }
    const actual = compressed.digest();
    if (actual === undefined) throw new BoxError("E_INTERNAL", `layer ${src.digest}: the blob stream did not end`);
    if (!verified && actual !== src.digest) throw digestMismatch(`layer blob ${src.digest}`, src.digest, actual);
    if (src.size !== undefined && compressed.bytes !== src.size) {
      throw new BoxError("E_DIGEST_MISMATCH", `layer blob ${src.digest}: size mismatch: expected ${src.size} bytes, got ${compressed.bytes}`);
    }
    partial?.commit();
    if (meta !== undefined && staging !== undefined) {
      commitLayer(layout, staging, meta);
      staging = undefined;
    }
    return "stored";
  } catch (err) {
    // A transfer that broke keeps its bytes for the next pull; bad content is thrown away.
    if (brokenTransfer(err)) partial?.close();
    else partial?.remove();
    if (staging !== undefined) {
      try {
        discard(layout, staging);
      } catch {
        // Rootless, a tree whose owners were given in a user namespace may not be removable by
        // the user: it stays in tmp/, never committed, and the first error is the one to tell.
      }
    }
    throw err;
  }
}

/**
 * The blob from the registry, spooled to partial/ as it arrives. If an earlier attempt left
 * bytes there and the registry serves ranges, only the rest is fetched, and the stream replays
 * the kept bytes first; unverified then, since the client's check covers whole blobs only.
 */
async function openRemote(layout: StoreLayout, src: LayerSource): Promise<{ raw: ReadableStream<Uint8Array>; verified: boolean; partial: PartialBlob }> {
  const partial = new PartialBlob(layout, src.digest);
  try {
    if (partial.offset > 0 && (src.size === undefined || partial.offset < src.size)) {
      const rest = await src.openFrom?.(partial.offset);
      if (rest !== undefined) return { raw: concatStreams(partial.kept(), rest.pipeThrough(spoolTo(partial))), verified: false, partial };
    }
    partial.restart();
    const { stream, verified } = await src.open();
    return { raw: stream.pipeThrough(spoolTo(partial)), verified, partial };
  } catch (err) {
    partial.close();
    throw err;
  }
}

/** Did the transfer break (the registry or the connection), rather than the content prove bad? */
function brokenTransfer(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof BoxError && e.code === "E_REGISTRY") return true;
    if (isTransientNetworkError(e)) return true;
  }
  return false;
}

function spoolTo(partial: PartialBlob): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      partial.write(chunk);
      controller.enqueue(chunk);
    },
  });
}

/** The unpacked size of a stored layer (0 if its record is unreadable). */
export function layerSize(layout: StoreLayout, diffId: string): number {
  return readLayerMeta(layout, diffId)?.size ?? 0;
}
