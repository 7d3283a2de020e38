/**
 * Registry failures as BoxErrors. The HTTP status decides the code, never the body: registries
 * disagree on error bodies (Docker Hub answers a missing private repository with 401
 * UNAUTHORIZED, others with 404 NAME_UNKNOWN), but all of them get the status class right, which
 * is the lesson of containers/image's docker/errors.go. The body's OCI error codes only enrich the
 * message.
 */
import * as v from "valibot";
import { BoxError } from "../../errors.ts";

/** What was being done to what, for messages: "pull manifest", "127.0.0.1:5000/app:v1". */
export interface Operation {
  readonly action: string;
  readonly subject: string;
  /** The registry as the user names it, for hints ("log in to ghcr.io"). */
  readonly registry: string;
}

/** The OCI distribution-spec error body: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}. */
const ErrorBody = v.looseObject({
  errors: v.array(v.looseObject({ code: v.string(), message: v.optional(v.string()) })),
});

/** Error bodies are for humans; a registry sending megabytes of HTML gets cut short. */
const MAX_ERROR_BODY = 64 * 1024;

async function readErrorDetails(res: Response): Promise<string> {
  if (res.body === null) return "";
  let text: string;
  try {
    const bytes = new Uint8Array(await res.arrayBuffer());
    text = new TextDecoder().decode(bytes.subarray(0, MAX_ERROR_BODY));
  } catch {
    return "";
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return "";
  }
  const parsed = v.safeParse(ErrorBody, json);
  if (!parsed.success || parsed.output.errors.length === 0) return "";
  return parsed.output.errors
    .slice(0, 3)
    .map((e) => (e.message === undefined || e.message === "" ? e.code : `${e.code}: ${e.message}`))
    .join("; ");
}

function describeStatus(status: number): string {
  switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 403: return "denied";
    case 404: return "not found";
    case 405: return "operation not supported by this registry";
    case 416: return "upload range rejected";
    case 429: return "too many requests";
    default: return status >= 500 ? "registry server error" : "unexpected response";
  }
}

function hintFor(status: number, op: Operation): string {
  switch (status) {
    case 401:
      return `the repository may not exist, or ${op.registry} needs credentials: log in and try again`;
    case 403:
      return `your credentials for ${op.registry} do not allow this; check the repository name and your access rights`;
    case 404:
      return `check the name and tag of ${op.subject}; list the repository's tags to see what exists`;
    case 429:
      return `${op.registry} is rate limiting this client; wait a while, or log in for a higher limit`;
    default:
      return status >= 500
        ? `${op.registry} failed while handling the request; try again later`
        : `${op.registry} refused the request; check the name and that the registry speaks the OCI distribution API`;
  }
}

function codeFor(status: number): "E_PERMISSION" | "E_NOT_FOUND" | "E_REGISTRY" {
  if (status === 401 || status === 403) return "E_PERMISSION";
  if (status === 404) return "E_NOT_FOUND";
  return "E_REGISTRY";
}

/** Turn an unexpected response into a typed error, consuming its body. */
export async function statusError(res: Response, op: Operation): Promise<BoxError> {
  const details = await readErrorDetails(res);
  const message = `${describeOperation(op)}: ${describeStatus(res.status)} (HTTP ${res.status})${details === "" ? "" : `: ${details}`}`;
  return new BoxError(codeFor(res.status), message, { hint: hintFor(res.status, op) });
}

/** A connection that failed on every try: the registry is down, unreachable, or not speaking TLS. */
export function connectionError(op: Operation, origin: string, cause: unknown): BoxError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new BoxError("E_REGISTRY", `${describeOperation(op)}: cannot reach ${origin}: ${reason}`, {
    cause,
    hint: `check that ${op.registry} is running and reachable; a registry that serves plain HTTP must be configured as insecure`,
  });
}

/** A response that is well-formed HTTP but breaks the protocol (a missing Location, a bad header). */
export function protocolError(op: Operation, what: string): BoxError {
  return new BoxError("E_REGISTRY", `${describeOperation(op)}: ${what}`, {
    hint: `${op.registry} does not follow the OCI distribution spec here; report it to the registry's operator`,
  });
}

/** "pull manifest 127.0.0.1:5000/app:v1": how every message in this layer begins. */
export function describeOperation(op: Operation): string {
  return `${op.action} ${op.subject}`;
}

/** The check every downloaded byte goes through; `what` is describeOperation() of the transfer. */
export function digestMismatch(what: string, expected: string, actual: string): BoxError {
  return new BoxError("E_DIGEST_MISMATCH", `${what}: digest mismatch: expected ${expected}, got ${actual}`, {
    hint: "the content was corrupted in transit or the registry served the wrong data; nothing was kept, try again",
  });
}

export function sizeMismatch(what: string, expected: number, actual: string): BoxError {
  return new BoxError("E_DIGEST_MISMATCH", `${what}: size mismatch: expected ${expected} bytes, got ${actual}`, {
    hint: "the transfer was cut short or the registry served the wrong data; nothing was kept, try again",
  });
}
