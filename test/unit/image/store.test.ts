/** The image store on its own, in temporary directories: blobs, layers, the index, lookup and gc. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxError, describe as describeError } from "../../../core/errors.ts";
import { tarBytes } from "../../../core/image/tar-writer.ts";
import { blobPath, hasBlob, readBlob, writeBlob } from "../../../core/image/store/blobs.ts";
import { collectGarbage } from "../../../core/image/store/gc.ts";
import { addName, emptyIndex, type ImageRecord, putImage, readIndex, updateIndex } from "../../../core/image/store/images.ts";
import { ingestLayer, type LayerSource } from "../../../core/image/store/ingest.ts";
import { hasLayer, layerRoot, listLayers } from "../../../core/image/store/layers.ts";
import { prepareStore, storeLayout, type StoreLayout } from "../../../core/image/store/layout.ts";
import { partialDir } from "../../../core/image/store/partial.ts";
import { displayName, findImage } from "../../../core/image/store/lookup.ts";
import { sha256Digest } from "../../../core/schema/oci.ts";

let dir: string;
let layout: StoreLayout;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "box-store-"));
  layout = storeLayout(join(dir, "storage"));
  prepareStore(layout);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

async function layer(files: Record<string, string>): Promise<{ gz: Uint8Array; digest: string; diffId: string }> {
  const tar = await tarBytes(Object.entries(files).map(([name, body]) => ({ name, type: "file" as const, body })));
  const gz = Bun.gzipSync(tar);
  return { gz, digest: sha256Digest(gz), diffId: sha256Digest(tar) };
}

function source(l: { gz: Uint8Array; digest: string; diffId: string }, overrides: Partial<LayerSource> = {}): LayerSource {
  return {
    digest: l.digest,
    size: l.gz.byteLength,
    diffId: l.diffId,
    open: async () => ({ stream: new Blob([l.gz]).stream(), verified: false }),
    ...overrides,
  };
}

function record(id: string, names: string[], extra: Partial<ImageRecord> = {}): ImageRecord {
  return {
    id, manifest: sha256Digest(utf8(`m${id}`)), manifestMediaType: "application/vnd.oci.image.manifest.v1+json", names, repoDigests: [],
    layers: [], size: 0, architecture: "amd64", os: "linux", added: "2024-01-01T00:00:00Z", ...extra,
  };
}

const tmpEntries = (): string[] => readdirSync(layout.tmp);

describe("blobs", () => {
  test("a blob is stored under its digest and read back verified", () => {
    const digest = writeBlob(layout, utf8("hello"));
    expect(digest).toBe(sha256Digest(utf8("hello")));
    expect(new TextDecoder().decode(readBlob(layout, digest))).toBe("hello");
    expect(tmpEntries()).toEqual([]);
  });

  test("bytes that do not match the expected digest are refused and nothing is kept", () => {
    const wanted = sha256Digest(utf8("other"));
    expect(() => writeBlob(layout, utf8("hello"), wanted)).toThrow(`store blob: digest mismatch: expected ${wanted}, got ${sha256Digest(utf8("hello"))}`);
    expect(hasBlob(layout, wanted)).toBe(false);
    expect(readdirSync(layout.blobs)).toEqual([]);
  });

  test("a blob changed on disk is reported as corrupt, not returned", () => {
    const digest = writeBlob(layout, utf8("hello"));
    writeFileSync(blobPath(layout, digest), "hellO");
    try {
      readBlob(layout, digest);
      throw new Error("expected an error");
    } catch (e) {
      expect((e as BoxError).code).toBe("E_DIGEST_MISMATCH");
      expect((e as BoxError).message).toStartWith(`store blob ${digest} is corrupt: it hashes to sha256:`);
    }
  });
});

describe("layers", () => {
  test("one pass stores the blob and the unpacked tree, keyed by diff_id", async () => {
    const l = await layer({ "etc/greeting": "hi\n" });
    expect(await ingestLayer(layout, source(l), { rootless: true })).toBe("stored");
    expect(hasBlob(layout, l.digest)).toBe(true);
    expect(readFileSync(join(layerRoot(layout, l.diffId), "etc/greeting"), "utf8")).toBe("hi\n");
    expect(listLayers(layout)).toEqual([l.diffId]);
    expect(await ingestLayer(layout, source(l), { rootless: true })).toBe("present");
    expect(tmpEntries()).toEqual([]);
  });

  test("a diff_id that does not match the content keeps neither blob nor layer", async () => {
    const l = await layer({ a: "1" });
    const lie = sha256Digest(utf8("lie"));
    const err = await ingestLayer(layout, source(l, { diffId: lie }), { rootless: true }).catch((e: unknown) => e as BoxError);
    expect(err).toBeInstanceOf(BoxError);
    expect((err as BoxError).message).toBe(`layer ${l.digest}: uncompressed content: digest mismatch: expected ${lie}, got ${l.diffId}`);
    expect(hasBlob(layout, l.digest)).toBe(false);
    expect(hasLayer(layout, lie)).toBe(false);
    expect(readdirSync(layout.layers)).toEqual([]);
    expect(tmpEntries()).toEqual([]);
    expect(readdirSync(partialDir(layout))).toEqual([]);
  });

  test("a transfer that breaks keeps its bytes, and the next attempt asks only for the rest", async () => {
    const l = await layer({ big: crypto.getRandomValues(new Uint8Array(60_000)).toString() });
    const cut = 20_000;
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(Object.assign(new Error("socket closed"), { code: "ECONNRESET" }));
        sent = true;
        controller.enqueue(l.gz.subarray(0, cut));
      },
    });
    const first = await ingestLayer(layout, source(l, { open: async () => ({ stream: broken, verified: true }) }), { rootless: true }).catch((e: unknown) => e);
    expect(describeError(first)).toContain("socket closed");
    expect(readdirSync(partialDir(layout))).toEqual([l.digest.slice(7)]);
    const asked: number[] = [];
    const resumed = source(l, {
      open: async () => {
        throw new Error("the whole blob should not be fetched again");
      },
      openFrom: async (offset) => (asked.push(offset), new Blob([l.gz.subarray(offset)]).stream()),
    });
    expect(await ingestLayer(layout, resumed, { rootless: true })).toBe("stored");
    expect(asked).toEqual([cut]);
    expect(new Uint8Array(readFileSync(blobPath(layout, l.digest)))).toEqual(new Uint8Array(l.gz));
    expect(readdirSync(partialDir(layout))).toEqual([]);
  });

  test("an unverified blob whose bytes do not hash to its digest is refused", async () => {
    const l = await layer({ a: "1" });
    const other = await layer({ b: "2" });
    const err = await ingestLayer(layout, source(l, { open: async () => ({ stream: new Blob([other.gz]).stream(), verified: false }), diffId: other.diffId, size: undefined }), { rootless: true })
      .catch((e: unknown) => e as BoxError);
    expect((err as BoxError).code).toBe("E_DIGEST_MISMATCH");
    expect((err as BoxError).message).toBe(`layer blob ${l.digest}: digest mismatch: expected ${l.digest}, got ${other.digest}`);
    expect(readdirSync(layout.blobs)).toEqual([]);
    expect(readdirSync(layout.layers)).toEqual([]);
  });

  test("parallel ingests of one layer unpack it once", async () => {
    const l = await layer({ big: "x".repeat(1 << 20) });
    let opened = 0;
    const src = source(l, { open: async () => (opened++, { stream: new Blob([l.gz]).stream(), verified: false }) });
    const results = await Promise.all([1, 2, 3].map(() => ingestLayer(layout, src, { rootless: true })));
    expect(results.sort()).toEqual(["present", "present", "stored"]);
    expect(opened).toBe(1);
  });

  test("a layer directory without its record (a killed unpack) is not a layer, and is replaced", async () => {
    const l = await layer({ a: "1" });
    mkdirSync(join(layout.layers, l.diffId.slice(7), "diff"), { recursive: true });
    expect(hasLayer(layout, l.diffId)).toBe(false);
    expect(await ingestLayer(layout, source(l), { rootless: true })).toBe("stored");
    expect(readFileSync(join(layerRoot(layout, l.diffId), "a"), "utf8")).toBe("1");
  });
});

describe("index and lookup", () => {
  const A = sha256Digest(utf8("a"));
  const B = sha256Digest(utf8("b"));

  test("a name belongs to one image: putting it elsewhere moves it", () => {
    const index = emptyIndex();
    putImage(index, record(A, ["docker.io/library/alpine:latest", "docker.io/library/alpine:3"]));
    putImage(index, record(B, ["docker.io/library/alpine:latest"]));
    expect(index.images.map((i) => i.names)).toEqual([["docker.io/library/alpine:3"], ["docker.io/library/alpine:latest"]]);
    addName(index, A, "docker.io/library/alpine:latest");
    expect(index.images.map((i) => i.names)).toEqual([["docker.io/library/alpine:3", "docker.io/library/alpine:latest"], []]);
  });

  test("images are found by name, short name, localhost name, full id, id prefix and repo digest", () => {
    const index = emptyIndex();
    putImage(index, record(A, ["docker.io/library/alpine:latest", "localhost/base:latest", "127.0.0.1:5000/app:v1"], { repoDigests: [`127.0.0.1:5000/app@${B}`] }));
    for (const q of ["alpine", "alpine:latest", "docker.io/library/alpine", "base", "127.0.0.1:5000/app:v1", A, A.slice(7, 19), `127.0.0.1:5000/app@${B}`]) {
      expect(findImage(index, q)?.id).toBe(A);
    }
    expect(findImage(index, "app:v1")).toBeUndefined();
    expect(findImage(index, "app:v1", ["127.0.0.1:5000"])?.id).toBe(A);
    expect(findImage(index, "alpine:3")).toBeUndefined();
  });

  test("an ambiguous id prefix is an error, not a guess", () => {
    const index = emptyIndex();
    putImage(index, record(`sha256:ab${"0".repeat(62)}`, []));
    putImage(index, record(`sha256:ab${"1".repeat(62)}`, []));
    expect(() => findImage(index, "ab")).toThrow("image ID prefix `ab` is ambiguous: it matches 2 images");
  });

  test("names display the way docker prints them", () => {
    expect(displayName("docker.io/library/alpine:3.20")).toEqual({ repository: "alpine", tag: "3.20" });
    expect(displayName("localhost/base:latest")).toEqual({ repository: "base", tag: "latest" });
    expect(displayName("127.0.0.1:5000/a/b:v1")).toEqual({ repository: "127.0.0.1:5000/a/b", tag: "v1" });
  });

  test("the index survives a round trip and a hand-broken file is reported, not ignored", () => {
    updateIndex(layout, (index) => putImage(index, record(A, ["docker.io/library/x:latest"])));
    expect(readIndex(layout).images[0]?.names).toEqual(["docker.io/library/x:latest"]);
    writeFileSync(layout.index, JSON.stringify({ version: 1, images: [{ id: "nope" }] }));
    expect(() => readIndex(layout)).toThrow(`image index \`${layout.index}\` is invalid`);
  });
});

describe("garbage collection", () => {
  test("removes blobs and layers no image names, and what dead writers left in tmp/", async () => {
    const kept = await layer({ k: "1" });
    const dropped = await layer({ d: "2" });
    await ingestLayer(layout, source(kept), { rootless: true });
    await ingestLayer(layout, source(dropped), { rootless: true });
    const config = writeBlob(layout, utf8("{}"));
    const manifest = writeBlob(layout, utf8("manifest"));
    updateIndex(layout, (index) => putImage(index, record(config, ["docker.io/library/k:latest"], {
      manifest,
      layers: [{ digest: kept.digest, diffId: kept.diffId, size: kept.gz.byteLength, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }],
    })));
    mkdirSync(join(layout.tmp, "layer-99999-abc/diff"), { recursive: true });
    const result = collectGarbage(layout);
    expect(result.blobs).toBe(1);
    expect(result.layers).toBe(1);
    expect(result.bytes).toBe(dropped.gz.byteLength + 1);
    expect(hasBlob(layout, dropped.digest)).toBe(false);
    expect(hasLayer(layout, dropped.diffId)).toBe(false);
    expect(hasLayer(layout, kept.diffId)).toBe(true);
    expect(new Set(readdirSync(layout.blobs))).toEqual(new Set([config, manifest, kept.digest].map((d) => d.slice(7))));
    expect(tmpEntries()).toEqual([]);
    expect(existsSync(blobPath(layout, kept.digest))).toBe(true);
  });
});
