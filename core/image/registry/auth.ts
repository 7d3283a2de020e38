/**
 * Registry authentication, driven by the registry's 401 answers as docker does it: no scheme is
 * assumed up front; a `WWW-Authenticate: Basic …` challenge means credentials on every request, a
 * `Bearer realm=…,service=…,scope=…` challenge means asking the realm for a token scoped to the
 * repositories at hand (the distribution "token authentication" spec), anonymously or with the
 * user's credentials.
 */
import * as v from "valibot";
import { BoxError } from "../../errors.ts";
import { describeOperation, protocolError, statusError, type Operation } from "./errors.ts";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface Challenge {
  /** Lower-cased: "basic", "bearer". */
  readonly scheme: string;
  /** Parameter names lower-cased, values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parse a WWW-Authenticate header (RFC 7235). Scopes hold commas inside quotes
 * ("repository:a:pull,push"), so splitting on commas is not enough.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const skip = (chars: RegExp): void => {
    while (i < header.length && chars.test(header[i] ?? "")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < header.length && TOKEN_CHAR.test(header[i] ?? "")) i++;
    return header.slice(start, i);
  };
  // RFC 7235 wants URLs quoted; some servers do not quote them, so an unquoted value runs to the
  // next comma or space rather than stopping at the first non-token character.
  const readBare = (): string => {
    const start = i;
    while (i < header.length && !/[\s,]/.test(header[i] ?? "")) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    let out = "";
    i++; // opening quote
    while (i < header.length && header[i] !== '"') {
      if (header[i] === "\\") i++;
      out += header[i] ?? "";
      i++;
    }
    i++; // closing quote
    return out;
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const token = readToken();
    if (token === "") {
      i++; // a stray character: step over it rather than loop forever
      continue;
    }
    skip(/[ \t]/);
    if (header[i] === "=") {
      i++;
      skip(/[ \t]/);
      const value = header[i] === '"' ? readQuoted() : readBare();
      // A parameter before any scheme belongs to nothing and is dropped.
      const last = challenges.at(-1);
      if (last !== undefined) last.params[token.toLowerCase()] = value;
    } else {
      challenges.push({ scheme: token.toLowerCase(), params: {} });
    }
  }
  return challenges;
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
}

/** The token server's answer; `access_token` is the OAuth2 spelling some registries use. */
const TokenResponse = v.pipe(
  v.looseObject({
    token: v.optional(v.string()),
    access_token: v.optional(v.string()),
    expires_in: v.optional(v.pipe(v.number(), v.minValue(0))),
  }),
  v.check((t) => (t.token ?? t.access_token ?? "") !== "", "token response has neither token nor access_token"),
);

/** The spec has clients assume 60 seconds when the token server does not say. */
const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Refresh a little early so a token does not expire between being chosen and being checked. */
const EXPIRY_MARGIN_MS = 5_000;

/** Sends the token request; the transport provides it, with retries and redirects but no registry auth. */
export type TokenFetcher = (url: URL, headers: Record<string, string>, op: Operation) => Promise<Response>;

export interface AuthenticatorOptions {
  readonly registry: string;
  readonly credentials?: Credentials | undefined;
  readonly fetchToken: TokenFetcher;
  readonly now?: () => number;
}

export class Authenticator {
  private scheme: "basic" | "bearer" | undefined;
  private readonly tokens = new Map<string, { header: string; expiresAt: number }>();
  private readonly now: () => number;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The Authorization value to send up front for these scopes, once a challenge has taught one. */
  authorization(scopes: readonly string[]): string | undefined {
    if (this.scheme === "basic" && this.options.credentials !== undefined) {
      return basicAuthorization(this.options.credentials);
    }
    const cached = this.tokens.get(scopeKey(scopes));
    return cached !== undefined && cached.expiresAt > this.now() ? cached.header : undefined;
  }

  /**
   * Answer a 401: the Authorization value to retry with, or undefined when there is nothing to try
   * (Basic auth without credentials), in which case the caller reports the 401.
   */
  async answer(header: string | null, scopes: readonly string[], op: Operation): Promise<string | undefined> {
    const challenges = parseChallenges(header ?? "");
    const bearer = challenges.find((c) => c.scheme === "bearer");
    if (bearer !== undefined) {
      this.scheme = "bearer";
      return this.fetchToken(bearer, scopes, op);
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      this.scheme = "basic";
      return this.options.credentials === undefined ? undefined : basicAuthorization(this.options.credentials);
    }
    throw protocolError(op, `HTTP 401 without a Basic or Bearer WWW-Authenticate challenge (got "${header ?? ""}")`);
  }

  private async fetchToken(challenge: Challenge, scopes: readonly string[], op: Operation): Promise<string> {
    const realm = challenge.params.realm;
    let url: URL;
    try {
      url = new URL(realm ?? "");
    } catch {
      throw protocolError(op, `Bearer challenge has no usable realm URL (realm="${realm ?? ""}")`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw protocolError(op, `Bearer realm ${url.href} is not an http(s) URL`);
    }
    // The registry may ask for more than box asked for (its own spelling of a scope): ask for both.
    const wanted = new Set(scopes);
    for (const scope of (challenge.params.scope ?? "").split(" ")) if (scope !== "") wanted.add(scope);
    if (challenge.params.service !== undefined) url.searchParams.set("service", challenge.params.service);
    for (const scope of wanted) url.searchParams.append("scope", scope);

    const headers: Record<string, string> = {};
    const credentials = this.options.credentials;
    if (credentials !== undefined) {
      headers.authorization = basicAuthorization(credentials);
      url.searchParams.set("account", credentials.username);
    }
    const tokenOp: Operation = { ...op, action: `${op.action}: get a token from ${url.origin} for` };
    const res = await this.options.fetchToken(url, headers, tokenOp);
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new BoxError(
        "E_PERMISSION",
        `${describeOperation(op)}: the token server ${url.origin} refused ${credentials === undefined ? "anonymous access" : `the credentials of "${credentials.username}"`} (HTTP ${res.status})`,
        { hint: credentials === undefined ? `log in to ${op.registry} first` : `check the username and password for ${op.registry}` },
      );
    }
    if (res.status !== 200) throw await statusError(res, tokenOp);
    let body: unknown;
    try {
      body = await res.json();
    } catch (cause) {
      throw new BoxError("E_REGISTRY", `${describeOperation(tokenOp)}: the token response is not JSON`, { cause });
    }
    const parsed = v.safeParse(TokenResponse, body);
    if (!parsed.success) throw protocolError(tokenOp, `invalid token response: ${v.summarize(parsed.issues)}`);
    const token = parsed.output.token || parsed.output.access_token || "";
    const lifetime = Math.max(DEFAULT_TOKEN_LIFETIME_S, parsed.output.expires_in ?? DEFAULT_TOKEN_LIFETIME_S);
    const authorization = `Bearer ${token}`;
    this.tokens.set(scopeKey(scopes), { header: authorization, expiresAt: this.now() + lifetime * 1000 - EXPIRY_MARGIN_MS });
    return authorization;
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(" ");
}
