/**
 * The registry client against (a) a fault-injecting Bun.serve on 127.0.0.1, for what a healthy
 * registry never does (401 dances, 429/5xx, dropped connections, wrong bytes, cross-host
 * redirects), and (b) the real reference registry (Debian's docker-registry) for push and pull.
 * Loopback only.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { gzipSync } from "fflate";
import { BoxError, type ErrorCode } from "../../core/errors.ts";
import { RegistryClient, type Progress, type RegistryClientOptions } from "../../core/image/registry/client.ts";
import { MediaType, parseImageConfig } from "../../core/schema/oci.ts";
import { hasRegistryBinary, startRegistry, type RunningRegistry } from "../helpers/registry.ts";

const FAST_RETRY = { baseDelayMs: 1, maxDelayMs: 5 };
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const sha256 = (bytes: Uint8Array): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function failure(promise: Promise<unknown>): Promise<BoxError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(BoxError);
    return err as BoxError;
  }
  throw new Error("expected a BoxError");
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function expectError(err: BoxError, code: ErrorCode, message: string): void {
  expect(err.code).toBe(code);
  expect(err.message).toBe(message);
}

/** A one-layer OCI image built from bytes made here: a real tar, gzipped, and its config. */
function tarOf(files: { name: string; content: string }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const file of files) {
    const content = utf8(file.content);
    const header = new Uint8Array(512);
    const put = (offset: number, text: string): void => header.set(utf8(text), offset);
    put(0, file.name);
    put(100, "0000644\0");
    put(108, "0000000\0");
    put(116, "0000000\0");
    put(124, `${content.byteLength.toString(8).padStart(11, "0")}\0`);
    put(136, "00000000000\0");
    put(148, "        ");
    put(156, "0");
    put(257, "ustar\0");
    put(263, "00");
    const checksum = header.reduce((sum, byte) => sum + byte, 0);
    put(148, `${checksum.toString(8).padStart(6, "0")}\0 `);
    blocks.push(header, content, new Uint8Array((512 - (content.byteLength % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  return Buffer.concat(blocks);
}

interface TestImage {
  layer: Uint8Array;
  layerDigest: string;
  config: Uint8Array;
  configDigest: string;
  manifest: Uint8Array;
  manifestDigest: string;
  diffId: string;
}

function buildImage(text: string, architecture = "amd64"): TestImage {
  const tar = tarOf([{ name: "hello.txt", content: text }]);
  const layer = gzipSync(tar, { mtime: 0 });
  const diffId = sha256(tar);
  const config = utf8(JSON.stringify({
    architecture,
    os: "linux",
    config: { Cmd: ["/bin/cat", "/hello.txt"] },
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created_by: "box test" }],
  }));
  const manifest = utf8(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256(config), size: config.byteLength },
    layers: [{ mediaType: MediaType.OciLayerGzip, digest: sha256(layer), size: layer.byteLength }],
  }));
  return {
    layer,
    layerDigest: sha256(layer),
    config,
    configDigest: sha256(config),
    manifest,
    manifestDigest: sha256(manifest),
    diffId,
  };
}

// ---------------------------------------------------------------------------------------------
// (a) fault injection
// ---------------------------------------------------------------------------------------------

interface Seen {
  method: string;
  path: string;
  authorization: string | null;
}

interface FakeServer {
  host: string;
  origin: string;
  seen: Seen[];
}

const servers: { stop(force?: boolean): unknown }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.stop(true);
});

function fake(handler: (req: Request, url: URL, server: FakeServer) => Response | Promise<Response>): FakeServer {
  const state: FakeServer = { host: "", origin: "", seen: [] };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      state.seen.push({ method: req.method, path: url.pathname + url.search, authorization: req.headers.get("authorization") });
      return handler(req, url, state);
    },
  });
  servers.push(server);
  state.host = `127.0.0.1:${server.port}`;
  state.origin = `http://${state.host}`;
  return state;
}

function client(host: string, extra: Partial<RegistryClientOptions> = {}): RegistryClient {
  return new RegistryClient({ registry: host, retry: FAST_RETRY, ...extra });
}

const image = buildImage("hello from the fake registry\n");
const manifestResponse = (bytes = image.manifest): Response =>
  new Response(bytes, { headers: { "content-type": MediaType.OciManifest, "docker-content-digest": sha256(bytes) } });
