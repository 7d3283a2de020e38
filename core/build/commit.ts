/**
 * The end of a build: the image config and an OCI manifest written as blobs, and one image
 * record in the store carrying the -t names. Nothing here reads the clock: the config's
 * `created` is the last history entry's, so a fully cached rebuild gives the same image ID.
 */
import { BoxError } from "../errors.ts";
import { parseReference } from "../image/reference.ts";
import { writeBlob } from "../image/store/blobs.ts";
import { type ImageRecord, putImage, updateIndex } from "../image/store/images.ts";
import { layerSize } from "../image/store/ingest.ts";
import type { StoreLayout } from "../image/store/layout.ts";
import { LOCAL_REGISTRY } from "../image/store/lookup.ts";
import { MediaType } from "../schema/oci.ts";
import { normalizeConfig } from "./image-config.ts";
import type { ImageState } from "./state.ts";

/** A -t name as stored: a name without a registry is local, as podman files it (localhost/app:latest). */
export function storedTag(tag: string): string {
  const ref = parseReference(tag);
  if (ref.digest !== undefined) throw new BoxError("E_INVALID_INPUT", `invalid tag "${tag}": a tag cannot contain a digest`, { hint: "write -t NAME[:TAG]" });
  if (ref.shortName !== undefined) return `${LOCAL_REGISTRY}/${ref.shortName}:${ref.tag ?? "latest"}`;
  return ref.toString();
}

export function imageConfigJson(state: ImageState, labels: Record<string, string>): Record<string, unknown> {
  const config = Object.keys(labels).length > 0 ? { ...state.config, Labels: { ...(state.config.Labels ?? {}), ...labels } } : state.config;
  const created = state.history.at(-1)?.created ?? new Date(0).toISOString();
  return {
    created,
    ...(state.author !== undefined ? { author: state.author } : {}),
    architecture: state.architecture,
    os: state.os,
    ...(state.variant !== undefined ? { variant: state.variant } : {}),
    config: normalizeConfig(config),
    rootfs: { type: "layers", diff_ids: state.layers.map((l) => l.diffId) },
    history: state.history,
  };
}

export function commitImage(layout: StoreLayout, state: ImageState, names: string[], labels: Record<string, string>): ImageRecord {
  const config = imageConfigJson(state, labels);
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const id = writeBlob(layout, configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: id, size: configBytes.byteLength },
    layers: state.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestDigest = writeBlob(layout, new TextEncoder().encode(JSON.stringify(manifest)));
  const record: ImageRecord = {
    id,
    manifest: manifestDigest,
    manifestMediaType: MediaType.OciManifest,
    names,
    repoDigests: [],
    layers: state.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, mediaType: l.mediaType })),
    size: [...new Set(state.layers.map((l) => l.diffId))].reduce((n, d) => n + layerSize(layout, d), 0),
    created: config.created as string,
    architecture: state.architecture,
    os: state.os,
    added: new Date().toISOString(),
  };
  updateIndex(layout, (index) => putImage(index, record));
  return record;
}
