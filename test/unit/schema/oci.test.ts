import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BoxError, type ErrorCode } from "../../../core/errors.ts";
import {
  MAX_MANIFEST_BYTES,
  MediaType,
  parseImageConfig,
  parseManifest,
  type ParsedImageIndex,
  type ParsedImageManifest,
} from "../../../core/schema/oci.ts";

const FIXTURES = join(import.meta.dir, "../../fixtures/manifests");
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name)));
const sha256 = (bytes: Uint8Array): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function rejection(fn: () => unknown): BoxError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BoxError);
    return err as BoxError;
  }
  throw new Error("expected a BoxError");
}

function asManifest(bytes: Uint8Array, contentType?: string): ParsedImageManifest {
  const parsed = parseManifest(bytes, contentType);
  if (parsed.kind !== "manifest") throw new Error(`expected a manifest, got ${parsed.kind}`);
  return parsed;
}

function asIndex(bytes: Uint8Array, contentType?: string): ParsedImageIndex {
  const parsed = parseManifest(bytes, contentType);
  if (parsed.kind !== "index") throw new Error(`expected an index, got ${parsed.kind}`);
  return parsed;
}

describe("parseManifest: valid fixtures", () => {
  test("OCI image manifest", () => {
    const bytes = fixture("oci-manifest.json");
    const m = asManifest(bytes, "application/vnd.oci.image.manifest.v1+json");
    expect(m.mediaType).toBe(MediaType.OciManifest);
    expect(m.digest).toBe(sha256(bytes));
    expect(m.size).toBe(bytes.byteLength);
    expect(m.bytes).toBe(bytes);
    expect(m.manifest.config).toEqual({
      mediaType: MediaType.OciConfig,
      digest: "sha256:b79606fb3afea5bd1609ed40b622142f1c98125abcfe89a76a661b0e8e343910",
      size: 1470,
    });
    expect(m.manifest.layers.map((l) => [l.mediaType, l.size])).toEqual([
      [MediaType.OciLayerGzip, 3623807],
      [MediaType.OciLayerZstd, 0],
    ]);
    expect(m.manifest.layers[1]?.annotations).toEqual({ "org.opencontainers.image.title": "empty.tar.zst" });
  });

  test("OCI manifest without mediaType is recognised by its shape, with or without a generic Content-Type", () => {
    const bytes = fixture("oci-manifest-no-mediatype.json");
    for (const contentType of [undefined, "application/json", "application/octet-stream"]) {
      const m = asManifest(bytes, contentType);
      expect(m.mediaType).toBe(MediaType.OciManifest);
      expect(m.manifest.layers[0]?.urls).toEqual(["https://mirror.example.com/layers/77ea7eee"]);
    }
  });

  test("OCI image index keeps platforms, annotations and unknown fields", () => {
    const idx = asIndex(fixture("oci-index.json"));
    expect(idx.mediaType).toBe(MediaType.OciIndex);
    expect(idx.index.manifests.map((m) => m.platform && `${m.platform.os}/${m.platform.architecture}/${m.platform.variant ?? ""}`)).toEqual([
      "linux/amd64/",
      "linux/arm64/v8",
      "linux/arm/v7",
      "linux/arm/v6",
      "unknown/unknown/",
    ]);
    expect(idx.index.annotations).toEqual({ "org.opencontainers.image.ref.name": "3.20" });
    expect((idx.index as Record<string, unknown>)["x-peer-extension"]).toEqual({ added: "by a newer tool", kept: true });
  });

  test("OCI 1.1 artifact manifest with artifactType, empty config, embedded data and subject", () => {
    const m = asManifest(fixture("oci-artifact.json"));
    if (m.mediaType !== MediaType.OciManifest) throw new Error(`expected an OCI manifest, got ${m.mediaType}`);
    expect(m.manifest.config.mediaType).toBe(MediaType.OciEmpty);
    expect(m.manifest.config.data).toBe("e30=");
    expect(m.manifest.artifactType).toBe("application/vnd.example.sbom.v1+json");
    expect(m.manifest.subject?.digest).toBe(
      "sha256:a9491f4c1bf7b0cffbadcba2db8f028e4b3f2867cb59e1f3a0bc1968f3c51242",
    );
  });

  test("docker schema 2 manifest", () => {
    const m = asManifest(fixture("docker-manifest.json"), "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8");
    expect(m.mediaType).toBe(MediaType.DockerManifest);
    expect(m.manifest.config.mediaType).toBe(MediaType.DockerConfig);
    expect(m.manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.DockerLayerGzip, MediaType.DockerForeignLayerGzip]);
    expect(m.manifest.layers[1]?.urls).toEqual(["https://foreign.example.com/layer.tar.gz"]);
  });

  test("docker manifest list", () => {
    const idx = asIndex(fixture("docker-manifest-list.json"));
    expect(idx.mediaType).toBe(MediaType.DockerManifestList);
    expect(idx.index.manifests).toHaveLength(3);
    expect(idx.index.manifests[2]?.platform).toEqual({ architecture: "s390x", os: "linux", features: ["sse4"] });
  });
});

