/** Registry credentials files (podman's auth.json, docker's config.json) and registries.json. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authFilePath, findCredentials, removeCredentials, saveCredentials } from "../../../core/image/auth-file.ts";
import { normalizeServer } from "../../../core/image/login.ts";
import { loadRegistriesConfig } from "../../../core/image/registries-config.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "box-creds-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("auth files", () => {
  test("the path follows podman: REGISTRY_AUTH_FILE, then XDG_RUNTIME_DIR, then /run/containers/<uid>", () => {
    expect(authFilePath({ REGISTRY_AUTH_FILE: "/x/auth.json", XDG_RUNTIME_DIR: "/run/user/5" }, 5)).toBe("/x/auth.json");
    expect(authFilePath({ XDG_RUNTIME_DIR: "/run/user/5" }, 5)).toBe("/run/user/5/containers/auth.json");
    expect(authFilePath({}, 0)).toBe("/run/containers/0/auth.json");
  });

  test("saved credentials are base64 user:password, mode 0600, found again, and removed", () => {
    const path = join(dir, "containers/auth.json");
    saveCredentials("127.0.0.1:5000", { username: "u", password: "p:w" }, path);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ auths: { "127.0.0.1:5000": { auth: Buffer.from("u:p:w").toString("base64") } } });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(findCredentials("127.0.0.1:5000", { REGISTRY_AUTH_FILE: path })).toEqual({ username: "u", password: "p:w" });
    expect(removeCredentials("127.0.0.1:5000", path)).toBe(true);
    expect(removeCredentials("127.0.0.1:5000", path)).toBe(false);
    expect(findCredentials("127.0.0.1:5000", { REGISTRY_AUTH_FILE: path })).toBeUndefined();
  });

  test("docker's config.json is read too, with Docker Hub under its old URL", () => {
    mkdirSync(join(dir, "docker"));
    writeFileSync(join(dir, "docker/config.json"), JSON.stringify({ auths: { "https://index.docker.io/v1/": { auth: Buffer.from("hub:pw").toString("base64") } }, credsStore: "desktop" }));
    expect(findCredentials("docker.io", { REGISTRY_AUTH_FILE: join(dir, "none.json"), DOCKER_CONFIG: join(dir, "docker") })).toEqual({ username: "hub", password: "pw" });
  });

  test("a broken file is an error that names it", () => {
    const path = join(dir, "auth.json");
    writeFileSync(path, JSON.stringify({ auths: { x: { auth: 5 } } }));
    expect(() => findCredentials("x", { REGISTRY_AUTH_FILE: path })).toThrow(`credentials file \`${path}\` is invalid`);
  });

  test("servers are normalised the way docker login takes them", () => {
    expect(normalizeServer(undefined)).toBe("docker.io");
    expect(normalizeServer("https://index.docker.io/v1/")).toBe("docker.io");
    expect(normalizeServer("https://ghcr.io/")).toBe("ghcr.io");
    expect(() => normalizeServer("not a host")).toThrow('invalid registry "not a host"');
  });
});

describe("registries.json", () => {
  test("absent: no search registries, nothing insecure", () => {
    expect(loadRegistriesConfig({ config: dir, state: "", storage: "", rootless: false })).toEqual({ search: [], insecure: [], path: join(dir, "registries.json") });
  });

  test("read and validated", () => {
    writeFileSync(join(dir, "registries.json"), JSON.stringify({ "unqualified-search-registries": ["quay.io", "docker.io"], "insecure-registries": ["reg.lan:5000"] }));
    expect(loadRegistriesConfig({ config: dir, state: "", storage: "", rootless: false })).toMatchObject({ search: ["quay.io", "docker.io"], insecure: ["reg.lan:5000"] });
    writeFileSync(join(dir, "registries.json"), JSON.stringify({ "unqualified-search-registries": ["https://quay.io"] }));
    expect(() => loadRegistriesConfig({ config: dir, state: "", storage: "", rootless: false })).toThrow("a registry is host[:port], without scheme or path");
  });
});
