/**
 * The image formats a registry serves, as valibot schemas: OCI image-spec v1.1 (manifest, index,
 * config, descriptor) and docker's image manifest v2 schema 2 (manifest and manifest list).
 *
 * Objects are loose on purpose: the specs let producers add fields (docker's `container_config`,
 * BuildKit's attestations), so an unknown field is kept, never a reason to reject an image.
 * What box relies on (digests, sizes, media types) is checked strictly.
 */
import * as v from "valibot";
import { BoxError } from "../errors.ts";

export const MediaType = {
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  /** The `{}` config of OCI 1.1 artifacts that are not runnable images. */
  OciEmpty: "application/vnd.oci.empty.v1+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  /** Schema 1 is recognised only to refuse it with a clear message. */
  DockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  DockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** Every layer media type box unpacks: pull and load accept the same set. */
export const LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set<string>([
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.DockerLayerGzip,
  "application/vnd.docker.image.rootfs.diff.tar",
]);

export type ManifestMediaType = typeof MediaType.OciManifest | typeof MediaType.DockerManifest;
export type IndexMediaType = typeof MediaType.OciIndex | typeof MediaType.DockerManifestList;

/** Every manifest kind box can read, most preferred first: the Accept header of a manifest GET. */
export const MANIFEST_MEDIA_TYPES: readonly (ManifestMediaType | IndexMediaType)[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];

/**
 * The largest manifest box reads. The distribution spec has registries accept at least 4 MiB and
 * lets them refuse more; containers/image applies the same cap so a hostile registry cannot make
 * the client buffer an unbounded body.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const Digest = v.pipe(
  v.string(),
  v.regex(/^sha256:[a-f0-9]{64}$/, "digest must be sha256:<64 lower-case hex>"),
);

/** RFC 6838 type/subtype, the pattern the OCI descriptor JSON schema uses. */
const MediaTypeString = v.pipe(
  v.string(),
  v.regex(
    /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/,
    "media type must be type/subtype (RFC 6838)",
  ),
);

const Size = v.pipe(
  v.number(),
  v.integer("size must be an integer"),
  v.minValue(0, "size must be >= 0"),
  v.maxValue(Number.MAX_SAFE_INTEGER, "size is too large"),
);

const Annotations = v.record(v.string(), v.string());

export const Platform = v.looseObject({
  architecture: v.pipe(v.string(), v.nonEmpty("platform architecture must not be empty")),
  os: v.pipe(v.string(), v.nonEmpty("platform os must not be empty")),
  "os.version": v.optional(v.string()),
  "os.features": v.optional(v.array(v.string())),
  variant: v.optional(v.string()),
  features: v.optional(v.array(v.string())),
});
export type Platform = v.InferOutput<typeof Platform>;

const descriptorEntries = {
  mediaType: MediaTypeString,
  digest: Digest,
  size: Size,
  urls: v.optional(v.array(v.pipe(v.string(), v.url("descriptor urls must be URLs")))),
  annotations: v.optional(Annotations),
  /** Embedded content, base64; lets a small blob travel inside its manifest. */
  data: v.optional(v.pipe(v.string(), v.base64("descriptor data must be base64"))),
  artifactType: v.optional(MediaTypeString),
};

export const Descriptor = v.looseObject({ ...descriptorEntries, platform: v.optional(Platform) });
export type Descriptor = v.InferOutput<typeof Descriptor>;

export const OciManifest = v.looseObject({
  schemaVersion: v.literal(2, "schemaVersion must be 2"),
  mediaType: v.optional(v.literal(MediaType.OciManifest)),
  artifactType: v.optional(MediaTypeString),
  config: Descriptor,
  layers: v.array(Descriptor),
  subject: v.optional(Descriptor),
  annotations: v.optional(Annotations),
});
export type OciManifest = v.InferOutput<typeof OciManifest>;

export const OciIndex = v.looseObject({
  schemaVersion: v.literal(2, "schemaVersion must be 2"),
  mediaType: v.optional(v.literal(MediaType.OciIndex)),
  artifactType: v.optional(MediaTypeString),
  manifests: v.array(Descriptor),
  subject: v.optional(Descriptor),
  annotations: v.optional(Annotations),
});
export type OciIndex = v.InferOutput<typeof OciIndex>;

/** Docker's schema 2 differs from OCI's manifest mainly in that `mediaType` is required. */
export const DockerManifest = v.looseObject({
  schemaVersion: v.literal(2, "schemaVersion must be 2"),
  mediaType: v.literal(MediaType.DockerManifest),
  config: Descriptor,
  layers: v.array(Descriptor),
});
export type DockerManifest = v.InferOutput<typeof DockerManifest>;

/** In a docker manifest list every entry must say which platform it is for. */
export const DockerManifestList = v.looseObject({
  schemaVersion: v.literal(2, "schemaVersion must be 2"),
  mediaType: v.literal(MediaType.DockerManifestList),
  manifests: v.array(v.looseObject({ ...descriptorEntries, platform: Platform })),
});
export type DockerManifestList = v.InferOutput<typeof DockerManifestList>;

// docker writes `null` for unset lists and maps in image configs ("Cmd": null), so those are nullish.
const StringList = v.nullish(v.array(v.string()));
const StringMap = v.nullish(v.record(v.string(), v.string()));
const EmptyObjectSet = v.nullish(v.record(v.string(), v.looseObject({})));

export const ContainerConfig = v.looseObject({
  User: v.optional(v.string()),
  ExposedPorts: EmptyObjectSet,
  Env: StringList,
  Entrypoint: StringList,
  Cmd: StringList,
  Volumes: EmptyObjectSet,
  WorkingDir: v.optional(v.string()),
  Labels: StringMap,
  StopSignal: v.optional(v.string()),
  ArgsEscaped: v.optional(v.boolean()),
});
export type ContainerConfig = v.InferOutput<typeof ContainerConfig>;

export const HistoryEntry = v.looseObject({
  created: v.optional(v.string()),
  created_by: v.optional(v.string()),
  author: v.optional(v.string()),
  comment: v.optional(v.string()),
  empty_layer: v.optional(v.boolean()),
});
export type HistoryEntry = v.InferOutput<typeof HistoryEntry>;

/** The image config blob (OCI config, or docker's container.image.v1, which has the same shape). */
export const ImageConfig = v.looseObject({
  created: v.optional(v.string()),
  author: v.optional(v.string()),
  architecture: v.pipe(v.string(), v.nonEmpty("architecture must not be empty")),
  os: v.pipe(v.string(), v.nonEmpty("os must not be empty")),
  "os.version": v.optional(v.string()),
  "os.features": v.optional(v.array(v.string())),
  variant: v.optional(v.string()),
  config: v.nullish(ContainerConfig),
  rootfs: v.looseObject({
    type: v.literal("layers", 'rootfs.type must be "layers"'),
    diff_ids: v.array(Digest),
  }),
  history: v.nullish(v.array(HistoryEntry)),
});
export type ImageConfig = v.InferOutput<typeof ImageConfig>;

interface Parsed {
  /** sha256 of the exact bytes: a manifest's identity, and what a by-digest pull must match. */
  readonly digest: string;
  readonly size: number;
  /** Kept verbatim: re-serialising would change the digest. */
  readonly bytes: Uint8Array;
}

/** An image manifest; `mediaType` tells OCI from docker and narrows `manifest` accordingly. */
export type ParsedImageManifest = Parsed & { readonly kind: "manifest" } & (
  | { readonly mediaType: typeof MediaType.OciManifest; readonly manifest: OciManifest }
  | { readonly mediaType: typeof MediaType.DockerManifest; readonly manifest: DockerManifest }
);

/** A multi-platform index; `mediaType` tells an OCI index from a docker manifest list. */
export type ParsedImageIndex = Parsed & { readonly kind: "index" } & (
  | { readonly mediaType: typeof MediaType.OciIndex; readonly index: OciIndex }
  | { readonly mediaType: typeof MediaType.DockerManifestList; readonly index: DockerManifestList }
);

export type ParsedManifest = ParsedImageManifest | ParsedImageIndex;

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

function invalid(what: string, why: string, hint?: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `invalid ${what}: ${why}`, hint === undefined ? {} : { hint });
}

