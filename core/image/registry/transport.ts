/**
 * One HTTP exchange with a registry, in three layers from the outside in:
 *   1. authentication: a 401 is answered through the Authenticator, then the request is sent once more;
 *   2. retries: 429, 5xx and dropped connections are retried with backoff (retry.ts);
 *   3. redirects: followed by hand, because fetch's own redirect handling would carry the
 *      Authorization header to wherever the registry points. Blob downloads are routinely redirected
 *      to a CDN or object store, which must never see the registry credentials.
 * Statuses are returned, not thrown: whether a 404 is an error depends on the caller.
 */
import { Authenticator, type Credentials } from "./auth.ts";
import { connectionError, protocolError, type Operation } from "./errors.ts";
import { backoffDelay, isRetryableStatus, isTransientNetworkError, type RetryPolicy } from "./retry.ts";

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Exchange {
  readonly method: Method;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  /** Only replayable bodies: a retry or an auth round-trip sends the same bytes again. */
  readonly body?: Uint8Array | Blob;
  /** Token scopes the request needs ("repository:library/alpine:pull"). */
  readonly scopes: readonly string[];
  /** False for requests that must not be repeated blindly (a PATCH appends to an upload). */
  readonly retry?: boolean;
  /** False for blobs: their digest covers the bytes as stored, not as decoded. */
  readonly decompress?: boolean;
  /** False to send no credentials and leave a 401 unanswered (a ping that only asks what auth is needed). */
  readonly authenticate?: boolean;
}

export interface TransportOptions {
  /** The registry as written in references ("docker.io"), for messages. */
  readonly registry: string;
  /** Where its API is served ("https://registry-1.docker.io"). */
  readonly origin: string;
  readonly credentials?: Credentials | undefined;
  readonly retry: RetryPolicy;
  readonly userAgent: string;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Go's http client gives up after 10; a registry needs one or two (registry → CDN). */
const MAX_REDIRECTS = 10;

export class Transport {
  readonly origin: URL;
  readonly registry: string;
  private readonly auth: Authenticator;

  constructor(private readonly options: TransportOptions) {
    this.origin = new URL(options.origin);
    this.registry = options.registry;
    this.auth = new Authenticator({
      registry: options.registry,
      credentials: options.credentials,
      // Token requests carry the user's credentials to the realm, so the same origin rule applies:
      // they go to the realm's origin and nowhere it redirects.
      fetchToken: (url, headers, op) => {
        const { authorization, ...rest } = headers;
        return this.withRetries({ method: "GET", url, headers: rest, scopes: [] }, authorization, url.origin, op);
      },
    });
  }

  /** An absolute URL on the registry: url("/v2/library/alpine/tags/list"). */
  url(path: string): URL {
    return new URL(path, this.origin);
  }

  async send(exchange: Exchange, op: Operation): Promise<Response> {
    if (exchange.authenticate === false) return this.withRetries(exchange, undefined, this.origin.origin, op);
    const authorization = this.auth.authorization(exchange.scopes);
    const first = await this.withRetries(exchange, authorization, this.origin.origin, op);
    if (first.status !== 401) return first;
    const answer = await this.auth.answer(first.headers.get("www-authenticate"), exchange.scopes, op);
    if (answer === undefined || answer === authorization) return first;
    await first.body?.cancel();
    return this.withRetries(exchange, answer, this.origin.origin, op);
  }

  private async withRetries(
    exchange: Exchange,
    authorization: string | undefined,
    authorizedOrigin: string,
    op: Operation,
  ): Promise<Response> {
    const policy = this.options.retry;
    const tries = exchange.retry === false ? 1 : policy.tries;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.followRedirects(exchange, authorization, authorizedOrigin, op);
      } catch (err) {
        if (attempt >= tries || !isTransientNetworkError(err)) {
          if (isTransientNetworkError(err) || err instanceof TypeError) throw connectionError(op, exchange.url.origin, err);
          throw err;
        }
        await Bun.sleep(backoffDelay(attempt, policy));
        continue;
      }
      if (attempt >= tries || !isRetryableStatus(res.status)) return res;
      await res.body?.cancel();
      await Bun.sleep(backoffDelay(attempt, policy, res.headers.get("retry-after")));
    }
  }

  private async followRedirects(
    exchange: Exchange,
    authorization: string | undefined,
    authorizedOrigin: string,
    op: Operation,
  ): Promise<Response> {
    let url = exchange.url;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { "user-agent": this.options.userAgent, ...exchange.headers };
      if (authorization !== undefined && url.origin === authorizedOrigin) headers.authorization = authorization;
      const res = await fetch(url, {
        method: exchange.method,
        headers,
        body: exchange.body,
        redirect: "manual",
        decompress: exchange.decompress ?? true,
      });
      const follow = (exchange.method === "GET" || exchange.method === "HEAD") && REDIRECT_STATUSES.has(res.status);
      if (!follow) return res;
      const location = res.headers.get("location");
      await res.body?.cancel();
      if (location === null) throw protocolError(op, `HTTP ${res.status} redirect without a Location header`);
      if (hop + 1 >= MAX_REDIRECTS) throw protocolError(op, `more than ${MAX_REDIRECTS} redirects, last to ${location}`);
      const next = new URL(location, url);
      if (next.protocol !== "https:" && next.protocol !== "http:") {
        throw protocolError(op, `redirect to ${next.protocol} URL ${next.href}, which is not http(s)`);
      }
      url = next;
    }
  }
}
