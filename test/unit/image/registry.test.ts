import { describe, expect, test } from "bun:test";
import { BoxError } from "../../../core/errors.ts";
import { basicAuthorization, parseChallenges } from "../../../core/image/registry/auth.ts";
import { isLoopbackRegistry, registryOrigin } from "../../../core/image/registry/client.ts";
import { hostPlatform, normalizePlatform, parsePlatform, selectManifest } from "../../../core/image/registry/platform.ts";
import { backoffDelay, isRetryableStatus, isTransientNetworkError, retryPolicy } from "../../../core/image/registry/retry.ts";
import type { Descriptor } from "../../../core/schema/oci.ts";

describe("parseChallenges", () => {
  test("Docker Hub's Bearer challenge, with a comma inside the quoted scope", () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"')).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/alpine:pull,push" },
      },
    ]);
  });

  test("several challenges, token values, escapes and odd spacing", () => {
    expect(parseChallenges('Basic realm="Registry \\"Realm\\"", Bearer realm=https://a.example/t , error=insufficient_scope')).toEqual([
      { scheme: "basic", params: { realm: 'Registry "Realm"' } },
      { scheme: "bearer", params: { realm: "https://a.example/t", error: "insufficient_scope" } },
    ]);
    expect(parseChallenges("")).toEqual([]);
    expect(parseChallenges("Basic")).toEqual([{ scheme: "basic", params: {} }]);
  });

  test("Basic credentials are base64 of user:password", () => {
    expect(basicAuthorization({ username: "box", password: "s3cr:t" })).toBe(`Basic ${btoa("box:s3cr:t")}`);
  });
});

describe("retry policy", () => {
  test("is bounded at 4 tries whatever the caller asks", () => {
    expect(retryPolicy({ tries: 10 }).tries).toBe(4);
    expect(retryPolicy({ tries: 0 }).tries).toBe(1);
    expect(retryPolicy()).toEqual({ tries: 4, baseDelayMs: 250, maxDelayMs: 4000 });
  });

  test("backs off exponentially, honours Retry-After, and caps both", () => {
    const policy = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, policy))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(1, policy, "0.5")).toBe(500);
    expect(backoffDelay(1, policy, "120")).toBe(1000);
    expect(backoffDelay(2, policy, "Wed, 21 Oct 2015 07:28:00 GMT")).toBe(200);
  });

  test("retries throttling, server errors and dropped connections, not client errors or refusals", () => {
    expect([429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 501].some(isRetryableStatus)).toBe(false);
    expect(isTransientNetworkError(Object.assign(new TypeError("reset"), { code: "ECONNRESET" }))).toBe(true);
    expect(isTransientNetworkError(Object.assign(new TypeError("refused"), { code: "ECONNREFUSED" }))).toBe(false);
    expect(isTransientNetworkError(new Error("no code"))).toBe(false);
  });
});

describe("registry origins", () => {
  test("loopback registries speak plain HTTP unless told otherwise, Docker Hub has its own API host", () => {
    expect(registryOrigin("localhost:5000")).toBe("http://localhost:5000");
    expect(registryOrigin("127.0.0.1:5000")).toBe("http://127.0.0.1:5000");
    expect(registryOrigin("127.3.4.5")).toBe("http://127.3.4.5");
    expect(registryOrigin("[::1]:5000")).toBe("http://[::1]:5000");
    expect(registryOrigin("localhost:5000", false)).toBe("https://localhost:5000");
    expect(registryOrigin("ghcr.io")).toBe("https://ghcr.io");
    expect(registryOrigin("registry.internal:5000", true)).toBe("http://registry.internal:5000");
    expect(registryOrigin("docker.io")).toBe("https://registry-1.docker.io");
    expect(isLoopbackRegistry("localhost.example.com")).toBe(false);
    expect(isLoopbackRegistry("128.0.0.1")).toBe(false);
  });
});

describe("platforms", () => {
  const entry = (architecture: string, variant?: string, os = "linux"): Descriptor => ({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: `sha256:${architecture.padEnd(8, "0").replace(/[^a-f0-9]/g, "0")}${(variant ?? "").replace(/[^0-9]/g, "").padEnd(56, "0")}`,
    size: 100,
    platform: variant === undefined ? { os, architecture } : { os, architecture, variant },
  });
  const index = [entry("amd64"), entry("arm64", "v8"), entry("arm", "v6"), entry("arm", "v7"), entry("unknown", undefined, "unknown")];

  test("host platform follows process.arch", () => {
    expect(hostPlatform("x64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(hostPlatform("arm64")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(hostPlatform("ia32")).toEqual({ os: "linux", architecture: "386" });
    expect(hostPlatform("s390x")).toEqual({ os: "linux", architecture: "s390x" });
    expect(() => hostPlatform("sparc")).toThrow('no OCI platform is known for CPU architecture "sparc"');
  });

  test("aliases and default variants normalise", () => {
    expect(normalizePlatform({ os: "Linux", architecture: "aarch64" })).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(normalizePlatform({ os: "linux", architecture: "x86_64" })).toEqual({ os: "linux", architecture: "amd64", variant: "v1" });
    expect(normalizePlatform({ os: "linux", architecture: "armhf" })).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(normalizePlatform({ os: "linux", architecture: "arm", variant: "6" })).toEqual({ os: "linux", architecture: "arm", variant: "v6" });
    expect(parsePlatform("linux/arm/v7")).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(() => parsePlatform("linux")).toThrow('invalid platform "linux": write it as os/architecture[/variant]');
  });

  test("selects exact matches first, then older variants the machine runs", () => {
    expect(selectManifest(index, { os: "linux", architecture: "amd64" }, "x")).toBe(index[0]!);
    expect(selectManifest(index, { os: "linux", architecture: "arm64" }, "x")).toBe(index[1]!);
    expect(selectManifest(index, { os: "linux", architecture: "aarch64", variant: "v8" }, "x")).toBe(index[1]!);
    expect(selectManifest(index, { os: "linux", architecture: "arm", variant: "v7" }, "x")).toBe(index[3]!);
    expect(selectManifest(index, { os: "linux", architecture: "arm", variant: "v6" }, "x")).toBe(index[2]!);
    expect(selectManifest([index[2]!], { os: "linux", architecture: "arm", variant: "v8" }, "x")).toBe(index[2]!);
    expect(selectManifest(index, { os: "linux", architecture: "amd64", variant: "v3" }, "x")).toBe(index[0]!);
  });

  test("a missing platform names what the index offers", () => {
    let err: unknown;
    try {
      selectManifest(index, { os: "linux", architecture: "s390x" }, "localhost:5000/app:v1");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BoxError);
    expect((err as BoxError).code).toBe("E_NOT_FOUND");
    expect((err as BoxError).message).toBe(
      "localhost:5000/app:v1 has no image for platform linux/s390x (it offers linux/amd64, linux/arm64/v8, linux/arm/v6, linux/arm/v7)",
    );
    // An arm/v5 machine cannot run v6 or v7 images.
    expect(() => selectManifest(index, { os: "linux", architecture: "arm", variant: "v5" }, "x")).toThrow("has no image for platform linux/arm/v5");
  });
});