function decodeJson(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new BoxError("E_INVALID_INPUT", `invalid ${what}: it is not UTF-8 text`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new BoxError("E_INVALID_INPUT", `invalid ${what}: it is not JSON (${(cause as Error).message})`, { cause });
  }
}

function validate<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) throw invalid(what, v.summarize(result.issues));
  return result.output;
}

/** Content-Type without parameters ("…+json; charset=utf-8" → "…+json"), lower-cased. */
function bareMediaType(contentType: string | undefined): string | undefined {
  const bare = contentType?.split(";")[0]?.trim().toLowerCase();
  return bare === undefined || bare === "" ? undefined : bare;
}

const KNOWN = new Set<string>(MANIFEST_MEDIA_TYPES);
const SCHEMA1 = new Set<string>([MediaType.DockerSchema1, MediaType.DockerSchema1Signed]);

/**
 * Decide what kind of manifest these bytes are. The document's own `mediaType` is authoritative
 * (it is covered by the digest; the Content-Type header is not). A header that names a different
 * known type is refused rather than guessed past: the two disagreeing means something between box
 * and the registry is wrong. Generic headers (application/json, octet-stream) carry no information,
 * and an OCI document without `mediaType` is recognised by its shape, as the image-spec allows.
 */
function detectMediaType(doc: Record<string, unknown>, contentType: string | undefined): string {
  const header = bareMediaType(contentType);
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (doc.schemaVersion === 1 || SCHEMA1.has(declared ?? "") || SCHEMA1.has(header ?? "")) {
    throw new BoxError("E_UNSUPPORTED", "docker image manifest schema 1 is not supported", {
      hint: "schema 1 was deprecated in 2017; push the image again with a current docker, buildah or box",
    });
  }
  if (declared !== undefined) {
    if (!KNOWN.has(declared)) {
      throw new BoxError("E_UNSUPPORTED", `unsupported manifest media type "${declared}"`, {
        hint: `box reads ${MANIFEST_MEDIA_TYPES.join(", ")}`,
      });
    }
    if (header !== undefined && KNOWN.has(header) && header !== declared) {
      throw invalid("manifest", `Content-Type says ${header} but the document's mediaType is ${declared}`);
    }
    return declared;
  }
  if (header !== undefined && KNOWN.has(header)) return header;
  return Array.isArray(doc.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
}

/**
 * Validate manifest bytes from a registry or disk and say which kind they are. `contentType` is the
 * HTTP Content-Type, when there was one.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw invalid(
      "manifest",
      `it is ${bytes.byteLength} bytes; box reads manifests up to 4 MiB (${MAX_MANIFEST_BYTES} bytes)`,
      "a manifest this large is almost certainly not an image manifest; check the reference",
    );
  }
  const doc = decodeJson(bytes, "manifest");
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalid("manifest", "it is not a JSON object");
  const mediaType = detectMediaType(doc as Record<string, unknown>, contentType);
  const base = { digest: sha256Digest(bytes), size: bytes.byteLength, bytes };
  switch (mediaType) {
    case MediaType.OciIndex:
      return { ...base, kind: "index", mediaType, index: validate(OciIndex, doc, "OCI image index") };
    case MediaType.DockerManifestList:
      return { ...base, kind: "index", mediaType, index: validate(DockerManifestList, doc, "docker manifest list") };
    case MediaType.DockerManifest:
      return { ...base, kind: "manifest", mediaType, manifest: validate(DockerManifest, doc, "docker image manifest") };
    default:
      return {
        ...base,
        kind: "manifest",
        mediaType: MediaType.OciManifest,
        manifest: validate(OciManifest, doc, "OCI image manifest"),
      };
  }
}

/** Validate an image config blob (OCI or docker; they share one shape). */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  return validate(ImageConfig, decodeJson(bytes, "image config"), "image config");
}

