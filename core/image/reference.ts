/**
 * Image references ("alpine:3.20", "ghcr.io/o/r@sha256:…"), parsed by the grammar of docker's
 * distribution/reference package so that box accepts and rejects exactly what `docker pull` does:
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path          (at most 255 characters)
 *   domain     := host [ ":" port ]            (host: DNS name, IPv4, or [IPv6])
 *   path       := component ( "/" component )*
 *   component  := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 *
 * A reference is a value: parsing happens once here, and the result is frozen (containers/image's
 * "ImageReference should preferably be immutable after creation").
 */
import { BoxError } from "../errors.ts";

export const DEFAULT_REGISTRY = "docker.io";
export const DEFAULT_TAG = "latest";
/** Docker Hub's old name; docker rewrites it to docker.io so both spellings name one image. */
const LEGACY_DEFAULT_REGISTRY = "index.docker.io";
/** Single-component names on Docker Hub live under library/ (the "official images"). */
const OFFICIAL_PREFIX = "library/";
const NAME_MAX_LENGTH = 255;

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_RE = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
/** A bare 64-hex string is an image ID; docker refuses it as a name so the two never collide. */
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isValidDigest(digest: string): boolean {
  return DIGEST_RE.test(digest);
}

/** A registry's name as written in references: host[:port], no scheme and no path. */
export function isValidRegistry(registry: string): boolean {
  return DOMAIN_RE.test(registry);
}

/** A repository path inside a registry ("library/alpine"); also guards URL paths built from it. */
export function isValidRepository(repository: string): boolean {
  return repository.length > 0
    && repository.length <= NAME_MAX_LENGTH
    && repository.split("/").every((component) => PATH_COMPONENT_RE.test(component));
}

export interface ReferenceFields {
  registry: string;
  repository: string;
  tag?: string | undefined;
  digest?: string | undefined;
  /** The name as the user wrote it when it named no registry ("alpine"); see candidates(). */
  shortName?: string | undefined;
}

export class ImageReference {
  /** "docker.io", "ghcr.io", "localhost:5000", "[::1]:5000". */
  readonly registry: string;
  /** The path inside the registry, "library/" included for official Docker Hub images. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
  /**
   * Set when the reference named no registry. docker fills in docker.io; box lets the caller
   * resolve it through its search registries instead, and needs the name as written to do so
   * ("alpine" must become "quay.io/alpine", not "quay.io/library/alpine").
   */
  readonly shortName: string | undefined;

  constructor(fields: ReferenceFields) {
    this.registry = fields.registry;
    this.repository = fields.repository;
    this.tag = fields.tag;
    this.digest = fields.digest;
    this.shortName = fields.shortName;
    Object.freeze(this);
  }

  /** "registry/repository", the name without tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** What goes after /manifests/ in a registry URL: the digest wins, as it does for docker. */
  get manifestReference(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** The fully qualified form: "docker.io/library/alpine:3.20". */
  toString(): string {
    return `${this.name}${suffix(this.tag, this.digest)}`;
  }

  /** The form people type and docker prints: "alpine:3.20", "ghcr.io/o/r:tag". */
  familiar(): string {
    let name = this.name;
    if (this.registry === DEFAULT_REGISTRY) {
      name = this.repository;
      const rest = name.slice(OFFICIAL_PREFIX.length);
      if (name.startsWith(OFFICIAL_PREFIX) && !rest.includes("/")) name = rest;
    }
    return `${name}${suffix(this.tag, this.digest)}`;
  }
}

function suffix(tag: string | undefined, digest: string | undefined): string {
  return `${tag === undefined ? "" : `:${tag}`}${digest === undefined ? "" : `@${digest}`}`;
}

function invalid(input: string, why: string, hint?: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `invalid image reference "${input}": ${why}`, {
    hint: hint ?? "write it as [registry/]name[:tag][@sha256:<64 hex>], e.g. alpine:3.20 or ghcr.io/owner/repo:v1",
  });
}

/**
 * Parse a reference the way `docker pull` does. With neither tag nor digest the tag is "latest";
 * with a digest alone the tag stays unset (the digest already pins the content).
 */
