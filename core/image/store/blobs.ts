/**
 * Content-addressed blobs in the OCI image layout (blobs/sha256/<hex>). A blob is only ever
 * renamed into place after its bytes hashed to its name, so whatever is found there is whole.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../../errors.ts";
import { sha256Digest } from "../../schema/oci.ts";
import { isValidDigest } from "../reference.ts";
import { writeFileAtomic } from "../../state/atomic.ts";
import type { StoreLayout } from "./layout.ts";

export function blobPath(layout: StoreLayout, digest: string): string {
  if (!isValidDigest(digest)) throw new BoxError("E_INVALID_INPUT", `invalid blob digest "${digest}"`);
  return join(layout.blobs, digest.slice("sha256:".length));
}

export function hasBlob(layout: StoreLayout, digest: string): boolean {
  return existsSync(blobPath(layout, digest));
}

export function blobSize(layout: StoreLayout, digest: string): number | undefined {
  try {
    return statSync(blobPath(layout, digest)).size;
  } catch {
    return undefined;
  }
}

/** Store small bytes (a manifest, a config) under their digest; `expected` must match if given. */
export function writeBlob(layout: StoreLayout, bytes: Uint8Array, expected?: string): string {
  const digest = sha256Digest(bytes);
  if (expected !== undefined && expected !== digest) {
    throw new BoxError("E_DIGEST_MISMATCH", `store blob: digest mismatch: expected ${expected}, got ${digest}`);
  }
  const path = blobPath(layout, digest);
  // fsynced: these are the small documents (manifests, configs) a power cut must not corrupt. A
  // temporary file a kill leaves beside it has no digest for a name, so readers never see it
  // and garbage collection removes it.
  if (!existsSync(path)) writeFileAtomic(path, bytes);
  return digest;
}

/** Read a small blob back, checking that it still hashes to its name (a disk can rot). */
export function readBlob(layout: StoreLayout, digest: string): Uint8Array {
  const path = blobPath(layout, digest);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new BoxError("E_NOT_FOUND", `blob ${digest} is missing from the store`, {
      cause,
      hint: "pull the image again to restore it",
    });
  }
  const actual = sha256Digest(bytes);
  if (actual !== digest) {
    throw new BoxError("E_DIGEST_MISMATCH", `store blob ${digest} is corrupt: it hashes to ${actual}`, {
      hint: "remove the image and pull it again",
    });
  }
  return bytes;
}
