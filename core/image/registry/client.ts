/**
 * A client for one registry, speaking the OCI distribution spec v1.1 over fetch: ping, manifests
 * (by tag or digest, with platform selection from an index), blobs (verified while streaming),
 * pushes and tag listing. It never prints; progress goes to an optional callback and failures are
 * BoxErrors whose code follows the HTTP status (errors.ts).
 *
 * @example
 * const client = new RegistryClient({ registry: "localhost:5000" });
 * const { manifest } = await client.getImageManifest("app", "v1");
 * const { stream } = await client.getBlob("app", manifest.manifest.config.digest);
 */
import * as v from "valibot";
import { BoxError } from "../../errors.ts";
import {
  MANIFEST_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  parseManifest,
  type ParsedImageIndex,
  type ParsedImageManifest,
  type ParsedManifest,
  type Platform,
} from "../../schema/oci.ts";
import { isValidDigest, isValidRegistry, isValidRepository, isValidTag } from "../reference.ts";
import type { Credentials } from "./auth.ts";
import { verifyingStream, type ProgressCallback } from "./digest.ts";
import { registryOrigin } from "./endpoint.ts";
import { describeOperation, digestMismatch, protocolError, sizeMismatch, statusError, type Operation } from "./errors.ts";
import { formatPlatform, hostPlatform, selectManifest, type PlatformSpec } from "./platform.ts";
import { rangeStartsAt, resumableBody } from "./resume.ts";
import { retryPolicy, type RetryPolicy } from "./retry.ts";
import { Transport } from "./transport.ts";
import { pullScope, pushScope, uploadBlob } from "./upload.ts";

export type { Credentials } from "./auth.ts";
export type { Progress, ProgressCallback } from "./digest.ts";
export type { RetryPolicy } from "./retry.ts";
export { isLoopbackRegistry, registryOrigin } from "./endpoint.ts";
export type { PlatformSpec } from "./platform.ts";

export interface RegistryClientOptions {
  /** The registry as references name it: "docker.io", "ghcr.io", "localhost:5000". */
  readonly registry: string;
  /**
   * Speak plain HTTP. Defaults to true only for loopback registries (localhost, 127.0.0.0/8, ::1),
   * which is docker's rule: traffic that never leaves the machine needs no TLS.
   */
  readonly insecure?: boolean | undefined;
  readonly credentials?: Credentials | undefined;
  /** At most 4 tries; tests shorten the delays. */
  readonly retry?: Partial<RetryPolicy> | undefined;
  readonly userAgent?: string | undefined;
}

export interface PingResult {
  /** The Docker-Distribution-API-Version header ("registry/2.0"), when sent. */
  readonly apiVersion: string | undefined;
  /** What the registry asks for before anything else: nothing, Basic credentials, or Bearer tokens. */
  readonly auth: "none" | "basic" | "bearer";
}

export interface ManifestHead {
  readonly digest: string | undefined;
  readonly mediaType: string | undefined;
  readonly size: number | undefined;
}

export interface ResolvedImage {
  /** The platform image's manifest. */
  readonly manifest: ParsedImageManifest;
  /** The index it was chosen from, when the reference named a multi-platform image. */
  readonly index: ParsedImageIndex | undefined;
  /** The chosen entry's platform, when there was an index. */
  readonly platform: Platform | undefined;
}

export interface BlobDownload {
  /** The declared size, or the Content-Length when no size was given. */
  readonly size: number | undefined;
  /** Fails at its end with E_DIGEST_MISMATCH unless the bytes hash to the digest. */
  readonly stream: ReadableStream<Uint8Array>;
}

export interface GetBlobOptions {
  /** The descriptor's size: the stream fails as soon as the body exceeds it. */
  readonly size?: number | undefined;
  readonly onProgress?: ProgressCallback | undefined;
}

export interface PushBlobOptions {
  readonly mountFrom?: string | undefined;
  readonly chunkSize?: number | undefined;
  readonly onProgress?: ProgressCallback | undefined;
}

export type PushBlobResult = "exists" | "mounted" | "uploaded";

/** A generous bound on a page of tags; the spec has no limit, but a client needs one. */
const MAX_TAG_PAGE_BYTES = 16 * 1024 * 1024;
const MAX_TAG_PAGES = 1000;

const TagList = v.looseObject({ name: v.string(), tags: v.nullish(v.array(v.string())) });

const bareType = (value: string | null): string | undefined => value?.split(";")[0]?.trim() || undefined;

