/**
 * Blob upload, as the distribution spec lays it out: POST opens an upload session and answers
 * with its Location; the bytes then go either in one PUT (monolithic) or as a series of PATCHes
 * with Content-Range, closed by a PUT that names the digest. A POST with `?mount=&from=` asks the
 * registry to link a blob it already holds in another repository instead (201), and falls back to
 * an ordinary session (202) when it cannot.
 */
import { BoxError } from "../../errors.ts";
import type { ProgressCallback } from "./digest.ts";
import { describeOperation, protocolError, statusError, type Operation } from "./errors.ts";
import type { Transport } from "./transport.ts";

export interface UploadRequest {
  readonly repository: string;
  readonly digest: string;
  /** Uint8Array or Blob (Bun.file() is one): both can be re-sent on a retry and sliced into chunks. */
  readonly data: Uint8Array | Blob;
  /** Repository on the same registry to mount the blob from instead of uploading it. */
  readonly mountFrom?: string | undefined;
  /** Upload in PATCH chunks of this many bytes; without it the blob goes in one PUT. */
  readonly chunkSize?: number | undefined;
  readonly onProgress?: ProgressCallback | undefined;
}

export const pullScope = (repository: string): string => `repository:${repository}:pull`;
export const pushScope = (repository: string): string => `repository:${repository}:pull,push`;

const OCTET_STREAM = { "content-type": "application/octet-stream" };

function sizeOf(data: Uint8Array | Blob): number {
  return data instanceof Blob ? data.size : data.byteLength;
}

function nextLocation(res: Response, op: Operation): URL {
  const location = res.headers.get("location");
  if (location === null || location === "") throw protocolError(op, `HTTP ${res.status} without the upload's Location header`);
  const url = new URL(location, res.url);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw protocolError(op, `upload Location ${url.href} is not http(s)`);
  return url;
}

/** Upload (or mount) a blob the registry does not have yet. */
export async function uploadBlob(t: Transport, req: UploadRequest, op: Operation): Promise<"mounted" | "uploaded"> {
  const scopes = req.mountFrom === undefined ? [pushScope(req.repository)] : [pushScope(req.repository), pullScope(req.mountFrom)];
  const start = t.url(`/v2/${req.repository}/blobs/uploads/`);
  if (req.mountFrom !== undefined) {
    start.searchParams.set("mount", req.digest);
    start.searchParams.set("from", req.mountFrom);
  }
  const opened = await t.send({ method: "POST", url: start, scopes }, op);
  if (opened.status === 201 && req.mountFrom !== undefined) {
    await opened.body?.cancel();
    return "mounted";
  }
  if (opened.status !== 202) throw await statusError(opened, op);
  await opened.body?.cancel();
  const session = nextLocation(opened, op);
  // A registry may require a minimum chunk size (OCI-Chunk-Min-Length, distribution-spec 1.1).
  const minChunk = Number(opened.headers.get("oci-chunk-min-length") ?? "0");

  try {
    if (req.chunkSize === undefined) {
      await putMonolithic(t, session, req, op);
    } else {
      await putChunked(t, session, req, Math.max(req.chunkSize, Number.isFinite(minChunk) ? minChunk : 0), op);
    }
  } catch (err) {
    // Leave no half-written session behind; a failure to cancel never hides the upload's error.
    await cancelUpload(t, session, req.repository, op).catch((cleanupErr: unknown) => {
      if (err instanceof BoxError) err.cleanupErrors.push(cleanupErr);
    });
    throw err;
  }
  return "uploaded";
}

async function putMonolithic(t: Transport, session: URL, req: UploadRequest, op: Operation): Promise<void> {
  const total = sizeOf(req.data);
  req.onProgress?.({ digest: req.digest, done: 0, total });
  const url = new URL(session);
  url.searchParams.set("digest", req.digest);
  const res = await t.send({ method: "PUT", url, headers: OCTET_STREAM, body: req.data, scopes: [pushScope(req.repository)] }, op);
  await expectCreated(res, req.digest, op);
  req.onProgress?.({ digest: req.digest, done: total, total });
}

async function putChunked(t: Transport, session: URL, req: UploadRequest, chunkSize: number, op: Operation): Promise<void> {
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) {
    throw new BoxError("E_INVALID_INPUT", `${describeOperation(op)}: chunk size must be a positive integer, got ${chunkSize}`);
  }
  const total = sizeOf(req.data);
  let location = session;
  for (let offset = 0; offset < total; ) {
    const end = Math.min(total, offset + chunkSize);
    const body = req.data instanceof Blob ? req.data.slice(offset, end) : req.data.subarray(offset, end);
    // Not retried: after a failed PATCH the registry may or may not have appended the bytes.
    const res = await t.send(
      {
        method: "PATCH",
        url: location,
        headers: { ...OCTET_STREAM, "content-range": `${offset}-${end - 1}` },
        body,
        scopes: [pushScope(req.repository)],
        retry: false,
      },
      op,
    );
    if (res.status !== 202) throw await statusError(res, op);
    await res.body?.cancel();
    const range = res.headers.get("range");
    if (range !== null && range.replace(/^bytes=/, "") !== `0-${end - 1}`) {
      throw protocolError(op, `after sending bytes up to ${end - 1} the registry reports range ${range}`);
    }
    location = nextLocation(res, op);
    offset = end;
    req.onProgress?.({ digest: req.digest, done: offset, total });
  }
  const url = new URL(location);
  url.searchParams.set("digest", req.digest);
  const res = await t.send({ method: "PUT", url, headers: OCTET_STREAM, scopes: [pushScope(req.repository)] }, op);
  await expectCreated(res, req.digest, op);
  if (total === 0) req.onProgress?.({ digest: req.digest, done: 0, total });
}

async function expectCreated(res: Response, digest: string, op: Operation): Promise<void> {
  if (res.status !== 201) throw await statusError(res, op);
  await res.body?.cancel();
  const stored = res.headers.get("docker-content-digest");
  if (stored !== null && stored !== digest) throw protocolError(op, `the registry stored the blob as ${stored}, not ${digest}`);
}

async function cancelUpload(t: Transport, session: URL, repository: string, op: Operation): Promise<void> {
  const res = await t.send({ method: "DELETE", url: session, scopes: [pushScope(repository)], retry: false }, op);
  // 404: the registry already dropped the session, which is the outcome wanted.
  if (res.status !== 204 && res.status !== 202 && res.status !== 200 && res.status !== 404) {
    throw await statusError(res, { ...op, action: `cancel upload for ${op.action}` });
  }
  await res.body?.cancel();
}