export function parseReference(input: string): ImageReference {
  if (input.length === 0) throw invalid(input, "it is empty");
  if (/\s/.test(input)) throw invalid(input, "it contains whitespace");
  if (IMAGE_ID_RE.test(input)) {
    throw invalid(input, "a 64-character hexadecimal string is an image ID, not a repository name");
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigest(input, digest);
  }

  // A colon after the last slash starts the tag; one before it belongs to the registry's port
  // ("localhost:5000/app" has no tag).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    checkTag(input, tag);
  }

  const name = rest;
  if (name.length === 0) throw invalid(input, "the repository name is empty");
  if (name.length > NAME_MAX_LENGTH) {
    throw invalid(input, `the name is ${name.length} characters long; the limit is ${NAME_MAX_LENGTH}`);
  }

  const { domain, path } = splitDomain(name);
  if (domain !== undefined && !DOMAIN_RE.test(domain)) {
    throw invalid(input, `"${domain}" is not a valid registry host[:port]`);
  }
  checkPath(input, path);

  const registry = domain === undefined || domain === LEGACY_DEFAULT_REGISTRY ? DEFAULT_REGISTRY : domain;
  const repository = registry === DEFAULT_REGISTRY && !path.includes("/") ? OFFICIAL_PREFIX + path : path;
  return new ImageReference({
    registry,
    repository,
    tag: tag === undefined && digest === undefined ? DEFAULT_TAG : tag,
    digest,
    shortName: domain === undefined ? path : undefined,
  });
}

/**
 * docker's splitDockerDomain: the first component names a registry only if it looks like a host
 * (has a dot or a port, or is "localhost") or has upper-case letters, which a repository path
 * never may. Everything else ("library/alpine", "myuser/app") is a path on the default registry.
 */
function splitDomain(name: string): { domain: string | undefined; path: string } {
  const slash = name.indexOf("/");
  if (slash === -1) return { domain: undefined, path: name };
  const first = name.slice(0, slash);
  const looksLikeHost = /[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first;
  return looksLikeHost ? { domain: first, path: name.slice(slash + 1) } : { domain: undefined, path: name };
}

function checkDigest(input: string, digest: string): void {
  if (DIGEST_RE.test(digest)) return;
  const colon = digest.indexOf(":");
  if (colon === -1) throw invalid(input, `digest "${digest}" must be algorithm:hex, e.g. sha256:<64 hex>`);
  const algorithm = digest.slice(0, colon);
  if (algorithm !== "sha256") throw invalid(input, `digest algorithm "${algorithm}" is not supported; only sha256 is`);
  throw invalid(input, `digest "${digest}" must be "sha256:" followed by 64 lower-case hex characters`);
}

function checkTag(input: string, tag: string): void {
  if (tag.length === 0) throw invalid(input, "the tag after ':' is empty");
  if (tag.length > 128) throw invalid(input, `the tag is ${tag.length} characters long; the limit is 128`);
  if (!TAG_RE.test(tag)) {
    throw invalid(input, `tag "${tag}" may only contain letters, digits, '_', '.' and '-', and must not start with '.' or '-'`);
  }
}

function checkPath(input: string, path: string): void {
  if (path.length === 0) throw invalid(input, "the repository name after the registry is empty");
  if (path.toLowerCase() !== path) {
    throw invalid(input, `repository name "${path}" must be lower-case`, `write the repository as "${path.toLowerCase()}"`);
  }
  for (const component of path.split("/")) {
    if (component.length === 0) throw invalid(input, `repository name "${path}" has an empty path component`);
    if (!PATH_COMPONENT_RE.test(component)) {
      throw invalid(
        input,
        `path component "${component}" must be lower-case letters and digits, joined by '.', '_', '__' or '-', and must start and end with a letter or digit`,
      );
    }
  }
}

/**
 * The fully qualified references to try, in order, for what the user wrote. A reference that names
 * its registry is tried as it is; a short name is tried on each search registry (podman's
 * unqualified-search-registries), where docker.io implies the library/ prefix for one-component
 * names exactly as `docker pull alpine` does.
 */
export function candidates(ref: ImageReference, searchRegistries: readonly string[]): ImageReference[] {
  if (ref.shortName === undefined) return [ref];
  if (searchRegistries.length === 0) {
    throw new BoxError("E_INVALID_INPUT", `cannot resolve short image name "${ref.familiar()}": no search registries are configured`, {
      hint: `write the registry into the name, e.g. docker.io/${ref.repository}, or configure search registries`,
    });
  }
  const seen = new Set<string>();
  const out: ImageReference[] = [];
  for (const written of searchRegistries) {
    if (!DOMAIN_RE.test(written)) {
      throw new BoxError("E_INVALID_INPUT", `search registry "${written}" is not a valid registry host[:port]`, {
        hint: "list registries by host name only, e.g. docker.io or quay.io, without https:// or a path",
      });
    }
    const registry = written === LEGACY_DEFAULT_REGISTRY ? DEFAULT_REGISTRY : written;
    const repository = registry === DEFAULT_REGISTRY && !ref.shortName.includes("/")
      ? OFFICIAL_PREFIX + ref.shortName
      : ref.shortName;
    const candidate = new ImageReference({ registry, repository, tag: ref.tag, digest: ref.digest });
    if (seen.has(candidate.toString())) continue;
    seen.add(candidate.toString());
    out.push(candidate);
  }
  return out;
}
