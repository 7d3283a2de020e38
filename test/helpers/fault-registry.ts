/**
 * A registry that serves one image from memory and misbehaves on request, for what the real
 * registry never does: a wrong blob, a 500 before the answer, a connection cut mid-blob. Loopback only.
 */
import type { BuiltImage } from "./image-builder.ts";

export interface FaultRegistry {
  host: string;
  /** Requests seen, "GET /v2/app/blobs/sha256:…" with " range=…" when a Range was sent. */
  seen: string[];
  stop(): void;
}

export interface Faults {
  /** Serve these bytes instead of the blob with this digest. */
  replaceBlob?: { digest: string; bytes: Uint8Array };
  /** Answer this many requests for each path with 500 first. */
  failFirst?: number;
  /** Cut the connection after this many bytes of every layer blob, unless a Range is asked for. */
  cutBlobsAfter?: number;
  /** Send layer blobs in 64 KiB pieces this many milliseconds apart (a slow link). */
  throttleMs?: number;
  /** Serve this manifest (and media type) for the tag instead of the image's. */
  manifest?: { bytes: Uint8Array; mediaType: string };
}

export function startFaultRegistry(image: BuiltImage, repository: string, tag: string, faults: Faults = {}): FaultRegistry {
  const seen: string[] = [];
  const failures = new Map<string, number>();
  const manifest = faults.manifest ?? { bytes: image.manifest, mediaType: "application/vnd.oci.image.manifest.v1+json" };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // A cut connection is the point of some tests, not a server failure worth logging.
    error: () => new Response(null, { status: 500 }),
    fetch(req) {
      const url = new URL(req.url);
      const range = req.headers.get("range");
      seen.push(`${req.method} ${url.pathname}${range === null ? "" : ` range=${range}`}`);
      if (url.pathname === "/v2/") return new Response("{}", { headers: { "docker-distribution-api-version": "registry/2.0" } });
      const failed = failures.get(url.pathname) ?? 0;
      if (failed < (faults.failFirst ?? 0)) {
        failures.set(url.pathname, failed + 1);
        return new Response("boom", { status: 500 });
      }
      if (url.pathname === `/v2/${repository}/manifests/${tag}`) {
        return new Response(req.method === "HEAD" ? null : manifest.bytes, { headers: { "content-type": manifest.mediaType } });
      }
      if (url.pathname === `/v2/${repository}/manifests/${image.manifestDigest}`) {
        return new Response(image.manifest, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
      }
      const blob = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
      if (blob === null || blob[1] !== repository) return Response.json({ errors: [{ code: "NAME_UNKNOWN", message: "not here" }] }, { status: 404 });
      const digest = blob[2] as string;
      const bytes = faults.replaceBlob?.digest === digest ? faults.replaceBlob.bytes : image.blobs.get(digest);
      if (bytes === undefined) return Response.json({ errors: [{ code: "BLOB_UNKNOWN", message: "no such blob" }] }, { status: 404 });
      if (range !== null) {
        const offset = Number(/^bytes=(\d+)-$/.exec(range)?.[1] ?? 0);
        return new Response(bytes.subarray(offset), { status: 206, headers: { "content-range": `bytes ${offset}-${bytes.length - 1}/${bytes.length}` } });
      }
      const throttle = faults.throttleMs;
      if (throttle !== undefined && digest !== image.configDigest) {
        let at = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (at >= bytes.length) return controller.close();
            await Bun.sleep(throttle);
            controller.enqueue(bytes.subarray(at, at + 65536));
            at += 65536;
          },
        });
        return new Response(body, { headers: { "content-length": String(bytes.length) } });
      }
      const cut = faults.cutBlobsAfter;
      if (cut === undefined || digest === image.configDigest || bytes.length <= cut) return new Response(bytes);
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          // Bun logs the error; the connection is reset, which is the point.
          if (sent) return controller.error(new Error("connection cut by the test (expected)"));
          sent = true;
          controller.enqueue(bytes.subarray(0, cut));
          await Bun.sleep(20);
        },
      });
      return new Response(body, { headers: { "content-length": String(bytes.length) } });
    },
  });
  return { host: `127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}