function contentLength(res: Response): number | undefined {
  const raw = res.headers.get("content-length");
  const n = raw === null ? Number.NaN : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Read a body, refusing to buffer more than `limit` bytes whatever the server declares. */
async function readLimited(res: Response, limit: number, op: Operation, what: string): Promise<Uint8Array> {
  const tooLarge = (): BoxError =>
    new BoxError("E_INVALID_INPUT", `${describeOperation(op)}: the ${what} is larger than ${limit} bytes, the most box reads`, {
      hint: "the reference may not name an image; check it",
    });
  const declared = contentLength(res);
  if (declared !== undefined && declared > limit) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (res.body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** Re-throw a parse failure with what was being fetched in front of it, keeping its code. */
function inContext(err: unknown, op: Operation): unknown {
  if (!(err instanceof BoxError)) return err;
  return new BoxError(err.code, describeOperation(op), { cause: err, hint: err.hint });
}

export class RegistryClient {
  readonly registry: string;
  private readonly transport: Transport;

  constructor(options: RegistryClientOptions) {
    if (!isValidRegistry(options.registry)) {
      throw new BoxError("E_INVALID_INPUT", `invalid registry "${options.registry}": expected host[:port]`, {
        hint: "name the registry without a scheme or path, e.g. ghcr.io or localhost:5000",
      });
    }
    this.registry = options.registry;
    this.transport = new Transport({
      registry: options.registry,
      origin: registryOrigin(options.registry, options.insecure),
      credentials: options.credentials,
      retry: retryPolicy(options.retry),
      userAgent: options.userAgent ?? "box",
    });
  }

  /** GET /v2/ without credentials: is this a registry, and what does it want for auth? */
  async ping(): Promise<PingResult> {
    const op = this.op("ping", "/v2/");
    const res = await this.transport.send({ method: "GET", url: this.transport.url("/v2/"), scopes: [], authenticate: false }, op);
    const apiVersion = res.headers.get("docker-distribution-api-version") ?? undefined;
    if (res.status === 200) {
      await res.body?.cancel();
      return { apiVersion, auth: "none" };
    }
    if (res.status === 401) {
      const challenge = (res.headers.get("www-authenticate") ?? "").trim().toLowerCase();
      await res.body?.cancel();
      if (challenge.startsWith("bearer")) return { apiVersion, auth: "bearer" };
      if (challenge.startsWith("basic")) return { apiVersion, auth: "basic" };
      throw protocolError(op, "HTTP 401 without a Basic or Bearer challenge");
    }
    throw await statusError(res, op);
  }

  /** Check the credentials by authenticating against /v2/, as `docker login` does. */
  async login(): Promise<void> {
    const op = this.op("log in to", this.registry);
    const res = await this.transport.send({ method: "GET", url: this.transport.url("/v2/"), scopes: [] }, op);
    if (res.status !== 200) throw await statusError(res, op);
    await res.body?.cancel();
  }

  /** Fetch and validate one manifest or index; by-digest fetches are checked against the digest. */
  async getManifest(repository: string, reference: string): Promise<ParsedManifest> {
    const op = this.op("pull manifest", this.subject(repository, reference));
    this.check(repository, op, { manifest: reference });
    const res = await this.transport.send({
      method: "GET",
      url: this.transport.url(`/v2/${repository}/manifests/${reference}`),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(", ") },
      scopes: [pullScope(repository)],
    }, op);
    if (res.status !== 200) throw await statusError(res, op);
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, op, "manifest");
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(bytes, res.headers.get("content-type") ?? undefined);
    } catch (err) {
      throw inContext(err, op);
    }
    // A tag can move, so the registry's own digest header is the only claim to check it against.
    const expected = isValidDigest(reference) ? reference : res.headers.get("docker-content-digest");
    if (expected !== null && isValidDigest(expected) && expected !== parsed.digest) {
      throw digestMismatch(describeOperation(op), expected, parsed.digest);
    }
    return parsed;
  }

  /** HEAD a manifest: does the tag exist, and which digest does it point at? Undefined on 404. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    const op = this.op("check manifest", this.subject(repository, reference));
    this.check(repository, op, { manifest: reference });
    const res = await this.transport.send({
      method: "HEAD",
      url: this.transport.url(`/v2/${repository}/manifests/${reference}`),
      headers: { accept: MANIFEST_MEDIA_TYPES.join(", ") },
      scopes: [pullScope(repository)],
    }, op);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await statusError(res, op);
    const digest = res.headers.get("docker-content-digest");
    return {
      digest: digest !== null && isValidDigest(digest) ? digest : undefined,
      mediaType: bareType(res.headers.get("content-type")),
      size: contentLength(res),
    };
  }

  /**
   * The image manifest for one platform: the reference's manifest itself, or the entry an index
   * offers for `platform` (this machine's by default).
   */
  async getImageManifest(repository: string, reference: string, platform: PlatformSpec = hostPlatform()): Promise<ResolvedImage> {
    const top = await this.getManifest(repository, reference);
    if (top.kind === "manifest") return { manifest: top, index: undefined, platform: undefined };
    const subject = this.subject(repository, reference);
    const entry = selectManifest(top.index.manifests, platform, subject);
    const child = await this.getManifest(repository, entry.digest);
    const op = this.op(`pull manifest for ${formatPlatform(platform)} of`, subject);
    if (child.size !== entry.size) throw sizeMismatch(describeOperation(op), entry.size, String(child.size));
    if (child.kind !== "manifest") {
      throw new BoxError("E_UNSUPPORTED", `${describeOperation(op)}: the index entry ${entry.digest} is itself an index`, {
        hint: "nested indexes are not supported; reference the inner index by digest",
      });
    }
    return { manifest: child, index: top, platform: entry.platform };
  }

  /** Push a manifest under a tag or its digest; returns its digest. The bytes are sent verbatim. */
  async putManifest(repository: string, reference: string, bytes: Uint8Array, mediaType?: string): Promise<string> {
    const op = this.op("push manifest", this.subject(repository, reference));
    this.check(repository, op, { manifest: reference });
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(bytes, mediaType);
    } catch (err) {
      throw inContext(err, op);
    }
    if (isValidDigest(reference) && reference !== parsed.digest) throw digestMismatch(describeOperation(op), reference, parsed.digest);
    const res = await this.transport.send({
      method: "PUT",
      url: this.transport.url(`/v2/${repository}/manifests/${reference}`),
      headers: { "content-type": parsed.mediaType },
      body: bytes,
      scopes: [pushScope(repository)],
    }, op);
    if (res.status !== 201) throw await statusError(res, op);
    await res.body?.cancel();
    const stored = res.headers.get("docker-content-digest");
    if (stored !== null && isValidDigest(stored) && stored !== parsed.digest) {
      throw digestMismatch(describeOperation(op), parsed.digest, stored);
    }
    return parsed.digest;
  }

  /** HEAD a blob: its size if the repository has it, undefined on 404. */
  async headBlob(repository: string, digest: string): Promise<{ size: number | undefined } | undefined> {
    const op = this.op("check blob", `${this.registry}/${repository}@${digest}`);
    this.check(repository, op, { blob: digest });
    const res = await this.transport.send({
      method: "HEAD",
      url: this.transport.url(`/v2/${repository}/blobs/${digest}`),
      scopes: [pullScope(repository)],
    }, op);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await statusError(res, op);
    return { size: contentLength(res) };
  }

  /** Download a blob as a stream that verifies its digest (and size, when given) as it is read. */
  async getBlob(repository: string, digest: string, options: GetBlobOptions = {}): Promise<BlobDownload> {
    const op = this.op("pull blob", `${this.registry}/${repository}@${digest}`);
    this.check(repository, op, { blob: digest });
    const res = await this.transport.send({
      method: "GET",
      url: this.transport.url(`/v2/${repository}/blobs/${digest}`),
      // Layers are usually gzip already; a transparently decoded body would not match its digest.
      headers: { "accept-encoding": "identity" },
      decompress: false,
      scopes: [pullScope(repository)],
    }, op);
    if (res.status !== 200) throw await statusError(res, op);
    const declared = contentLength(res);
    if (options.size !== undefined && declared !== undefined && declared !== options.size) {
      await res.body?.cancel();
      throw sizeMismatch(describeOperation(op), options.size, `a Content-Length of ${declared}`);
    }
    // An empty blob may arrive without a body; it still goes through the check (the empty digest).
    const body = res.body === null ? new Blob([]).stream() : resumableBody(res.body, (offset) => this.blobRange(repository, digest, offset, op));
    // Without a descriptor size the Content-Length is the bound: bodies are not decompressed, so
    // it counts exactly the bytes the digest covers.
    const size = options.size ?? declared;
    const stream = body.pipeThrough(verifyingStream(digest, { size, what: describeOperation(op), onProgress: options.onProgress }));
    return { size, stream };
  }

  /**
   * The rest of a blob from `offset`, for resuming a broken download; undefined when the registry
   * does not serve ranges. Not verified: only the caller, who has the first bytes, can hash the whole.
   */
  async getBlobRange(repository: string, digest: string, offset: number): Promise<ReadableStream<Uint8Array> | undefined> {
    const op = this.op("pull blob", `${this.registry}/${repository}@${digest}`);
    this.check(repository, op, { blob: digest });
    return this.blobRange(repository, digest, offset, op);
  }

  private async blobRange(repository: string, digest: string, offset: number, op: Operation): Promise<ReadableStream<Uint8Array> | undefined> {
    const res = await this.transport.send({
      method: "GET",
      url: this.transport.url(`/v2/${repository}/blobs/${digest}`),
      headers: { "accept-encoding": "identity", range: `bytes=${offset}-` },
      decompress: false,
      scopes: [pullScope(repository)],
    }, op);
    if (res.status !== 206 || res.body === null || !rangeStartsAt(res.headers.get("content-range"), offset)) {
      await res.body?.cancel();
      return undefined;
    }
    return res.body;
  }

  /**
   * Make the repository hold this blob: nothing to do if it already does (HEAD), a cross-repository
   * mount when `mountFrom` holds it, an upload otherwise.
   */
  async pushBlob(repository: string, digest: string, data: Uint8Array | Blob, options: PushBlobOptions = {}): Promise<PushBlobResult> {
    const op = this.op("push blob", `${this.registry}/${repository}@${digest}`);
    this.check(repository, op, { blob: digest });
    if (options.mountFrom !== undefined && !isValidRepository(options.mountFrom)) {
      throw new BoxError("E_INVALID_INPUT", `${describeOperation(op)}: invalid repository "${options.mountFrom}" to mount from`);
    }
    if ((await this.headBlob(repository, digest)) !== undefined) return "exists";
    return uploadBlob(this.transport, { repository, digest, data, ...options }, op);
  }

  /** Every tag of a repository, following the registry's Link pagination. */
  async listTags(repository: string, pageSize?: number): Promise<string[]> {
    const op = this.op("list tags of", `${this.registry}/${repository}`);
    this.check(repository, op);
    const tags: string[] = [];
    let url: URL | undefined = this.transport.url(`/v2/${repository}/tags/list`);
    if (pageSize !== undefined) url.searchParams.set("n", String(pageSize));
    for (let page = 0; url !== undefined; page++) {
      if (page >= MAX_TAG_PAGES) throw protocolError(op, `more than ${MAX_TAG_PAGES} pages of tags`);
      const res = await this.transport.send({ method: "GET", url, scopes: [pullScope(repository)] }, op);
      if (res.status !== 200) throw await statusError(res, op);
      const bytes = await readLimited(res, MAX_TAG_PAGE_BYTES, op, "tag list");
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw protocolError(op, "the tag list is not JSON");
      }
      const parsed = v.safeParse(TagList, json);
      if (!parsed.success) throw protocolError(op, `invalid tag list: ${v.summarize(parsed.issues)}`);
      tags.push(...(parsed.output.tags ?? []));
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "")?.[1];
      url = next === undefined ? undefined : new URL(next, url);
    }
    return tags;
  }

  private op(action: string, subject: string): Operation {
    return { action, subject, registry: this.registry };
  }

  private subject(repository: string, reference: string): string {
    return `${this.registry}/${repository}${isValidDigest(reference) ? "@" : ":"}${reference}`;
  }

  /**
   * Names go into URL paths: anything outside the reference grammar is refused before a request.
   * Manifests are addressed by tag or digest, blobs only by digest.
   */
  private check(repository: string, op: Operation, reference?: { manifest: string } | { blob: string }): void {
    if (!isValidRepository(repository)) {
      throw new BoxError("E_INVALID_INPUT", `${describeOperation(op)}: invalid repository name "${repository}"`, {
        hint: "repository names are lower-case path components such as library/alpine",
      });
    }
    if (reference === undefined) return;
    if ("blob" in reference) {
      if (!isValidDigest(reference.blob)) {
        throw new BoxError("E_INVALID_INPUT", `${describeOperation(op)}: "${reference.blob}" is not a sha256 digest`);
      }
    } else if (!isValidTag(reference.manifest) && !isValidDigest(reference.manifest)) {
      throw new BoxError("E_INVALID_INPUT", `${describeOperation(op)}: "${reference.manifest}" is neither a tag nor a sha256 digest`);
    }
  }
}