const ociError = (status: number, code: string, message: string, headers: Record<string, string> = {}): Response =>
  Response.json({ errors: [{ code, message, detail: null }] }, { status, headers });

describe("registry client against a fault-injecting server", () => {
  test("401 → anonymous Bearer token → retry, and the token is reused for the same scope", async () => {
    const srv = fake((req, url, s) => {
      if (url.pathname === "/token") {
        expect(url.searchParams.get("service")).toBe("fake-registry");
        expect(url.searchParams.getAll("scope")).toEqual(["repository:app:pull"]);
        return Response.json({ token: "tok-anon", expires_in: 300 });
      }
      if (req.headers.get("authorization") !== "Bearer tok-anon") {
        return ociError(401, "UNAUTHORIZED", "authentication required", {
          "www-authenticate": `Bearer realm="${s.origin}/token",service="fake-registry",scope="repository:app:pull"`,
        });
      }
      return manifestResponse();
    });
    const c = client(srv.host);
    const first = await c.getManifest("app", "v1");
    expect(first.digest).toBe(image.manifestDigest);
    await c.getManifest("app", "v1");
    expect(srv.seen.map((s) => [s.method, s.path.split("?")[0], s.authorization])).toEqual([
      ["GET", "/v2/app/manifests/v1", null],
      ["GET", "/token", null],
      ["GET", "/v2/app/manifests/v1", "Bearer tok-anon"],
      ["GET", "/v2/app/manifests/v1", "Bearer tok-anon"],
    ]);
  });

  test("Bearer token with credentials: Basic to the realm, access_token accepted; wrong password is E_PERMISSION", async () => {
    const good = `Basic ${btoa("alice:wonderland")}`;
    const srv = fake((req, url, s) => {
      if (url.pathname === "/token") {
        if (req.headers.get("authorization") !== good) return new Response("no", { status: 401 });
        expect(url.searchParams.get("account")).toBe("alice");
        return Response.json({ access_token: "tok-alice" });
      }
      if (req.headers.get("authorization") !== "Bearer tok-alice") {
        return new Response(null, { status: 401, headers: { "www-authenticate": `Bearer realm="${s.origin}/token",service="fake"` } });
      }
      return manifestResponse();
    });
    const parsed = await client(srv.host, { credentials: { username: "alice", password: "wonderland" } }).getManifest("team/app", "v1");
    expect(parsed.kind).toBe("manifest");
    expect(srv.seen[1]?.authorization).toBe(good);

    const err = await failure(client(srv.host, { credentials: { username: "alice", password: "nope" } }).getManifest("team/app", "v1"));
    expectError(err, "E_PERMISSION", `pull manifest ${srv.host}/team/app:v1: the token server ${srv.origin} refused the credentials of "alice" (HTTP 401)`);
    expect(err.hint).toBe(`check the username and password for ${srv.host}`);
  });

  test("Basic auth: without credentials E_PERMISSION, with them sent up front after the first challenge", async () => {
    const good = `Basic ${btoa("bob:builder")}`;
    const srv = fake((req) => {
      if (req.headers.get("authorization") !== good) {
        return ociError(401, "UNAUTHORIZED", "authentication required", { "www-authenticate": 'Basic realm="fake"' });
      }
      return manifestResponse();
    });
    const anonymous = await failure(client(srv.host).getManifest("app", "v1"));
    expectError(anonymous, "E_PERMISSION", `pull manifest ${srv.host}/app:v1: unauthorized (HTTP 401): UNAUTHORIZED: authentication required`);
    expect(anonymous.hint).toBe(`the repository may not exist, or ${srv.host} needs credentials: log in and try again`);

    srv.seen.length = 0;
    const c = client(srv.host, { credentials: { username: "bob", password: "builder" } });
    await c.getManifest("app", "v1");
    await c.getManifest("app", "v2");
    expect(srv.seen.map((s) => s.authorization)).toEqual([null, good, good]);
  });

  test("ping reports the auth scheme without sending credentials; login checks them", async () => {
    const srv = fake((req) =>
      req.headers.get("authorization") === `Basic ${btoa("u:p")}`
        ? new Response("{}", { headers: { "docker-distribution-api-version": "registry/2.0" } })
        : new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="r"', "docker-distribution-api-version": "registry/2.0" } }));
    expect(await client(srv.host, { credentials: { username: "u", password: "p" } }).ping()).toEqual({ apiVersion: "registry/2.0", auth: "basic" });
    await client(srv.host, { credentials: { username: "u", password: "p" } }).login();
    const err = await failure(client(srv.host, { credentials: { username: "u", password: "bad" } }).login());
    expect(err.code).toBe("E_PERMISSION");
    expect(srv.seen.map((s) => s.authorization)).toEqual([null, null, `Basic ${btoa("u:p")}`, null, `Basic ${btoa("u:bad")}`]);
  });

  test("429 then 500 then success is retried to success", async () => {
    let calls = 0;
    const srv = fake(() => {
      calls++;
      if (calls === 1) return ociError(429, "TOOMANYREQUESTS", "slow down", { "retry-after": "0" });
      if (calls === 2) return new Response("boom", { status: 500 });
      return manifestResponse();
    });
    const parsed = await client(srv.host).getManifest("app", "v1");
    expect(parsed.digest).toBe(image.manifestDigest);
    expect(calls).toBe(3);
  });

  test("retries are bounded: 4 tries, then E_REGISTRY naming the status", async () => {
    const srv = fake(() => ociError(503, "UNAVAILABLE", "maintenance"));
    const started = performance.now();
    const err = await failure(client(srv.host).getManifest("app", "v1"));
    expectError(err, "E_REGISTRY", `pull manifest ${srv.host}/app:v1: registry server error (HTTP 503): UNAVAILABLE: maintenance`);
    expect(err.hint).toBe(`${srv.host} failed while handling the request; try again later`);
    expect(srv.seen).toHaveLength(4);
    expect(performance.now() - started).toBeLessThan(2000);

    srv.seen.length = 0;
    await failure(client(srv.host, { retry: { ...FAST_RETRY, tries: 2 } }).getManifest("app", "v1"));
    expect(srv.seen).toHaveLength(2);
  });

  test("a connection reset is retried", async () => {
    let connections = 0;
    const body = image.manifest;
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(socket) {
          connections++;
          if (connections === 1) socket.terminate();
        },
        data(socket) {
          socket.write(`HTTP/1.1 200 OK\r\ncontent-type: ${MediaType.OciManifest}\r\ncontent-length: ${body.byteLength}\r\nconnection: close\r\n\r\n`);
          socket.write(body);
          socket.end();
        },
      },
    });
    servers.push(listener);
    const parsed = await client(`127.0.0.1:${listener.port}`).getManifest("app", "v1");
    expect(parsed.digest).toBe(image.manifestDigest);
    expect(connections).toBe(2);
  });

  test("a refused connection fails at once with E_REGISTRY", async () => {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    const err = await failure(client(`127.0.0.1:${port}`).getManifest("app", "v1"));
    expect(err.code).toBe("E_REGISTRY");
    expect(err.message).toStartWith(`pull manifest 127.0.0.1:${port}/app:v1: cannot reach http://127.0.0.1:${port}: `);
    expect(err.hint).toContain("must be configured as insecure");
  });

  test("a blob with the wrong bytes fails at EOF with E_DIGEST_MISMATCH", async () => {
    const good = utf8("the blob the manifest promised");
    const evil = utf8("something else entirely");
    const srv = fake(() => new Response(evil));
    const { stream } = await client(srv.host).getBlob("app", sha256(good));
    const err = await failure(readAll(stream));
    expectError(
      err,
      "E_DIGEST_MISMATCH",
      `pull blob ${srv.host}/app@${sha256(good)}: digest mismatch: expected ${sha256(good)}, got ${sha256(evil)}`,
    );
  });

  test("a blob longer than its declared size is cut off; a good blob reports progress", async () => {
    const bytes = utf8("x".repeat(100_000));
    const srv = fake(() => new Response(bytes));
    const c = client(srv.host);
    const tooSmall = await failure(c.getBlob("app", sha256(bytes), { size: 10 }));
    expectError(tooSmall, "E_DIGEST_MISMATCH", `pull blob ${srv.host}/app@${sha256(bytes)}: size mismatch: expected 10 bytes, got a Content-Length of 100000`);

    const events: Progress[] = [];
    const { stream, size } = await c.getBlob("app", sha256(bytes), { size: bytes.byteLength, onProgress: (p) => events.push(p) });
    expect(size).toBe(100_000);
    expect(await readAll(stream)).toEqual(bytes);
    expect(events.at(-1)).toEqual({ digest: sha256(bytes), done: 100_000, total: 100_000 });
    expect(events.map((e) => e.done)).toEqual([...events.map((e) => e.done)].sort((a, b) => a - b));
  });

  test("a redirect to another host does not carry the Authorization header; one on the same host does", async () => {
    const blob = utf8("layer bytes served by the CDN");
    const cdn = fake(() => new Response(blob));
    const good = `Basic ${btoa("carol:secret")}`;
    const srv = fake((req, url) => {
      if (req.headers.get("authorization") !== good) {
        return new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="fake"' } });
      }
      if (url.pathname.startsWith("/v2/app/blobs/")) return Response.redirect(`/storage/${sha256(blob)}`, 307);
      if (url.pathname.startsWith("/storage/")) return Response.redirect(`${cdn.origin}/cdn/blob?sig=abc`, 302);
      return new Response("unexpected", { status: 500 });
    });
    const { stream } = await client(srv.host, { credentials: { username: "carol", password: "secret" } }).getBlob("app", sha256(blob));
    expect(await readAll(stream)).toEqual(blob);
    expect(srv.seen.map((s) => [s.path, s.authorization])).toEqual([
      [`/v2/app/blobs/${sha256(blob)}`, null],
      [`/v2/app/blobs/${sha256(blob)}`, good],
      [`/storage/${sha256(blob)}`, good],
    ]);
    expect(cdn.seen).toEqual([{ method: "GET", path: "/cdn/blob?sig=abc", authorization: null }]);
  });

  test("a missing tag is E_NOT_FOUND naming the registry, repository and tag", async () => {
    const srv = fake(() => ociError(404, "MANIFEST_UNKNOWN", "manifest unknown"));
    const err = await failure(client(srv.host).getManifest("team/app", "nope"));
    expectError(err, "E_NOT_FOUND", `pull manifest ${srv.host}/team/app:nope: not found (HTTP 404): MANIFEST_UNKNOWN: manifest unknown`);
    expect(err.hint).toBe(`check the name and tag of ${srv.host}/team/app:nope; list the repository's tags to see what exists`);
    expect(await client(srv.host).headManifest("team/app", "nope")).toBeUndefined();
  });

  test("platform selection: the matching entry is fetched by digest; a missing platform is E_NOT_FOUND", async () => {
    const arm = buildImage("arm bytes\n", "arm64");
    const index = utf8(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: image.manifestDigest, size: image.manifest.byteLength, platform: { os: "linux", architecture: "amd64" } },
        { mediaType: MediaType.OciManifest, digest: arm.manifestDigest, size: arm.manifest.byteLength, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      ],
    }));
    const srv = fake((_req, url) => {
      if (url.pathname === "/v2/app/manifests/multi") return new Response(index, { headers: { "content-type": MediaType.OciIndex } });
      if (url.pathname === `/v2/app/manifests/${arm.manifestDigest}`) return manifestResponse(arm.manifest);
      if (url.pathname === `/v2/app/manifests/${image.manifestDigest}`) return manifestResponse(image.manifest);
      return ociError(404, "MANIFEST_UNKNOWN", "manifest unknown");
    });
    const c = client(srv.host);
    const resolved = await c.getImageManifest("app", "multi", { os: "linux", architecture: "arm64" });
    expect(resolved.manifest.digest).toBe(arm.manifestDigest);
    expect(resolved.index?.digest).toBe(sha256(index));
    expect(resolved.platform).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });

    const err = await failure(c.getImageManifest("app", "multi", { os: "linux", architecture: "riscv64" }));
    expectError(err, "E_NOT_FOUND", `${srv.host}/app:multi has no image for platform linux/riscv64 (it offers linux/amd64, linux/arm64/v8)`);
    expect(srv.seen.map((s) => s.path)).toEqual(["/v2/app/manifests/multi", `/v2/app/manifests/${arm.manifestDigest}`, "/v2/app/manifests/multi"]);
  });

  test("manifest bytes that do not match the requested digest or the registry's digest header are refused", async () => {
    const other = buildImage("other\n");
    const srv = fake((_req, url) =>
      url.pathname.endsWith("/v1")
        ? new Response(image.manifest, { headers: { "content-type": MediaType.OciManifest, "docker-content-digest": other.manifestDigest } })
        : manifestResponse(other.manifest));
    const byDigest = await failure(client(srv.host).getManifest("app", image.manifestDigest));
    expectError(
      byDigest,
      "E_DIGEST_MISMATCH",
      `pull manifest ${srv.host}/app@${image.manifestDigest}: digest mismatch: expected ${image.manifestDigest}, got ${other.manifestDigest}`,
    );
    const byTag = await failure(client(srv.host).getManifest("app", "v1"));
    expect(byTag.code).toBe("E_DIGEST_MISMATCH");
  });

  test("an oversized manifest body is refused without buffering it all", async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    let sent = 0;
    const srv = fake(() =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= 64) return controller.close();
            sent++;
            controller.enqueue(chunk);
          },
        }),
        { headers: { "content-type": MediaType.OciManifest } },
      ));
    const err = await failure(client(srv.host).getManifest("app", "huge"));
    expectError(err, "E_INVALID_INPUT", `pull manifest ${srv.host}/app:huge: the manifest is larger than 4194304 bytes, the most box reads`);
    expect(sent).toBeLessThan(64);
  });

  test("an invalid manifest is E_INVALID_INPUT with where it was fetched from", async () => {
    const srv = fake(() => new Response('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}'));
    const err = await failure(client(srv.host).getManifest("app", "v1"));
    expect(err.code).toBe("E_INVALID_INPUT");
    expect(err.message).toBe(`pull manifest ${srv.host}/app:v1`);
    expect((err.cause as Error).message).toStartWith("invalid OCI image manifest: ");
  });

  test("names outside the reference grammar never reach the network", async () => {
    const srv = fake(() => manifestResponse());
    const c = client(srv.host);
    expect((await failure(c.getManifest("../etc", "v1"))).code).toBe("E_INVALID_INPUT");
    expect((await failure(c.getBlob("app", "latest"))).message).toBe(`pull blob ${srv.host}/app@latest: "latest" is not a sha256 digest`);
    expect(srv.seen).toEqual([]);
    expect(() => new RegistryClient({ registry: "https://ghcr.io" })).toThrow('invalid registry "https://ghcr.io": expected host[:port]');
  });
});