/** Index and manifest annotations that name an image in an OCI image layout. */
export const Annotation = {
  /** The image-spec's reference name: a tag ("v1", what docker writes) or a whole reference (what podman writes). */
  RefName: "org.opencontainers.image.ref.name",
  /** containerd's (and Docker 25+'s `docker save`) fully qualified image name. */
  ContainerdImageName: "io.containerd.image.name",
} as const;

/** The `oci-layout` file at the root of an OCI image layout. */
export const OciLayoutFile = v.looseObject({
  imageLayoutVersion: v.pipe(v.string(), v.nonEmpty("imageLayoutVersion must not be empty")),
});

/** One image in the manifest.json of a `docker save` archive; paths are relative to the archive root. */
export const DockerArchiveImage = v.looseObject({
  Config: v.pipe(v.string(), v.nonEmpty("Config must name the config file")),
  /** docker writes null for an image saved by ID. */
  RepoTags: v.nullish(v.array(v.string())),
  Layers: v.array(v.pipe(v.string(), v.nonEmpty("a layer path must not be empty"))),
  Parent: v.optional(v.string()),
});
export type DockerArchiveImage = v.InferOutput<typeof DockerArchiveImage>;

/** manifest.json of a `docker save` archive (legacy and Docker 25+ alike). */
export const DockerArchiveManifest = v.pipe(
  v.array(DockerArchiveImage),
  v.minLength(1, "manifest.json lists no images"),
);
export type DockerArchiveManifest = v.InferOutput<typeof DockerArchiveManifest>;

/** Validate a parsed JSON document against one of these schemas; the message names `what`. */
export function validateDocument<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  return validate(schema, value, what);
}

/** Decode UTF-8 JSON bytes, with an error that names `what` when they are not. */
export function decodeJsonDocument(bytes: Uint8Array, what: string): unknown {
  return decodeJson(bytes, what);
}
