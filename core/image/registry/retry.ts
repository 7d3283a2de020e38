/**
 * When and how long to wait before trying a registry request again. Retries are bounded (a pull
 * must fail in seconds, not hang) and only cover what is transient: throttling (429), server errors
 * (5xx) and a connection dropped mid-exchange.
 */

export interface RetryPolicy {
  /** Total attempts, the first included. */
  readonly tries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { tries: 4, baseDelayMs: 250, maxDelayMs: 4000 };
const MAX_TRIES = 4;

/** Fill in and clamp a caller's partial policy; more than 4 tries only delays the inevitable error. */
export function retryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const tries = Math.min(MAX_TRIES, Math.max(1, Math.floor(partial.tries ?? DEFAULT_RETRY.tries)));
  const baseDelayMs = Math.max(0, partial.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs);
  const maxDelayMs = Math.max(baseDelayMs, partial.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs);
  return { tries, baseDelayMs, maxDelayMs };
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

/**
 * Connection failures worth another try. A refused connection is not one: nothing listens there,
 * and waiting will not change that, so the user hears about it at once.
 */
const TRANSIENT_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED", "ConnectionClosed"]);

export function isTransientNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && TRANSIENT_CODES.has(code);
}

/**
 * Exponential backoff: base, 2×base, 4×base… capped. A Retry-After in seconds (what registries
 * send with 429) replaces the computed delay, under the same cap.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfter?: string | null): number {
  const seconds = retryAfter === undefined || retryAfter === null ? Number.NaN : Number(retryAfter);
  const wanted = Number.isFinite(seconds) && seconds >= 0
    ? seconds * 1000
    : policy.baseDelayMs * 2 ** (attempt - 1);
  return Math.min(policy.maxDelayMs, wanted);
}