describe("parseManifest: invalid fixtures", () => {
  test.each<[string, ErrorCode, string]>([
    ["invalid-digest-uppercase.json", "E_INVALID_INPUT", "invalid OCI image manifest: × digest must be sha256:<64 lower-case hex>\n  → at config.digest"],
    ["invalid-negative-size.json", "E_INVALID_INPUT", "size must be >= 0\n  → at layers.0.size"],
    ["invalid-missing-layers.json", "E_INVALID_INPUT", "invalid docker image manifest:"],
    ["invalid-schema-version.json", "E_INVALID_INPUT", "schemaVersion must be 2"],
    ["invalid-schema1.json", "E_UNSUPPORTED", "docker image manifest schema 1 is not supported"],
    ["invalid-list-missing-platform.json", "E_INVALID_INPUT", "→ at manifests.0.platform"],
    ["invalid-unknown-mediatype.json", "E_UNSUPPORTED", 'unsupported manifest media type "application/vnd.example.thing.v1+json"'],
    ["invalid-layer-mediatype.json", "E_INVALID_INPUT", "media type must be type/subtype (RFC 6838)\n  → at layers.0.mediaType"],
  ])("%s", (name, code, message) => {
    const err = rejection(() => parseManifest(fixture(name)));
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
  });

  test("a Content-Type naming another known manifest type is refused", () => {
    const err = rejection(() => parseManifest(fixture("oci-manifest.json"), MediaType.DockerManifest));
    expect(err.code).toBe("E_INVALID_INPUT");
    expect(err.message).toBe(
      `invalid manifest: Content-Type says ${MediaType.DockerManifest} but the document's mediaType is ${MediaType.OciManifest}`,
    );
  });

  test("a schema 1 Content-Type is refused even when the body says nothing", () => {
    const err = rejection(() => parseManifest(utf8('{"schemaVersion":2}'), "application/vnd.docker.distribution.manifest.v1+prettyjws"));
    expect(err.code).toBe("E_UNSUPPORTED");
  });

  test("manifests over 4 MiB are refused before parsing", () => {
    const padding = "x".repeat(MAX_MANIFEST_BYTES);
    const bytes = utf8(JSON.stringify({ schemaVersion: 2, manifests: [], annotations: { padding } }));
    const err = rejection(() => parseManifest(bytes));
    expect(err.code).toBe("E_INVALID_INPUT");
    expect(err.message).toBe(`invalid manifest: it is ${bytes.byteLength} bytes; box reads manifests up to 4 MiB (4194304 bytes)`);
    // Exactly 4 MiB is still accepted.
    const exact = utf8(JSON.stringify({ schemaVersion: 2, manifests: [], annotations: { p: "" } }));
    const fill = MAX_MANIFEST_BYTES - exact.byteLength;
    const atLimit = utf8(JSON.stringify({ schemaVersion: 2, manifests: [], annotations: { p: "y".repeat(fill) } }));
    expect(atLimit.byteLength).toBe(MAX_MANIFEST_BYTES);
    expect(parseManifest(atLimit).kind).toBe("index");
  });

  test("bytes that are not a JSON object", () => {
    expect(rejection(() => parseManifest(utf8("{not json"))).message).toStartWith("invalid manifest: it is not JSON (");
    expect(rejection(() => parseManifest(utf8("[1,2]"))).message).toBe("invalid manifest: it is not a JSON object");
    expect(rejection(() => parseManifest(utf8("null"))).message).toBe("invalid manifest: it is not a JSON object");
    expect(rejection(() => parseManifest(new Uint8Array([0x7b, 0xff, 0x7d]))).message).toBe("invalid manifest: it is not UTF-8 text");
  });
});

describe("parseImageConfig", () => {
  test("OCI config with history", () => {
    const config = parseImageConfig(fixture("oci-config.json"));
    expect(config.architecture).toBe("amd64");
    expect(config.os).toBe("linux");
    expect(config.config?.Entrypoint).toEqual(["/bin/sh", "-c"]);
    expect(config.config?.ExposedPorts).toEqual({ "8080/tcp": {} });
    expect(config.config?.User).toBe("1000:1000");
    expect(config.rootfs.diff_ids).toHaveLength(2);
    expect(config.history?.map((h) => h.empty_layer ?? false)).toEqual([false, true, false]);
  });

  test("docker config with nulls and docker-only fields", () => {
    const config = parseImageConfig(fixture("docker-config.json"));
    expect(config.variant).toBe("v8");
    expect(config.config?.Entrypoint).toBeNull();
    expect(config.config?.Labels).toBeNull();
    expect(config.config?.Cmd).toEqual(["/bin/sh"]);
    expect((config as Record<string, unknown>).docker_version).toBe("20.10.23");
    expect((config.config as Record<string, unknown>).Hostname).toBe("");
  });

  test.each([
    ["invalid-config-diff-id.json", "invalid image config: × digest must be sha256:<64 lower-case hex>\n  → at rootfs.diff_ids.0"],
    ["invalid-config-rootfs-type.json", 'rootfs.type must be "layers"'],
  ])("%s", (name, message) => {
    const err = rejection(() => parseImageConfig(fixture(name)));
    expect(err.code).toBe("E_INVALID_INPUT");
    expect(err.message).toContain(message);
  });
});