// ---------------------------------------------------------------------------------------------
// (b) the real registry
// ---------------------------------------------------------------------------------------------

const SKIP = hasRegistryBinary ? "" : " (skipped: /usr/bin/docker-registry is not installed; apt-get install docker-registry)";

describe("registry client against the real docker-registry", () => {
  let registry: RunningRegistry | undefined;
  const events: Progress[] = [];
  const img = buildImage("hello from box\n");

  beforeAll(async () => {
    if (hasRegistryBinary) registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });
  const c = (): RegistryClient => client(registry?.host ?? "127.0.0.1:1");

  test.skipIf(!hasRegistryBinary)(`push a one-layer image and pull it back${SKIP}`, async () => {
    expect(await c().ping()).toEqual({ apiVersion: "registry/2.0", auth: "none" });
    expect(await c().pushBlob("box/app", img.layerDigest, img.layer, { onProgress: (p) => events.push(p) })).toBe("uploaded");
    expect(await c().pushBlob("box/app", img.configDigest, img.config)).toBe("uploaded");
    expect(await c().putManifest("box/app", "v1", img.manifest)).toBe(img.manifestDigest);
    expect(events).toEqual([
      { digest: img.layerDigest, done: 0, total: img.layer.byteLength },
      { digest: img.layerDigest, done: img.layer.byteLength, total: img.layer.byteLength },
    ]);

    const { manifest, index } = await c().getImageManifest("box/app", "v1");
    expect(index).toBeUndefined();
    expect(manifest.digest).toBe(img.manifestDigest);
    expect(manifest.mediaType).toBe(MediaType.OciManifest);
    expect(manifest.bytes).toEqual(img.manifest);
    const layer = manifest.manifest.layers[0];
    expect(layer?.digest).toBe(img.layerDigest);

    const pulledLayer = await c().getBlob("box/app", img.layerDigest, { size: layer?.size });
    expect(await readAll(pulledLayer.stream)).toEqual(img.layer);
    const pulledConfig = await c().getBlob("box/app", manifest.manifest.config.digest, { size: manifest.manifest.config.size });
    const config = parseImageConfig(await readAll(pulledConfig.stream));
    expect(config.rootfs.diff_ids).toEqual([img.diffId]);
    expect(config.config?.Cmd).toEqual(["/bin/cat", "/hello.txt"]);

    expect(await c().headManifest("box/app", "v1")).toEqual({
      digest: img.manifestDigest,
      mediaType: MediaType.OciManifest,
      size: img.manifest.byteLength,
    });
    expect((await c().getManifest("box/app", img.manifestDigest)).digest).toBe(img.manifestDigest);
  });

  test.skipIf(!hasRegistryBinary)(`pushing again skips blobs the registry has (HEAD)${SKIP}`, async () => {
    expect(await c().headBlob("box/app", img.layerDigest)).toEqual({ size: img.layer.byteLength });
    expect(await c().pushBlob("box/app", img.layerDigest, img.layer)).toBe("exists");
    expect(await c().pushBlob("box/app", img.configDigest, img.config)).toBe("exists");
    expect(await c().putManifest("box/app", "v2", img.manifest)).toBe(img.manifestDigest);
    expect((await c().listTags("box/app")).sort()).toEqual(["v1", "v2"]);
    // One tag per page: the client follows the Link header.
    expect((await c().listTags("box/app", 1)).sort()).toEqual(["v1", "v2"]);
  });

  test.skipIf(!hasRegistryBinary)(`cross-repository mount, and the fallback to an upload when the source lacks the blob${SKIP}`, async () => {
    expect(await c().headBlob("box/other", img.layerDigest)).toBeUndefined();
    expect(await c().pushBlob("box/other", img.layerDigest, img.layer, { mountFrom: "box/app" })).toBe("mounted");
    expect(await c().headBlob("box/other", img.layerDigest)).toEqual({ size: img.layer.byteLength });
    expect(await c().pushBlob("box/other", img.configDigest, img.config, { mountFrom: "box/empty" })).toBe("uploaded");
    expect(await c().putManifest("box/other", "latest", img.manifest)).toBe(img.manifestDigest);
    expect((await c().getManifest("box/other", "latest")).digest).toBe(img.manifestDigest);
  });

  test.skipIf(!hasRegistryBinary)(`chunked upload with PATCH and Content-Range${SKIP}`, async () => {
    const data = new Uint8Array(70_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
    const chunks: number[] = [];
    const result = await c().pushBlob("box/chunked", sha256(data), new Blob([data]), {
      chunkSize: 16_384,
      onProgress: (p) => chunks.push(p.done),
    });
    expect(result).toBe("uploaded");
    expect(chunks).toEqual([16_384, 32_768, 49_152, 65_536, 70_000]);
    const { stream } = await c().getBlob("box/chunked", sha256(data), { size: data.byteLength });
    expect(await readAll(stream)).toEqual(data);
  });

  test.skipIf(!hasRegistryBinary)(`multi-platform index: push, then pull by platform${SKIP}`, async () => {
    const arm = buildImage("hello from arm64\n", "arm64");
    await c().pushBlob("box/multi", arm.layerDigest, arm.layer);
    await c().pushBlob("box/multi", arm.configDigest, arm.config);
    await c().pushBlob("box/multi", img.layerDigest, img.layer, { mountFrom: "box/app" });
    await c().pushBlob("box/multi", img.configDigest, img.config, { mountFrom: "box/app" });
    await c().putManifest("box/multi", arm.manifestDigest, arm.manifest);
    await c().putManifest("box/multi", img.manifestDigest, img.manifest);
    const index = utf8(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: img.manifestDigest, size: img.manifest.byteLength, platform: { os: "linux", architecture: "amd64" } },
        { mediaType: MediaType.OciManifest, digest: arm.manifestDigest, size: arm.manifest.byteLength, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      ],
    }));
    expect(await c().putManifest("box/multi", "latest", index)).toBe(sha256(index));

    const armPick = await c().getImageManifest("box/multi", "latest", { os: "linux", architecture: "arm64" });
    expect(armPick.manifest.digest).toBe(arm.manifestDigest);
    expect(armPick.index?.mediaType).toBe(MediaType.OciIndex);
    const amdPick = await c().getImageManifest("box/multi", "latest", { os: "linux", architecture: "amd64" });
    expect(amdPick.manifest.digest).toBe(img.manifestDigest);
    const err = await failure(c().getImageManifest("box/multi", "latest", { os: "linux", architecture: "s390x" }));
    expectError(err, "E_NOT_FOUND", `${registry?.host}/box/multi:latest has no image for platform linux/s390x (it offers linux/amd64, linux/arm64/v8)`);
  });

  test.skipIf(!hasRegistryBinary)(`missing tags, repositories and blobs are E_NOT_FOUND${SKIP}`, async () => {
    const tag = await failure(c().getManifest("box/app", "nope"));
    expect(tag.code).toBe("E_NOT_FOUND");
    expect(tag.message).toStartWith(`pull manifest ${registry?.host}/box/app:nope: not found (HTTP 404): MANIFEST_UNKNOWN`);
    const repo = await failure(c().listTags("box/nothing-here"));
    expect(repo.code).toBe("E_NOT_FOUND");
    expect(repo.message).toStartWith(`list tags of ${registry?.host}/box/nothing-here: not found (HTTP 404): NAME_UNKNOWN`);
    const blob = await failure(c().getBlob("box/app", sha256(utf8("never pushed"))));
    expect(blob.code).toBe("E_NOT_FOUND");
  });

  test.skipIf(!hasRegistryBinary)(`a manifest whose blobs are missing is refused by the registry${SKIP}`, async () => {
    const lonely = buildImage("never uploaded\n");
    const err = await failure(c().putManifest("box/app", "broken", lonely.manifest));
    expect(err.code).toBe("E_REGISTRY");
    expect(err.message).toStartWith(`push manifest ${registry?.host}/box/app:broken: bad request (HTTP 400): MANIFEST_BLOB_UNKNOWN`);
  });
});

