/**
 * Finding a stored image from what a user typed, in docker's order: a full image ID, a name
 * (with the search registries and podman's localhost/ for short names), a name@digest, and
 * last a unique prefix of an image ID ("3f2a", as `box images` prints them).
 */
import { BoxError } from "../../errors.ts";
import { candidates, ImageReference, parseReference } from "../reference.ts";
import type { ImageIndex, ImageRecord } from "./images.ts";

/** The registry podman files local-only images under ("localhost/base:latest"). */
export const LOCAL_REGISTRY = "localhost";

/** The fully qualified names a reference may be stored under, most specific first. */
export function storedNames(ref: ImageReference, search: readonly string[]): string[] {
  const names = [ref.toString()];
  if (ref.shortName !== undefined) {
    names.push(new ImageReference({ registry: LOCAL_REGISTRY, repository: ref.shortName, tag: ref.tag, digest: ref.digest }).toString());
    if (search.length > 0) for (const c of candidates(ref, search)) names.push(c.toString());
  }
  return [...new Set(names)];
}

function parseOrUndefined(query: string): ImageReference | undefined {
  try {
    return parseReference(query);
  } catch {
    return undefined;
  }
}

export function findImage(index: ImageIndex, query: string, search: readonly string[] = []): ImageRecord | undefined {
  if (/^sha256:[a-f0-9]{64}$/.test(query)) return index.images.find((i) => i.id === query);
  const ref = parseOrUndefined(query);
  if (ref !== undefined) {
    const found = ref.digest === undefined ? byName(index, ref, search) : byDigest(index, ref, search);
    if (found !== undefined) return found;
  }
  const prefix = query.startsWith("sha256:") ? query.slice(7) : query;
  if (!/^[a-f0-9]{1,64}$/.test(prefix)) return undefined;
  const matches = index.images.filter((i) => i.id.startsWith(`sha256:${prefix}`));
  if (matches.length > 1) {
    throw new BoxError("E_INVALID_INPUT", `image ID prefix \`${prefix}\` is ambiguous: it matches ${matches.length} images`, {
      hint: "give more characters of the ID",
    });
  }
  return matches[0];
}

function byName(index: ImageIndex, ref: ImageReference, search: readonly string[]): ImageRecord | undefined {
  for (const name of storedNames(ref, search)) {
    const found = index.images.find((i) => i.names.includes(name));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** name@digest: the digest a registry gave the image (its manifest, or the index it came from). */
function byDigest(index: ImageIndex, ref: ImageReference, search: readonly string[]): ImageRecord | undefined {
  const digest = ref.digest as string;
  const repos = storedNames(new ImageReference({ ...ref, tag: undefined, digest: undefined }), search);
  for (const repo of repos) {
    const found = index.images.find((i) => i.repoDigests.includes(`${repo}@${digest}`) || (i.manifest === digest && i.names.some((n) => n.startsWith(`${repo}:`))));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Repository and tag as `box images` shows them: familiar names, local images without localhost/. */
export function displayName(name: string): { repository: string; tag: string } {
  const ref = parseOrUndefined(name);
  let text = ref === undefined ? name : ref.familiar();
  if (ref !== undefined && ref.registry === LOCAL_REGISTRY) text = text.slice(LOCAL_REGISTRY.length + 1);
  const at = text.indexOf("@");
  if (at >= 0) text = text.slice(0, at);
  const colon = text.lastIndexOf(":");
  if (colon > text.lastIndexOf("/")) return { repository: text.slice(0, colon), tag: text.slice(colon + 1) };
  return { repository: text, tag: "<none>" };
}

/** A repo digest as docker prints it: "alpine@sha256:…", local images without localhost/. */
export function displayDigest(repoDigest: string): string {
  const at = repoDigest.indexOf("@");
  return `${displayName(repoDigest.slice(0, at)).repository}${repoDigest.slice(at)}`;
}

/** "base", "alpine:3.20", "localhost:5000/app:v1": the shortest form that names the image. */
export function shortName(name: string): string {
  const { repository, tag } = displayName(name);
  return tag === "<none>" ? repository : `${repository}:${tag}`;
}