describe("registry client against the real docker-registry with htpasswd auth", () => {
  let registry: RunningRegistry | undefined;
  const auth = { user: "box", password: "correct horse battery staple" };
  const img = buildImage("private bytes\n");

  beforeAll(async () => {
    if (hasRegistryBinary) registry = await startRegistry({ auth });
  });
  afterAll(async () => {
    await registry?.stop();
  });
  const host = (): string => registry?.host ?? "127.0.0.1:1";

  test.skipIf(!hasRegistryBinary)(`anonymous and wrong credentials are E_PERMISSION${SKIP}`, async () => {
    expect(await client(host()).ping()).toEqual({ apiVersion: "registry/2.0", auth: "basic" });
    const anonymous = await failure(client(host()).getManifest("box/private", "v1"));
    expect(anonymous.code).toBe("E_PERMISSION");
    expect(anonymous.message).toStartWith(`pull manifest ${host()}/box/private:v1: unauthorized (HTTP 401)`);
    const wrong = await failure(client(host(), { credentials: { username: "box", password: "wrong" } }).login());
    expect(wrong.code).toBe("E_PERMISSION");
  });

  test.skipIf(!hasRegistryBinary)(`push and pull with Basic credentials${SKIP}`, async () => {
    const c = client(host(), { credentials: { username: auth.user, password: auth.password } });
    await c.login();
    expect(await c.pushBlob("box/private", img.layerDigest, img.layer)).toBe("uploaded");
    expect(await c.pushBlob("box/private", img.configDigest, img.config)).toBe("uploaded");
    expect(await c.putManifest("box/private", "v1", img.manifest)).toBe(img.manifestDigest);
    const { manifest } = await c.getImageManifest("box/private", "v1");
    expect(manifest.digest).toBe(img.manifestDigest);
    const { stream } = await c.getBlob("box/private", img.layerDigest);
    expect(await readAll(stream)).toEqual(img.layer);
    expect(await c.pushBlob("box/private-copy", img.layerDigest, img.layer, { mountFrom: "box/private" })).toBe("mounted");
  });
});
