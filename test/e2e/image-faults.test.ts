/**
 * Registries that misbehave or want credentials, through the compiled binary: each failure is one
 * clear line and exit 1, the store stays readable (`box images` works) and nothing lands outside
 * it. A fault-injecting Bun.serve plays the broken registry; the reference registry with htpasswd
 * plays the one that wants a login. Loopback only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MediaType, sha256Digest } from "../../core/schema/oci.ts";
import { box, commandFor, makeEnv, REPO, type BoxEnv } from "../helpers/box.ts";
import { startFaultRegistry, type Faults } from "../helpers/fault-registry.ts";
import { buildImage, file, randomBytes, type BuiltImage } from "../helpers/image-builder.ts";
import { hasRegistryBinary, startRegistry, type RunningRegistry } from "../helpers/registry.ts";

let env: BoxEnv;
let scratch: string;
beforeAll(() => {
  env = makeEnv("root");
  scratch = mkdtempSync(join(tmpdir(), "box-faults-"));
});
afterAll(() => {
  env.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

/** Pull `image` from a fault server; the server is stopped afterwards. */
async function pullFrom(image: BuiltImage, faults: Faults = {}): Promise<{ code: number; stdout: string; stderr: string; host: string; seen: string[] }> {
  const srv = startFaultRegistry(image, "app", "v1", faults);
  try {
    const r = await box(env, ["pull", "-q", `${srv.host}/app:v1`]);
    return { ...r, host: srv.host, seen: srv.seen };
  } finally {
    srv.stop();
  }
}

/** After a failure: the store lists fine, and no half-made file was left in it. */
async function expectIntactStore(): Promise<void> {
  expect(await box(env, ["images", "--format", "{{.Repository}}"])).toMatchObject({ code: 0, stderr: "" });
  const tmp = join(env.root, "tmp");
  expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
}

describe("pull from a misbehaving registry", () => {
  test("a blob with the wrong content is refused and not kept", async () => {
    const image = await buildImage({ layers: [[file("a", "content\n")]] });
    const layer = image.layerDigests[0] as string;
    const good = image.blobs.get(layer) as Uint8Array;
    const bad = good.slice();
    bad[bad.length - 5] = (bad[bad.length - 5] as number) ^ 0xff;
    const r = await pullFrom(image, { replaceBlob: { digest: layer, bytes: bad } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`box: pull blob ${r.host}/app@${layer}: digest mismatch: expected ${layer}, got ${sha256Digest(bad)}; the content was corrupted in transit or the registry served the wrong data; nothing was kept, try again\n`);
    expect(existsSync(join(env.root, "blobs/sha256", layer.slice(7)))).toBe(false);
    await expectIntactStore();
  });

  test("a 500 before each answer is retried and the pull succeeds", async () => {
    const image = await buildImage({ base: true, layers: [[file("retried", "yes\n")]], cmd: ["cat", "/retried"] });
    const r = await pullFrom(image, { failFirst: 1 });
    expect(r).toMatchObject({ code: 0, stdout: `${r.host}/app:v1\n`, stderr: "" });
    const blobGets = r.seen.filter((s) => s === `GET /v2/app/blobs/${image.layerDigests[1]}`);
    expect(blobGets).toHaveLength(2);
    expect(await box(env, ["run", "--rm", "--network", "none", `${r.host}/app:v1`])).toEqual({ code: 0, stdout: "yes\n", stderr: "" });
  });

  test("a connection cut mid-blob is resumed with a Range request", async () => {
    const image = await buildImage({ layers: [[{ name: "big", type: "file", body: randomBytes(256 * 1024) }]] });
    const r = await pullFrom(image, { cutBlobsAfter: 10_000 });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.seen).toContain(`GET /v2/app/blobs/${image.layerDigests[0]} range=bytes=10000-`);
    await expectIntactStore();
  });

  test("a pull killed halfway through a blob resumes from the bytes it kept", async () => {
    const image = await buildImage({ layers: [[{ name: "big", type: "file", body: randomBytes(1 << 20) }]] });
    const layer = image.layerDigests[0] as string;
    const srv = startFaultRegistry(image, "app", "v1", { throttleMs: 10 });
    try {
      const proc = Bun.spawn(commandFor(env, ["pull", "-q", `${srv.host}/app:v1`]), { stdout: "ignore", stderr: "ignore" });
      const partial = join(env.root, "partial", layer.slice(7));
      let kept = 0;
      for (let i = 0; i < 400 && kept < 256 * 1024; i++) {
        await Bun.sleep(5);
        kept = existsSync(partial) ? statSync(partial).size : 0;
      }
      proc.kill("SIGKILL");
      await proc.exited;
      kept = statSync(partial).size;
      expect(kept).toBeGreaterThan(0);
      expect(await box(env, ["pull", "-q", `${srv.host}/app:v1`])).toEqual({ code: 0, stdout: `${srv.host}/app:v1\n`, stderr: "" });
      expect(srv.seen).toContain(`GET /v2/app/blobs/${layer} range=bytes=${kept}-`);
      expect(existsSync(partial)).toBe(false);
    } finally {
      srv.stop();
    }
    await expectIntactStore();
  });

  test("an index with only another platform's image names what it offers", async () => {
    const image = await buildImage({ layers: [[file("a", "arm\n")]], architecture: "arm64" });
    const index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ mediaType: MediaType.OciManifest, digest: image.manifestDigest, size: image.manifest.byteLength, platform: { os: "linux", architecture: "arm64" } }],
    }));
    const faults = { manifest: { bytes: index, mediaType: MediaType.OciIndex } };
    const r = await pullFrom(image, faults);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`box: ${r.host}/app:v1 has no image for platform linux/amd64 (it offers linux/arm64); choose one of the offered platforms explicitly\n`);
    await expectIntactStore();
    // Asked for explicitly, the other platform's image is pulled (and shown with its architecture).
    const srv = startFaultRegistry(image, "app", "v1", faults);
    try {
      expect((await box(env, ["pull", "-q", "--platform", "linux/arm64", `${srv.host}/app:v1`])).code).toBe(0);
      expect((await box(env, ["image", "inspect", "-f", "{{.Architecture}}", `${srv.host}/app:v1`])).stdout).toBe("arm64\n");
    } finally {
      srv.stop();
    }
  });

  test("a layer that tries to write outside its root is refused, and nothing is written outside", async () => {
    const marker = join(tmpdir(), `box-escape-${process.pid}-${Date.now()}`);
    for (const [name, entries] of [
      ["../ in a name", [file(`../../../../../../../../../../..${marker}`, "pwned\n")]],
      ["a hard link to ../", [{ name: "h", type: "hardlink" as const, linkname: "../../../../../../../../etc/passwd" }]],
    ] as const) {
      const image = await buildImage({ layers: [[...entries]] });
      const r = await pullFrom(image);
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toMatch(new RegExp(`^box: layer ${image.layerDigests[0]}: entry \`[^\`]+\` escapes the layer root; the layer archive is malformed or hostile; it was not unpacked\n$`));
    }
    expect(existsSync(marker)).toBe(false);
    await expectIntactStore();
  });

  test("an absolute symlink is followed inside the layer, never on the host", async () => {
    const outside = join(scratch, "outside");
    mkdirSync(outside);
    const image = await buildImage({ layers: [[{ name: "link", type: "symlink", linkname: outside }, file("link/pwned", "inside\n")]] });
    const r = await pullFrom(image);
    expect(r.code).toBe(0);
    expect(readdirSync(outside)).toEqual([]);
    const layers = readdirSync(join(env.root, "layers")).map((d) => join(env.root, "layers", d, "diff", outside, "pwned"));
    expect(layers.filter((p) => existsSync(p)).map((p) => readFileSync(p, "utf8"))).toEqual(["inside\n"]);
  });

  test("a config whose diff_ids do not match the layers is refused", async () => {
    const image = await buildImage({ layers: [[file("a", "x\n")]], wrongDiffId: true });
    const r = await pullFrom(image);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(`box: layer ${image.layerDigests[0]}: uncompressed content: digest mismatch: expected ${sha256Digest(new TextEncoder().encode("lie"))}, got sha256:`);
    expect(readdirSync(join(env.root, "layers"))).not.toContain(sha256Digest(new TextEncoder().encode("lie")).slice(7));
    await expectIntactStore();
  });
});

describe.skipIf(!hasRegistryBinary)("a registry behind htpasswd: login, logout and credentials files", () => {
  let reg: RunningRegistry;
  let authfile: string;
  const user = { user: "boxer", password: "s3cret-pass" };
  beforeAll(async () => {
    reg = await startRegistry({ auth: user });
    authfile = join(scratch, "auth.json");
    await box(env, ["pull", "-q", "base"]);
  });
  afterAll(async () => {
    await reg.stop();
  });

  test("push without credentials is refused; login checks the password; then push and pull work", async () => {
    const opts = { env: { REGISTRY_AUTH_FILE: authfile } };
    const refused = await box(env, ["push", "-q", "base", `${reg.host}/private/base:v1`], opts);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toStartWith(`box: check blob ${reg.host}/private/base@sha256:`);
    expect(refused.stderr).toContain(": unauthorized (HTTP 401)");
    const wrong = await box(env, ["login", "-u", user.user, "-p", "wrong", reg.host], opts);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toStartWith(`box: log in to ${reg.host}: unauthorized (HTTP 401)`);
    expect(existsSync(authfile)).toBe(false);
    const ok = await box(env, ["login", "-u", user.user, "--password-stdin", reg.host], { ...opts, stdin: `${user.password}\n` });
    expect(ok).toEqual({ code: 0, stdout: "Login Succeeded\n", stderr: "" });
    const stored = JSON.parse(readFileSync(authfile, "utf8")) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(stored.auths[reg.host]?.auth ?? "", "base64").toString()).toBe(`${user.user}:${user.password}`);
    expect(await box(env, ["push", "-q", "base", `${reg.host}/private/base:v1`], opts)).toEqual({ code: 0, stdout: `${reg.host}/private/base:v1\n`, stderr: "" });
    const fresh = makeEnv("root");
    try {
      expect((await box(fresh, ["pull", "-q", `${reg.host}/private/base:v1`], opts)).code).toBe(0);
      expect(await box(env, ["logout", reg.host], opts)).toEqual({ code: 0, stdout: `Removing login credentials for ${reg.host}\n`, stderr: "" });
      expect(await box(env, ["logout", reg.host], opts)).toEqual({ code: 0, stdout: `Not logged in to ${reg.host}\n`, stderr: "" });
      await box(fresh, ["rmi", `${reg.host}/private/base:v1`]);
      const after = await box(fresh, ["pull", "-q", `${reg.host}/private/base:v1`], opts);
      expect(after.code).toBe(1);
      expect(after.stderr).toContain("unauthorized (HTTP 401)");
      // docker's config.json is read too, so a `docker login` done before is honoured.
      const dockerDir = join(scratch, "docker");
      mkdirSync(dockerDir, { recursive: true });
      writeFileSync(join(dockerDir, "config.json"), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${user.user}:${user.password}`).toString("base64") } } }));
      const viaDocker = await box(fresh, ["pull", "-q", `${reg.host}/private/base:v1`], { env: { REGISTRY_AUTH_FILE: authfile, DOCKER_CONFIG: dockerDir } });
      expect(viaDocker).toEqual({ code: 0, stdout: `${reg.host}/private/base:v1\n`, stderr: "" });
    } finally {
      fresh.dispose();
    }
  });

  test("at a terminal, login asks for the username and the password, and the password is not echoed", async () => {
    const steps = [["expect", "Username: ", 10], ["send", `${user.user}\r`], ["expect", "Password: ", 5], ["send", `${user.password}\r`], ["expect", "Login Succeeded", 10]];
    const p = Bun.spawn(["python3", join(REPO, "test/helpers/terminal.py"), "24", "80", JSON.stringify(steps), "--", ...commandFor(env, ["login", reg.host])], {
      stdout: "pipe", stderr: "pipe", env: { ...process.env, REGISTRY_AUTH_FILE: authfile },
    });
    const transcript = await new Response(p.stdout).text();
    await p.exited;
    expect(transcript).toContain(`Username: ${user.user}`);
    expect(transcript).toContain("Login Succeeded");
    expect(transcript).not.toContain(user.password);
    expect(transcript.trim().split("\n").at(-1)).toBe("EXIT 0");
    const stored = JSON.parse(readFileSync(authfile, "utf8")) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(stored.auths[reg.host]?.auth ?? "", "base64").toString()).toBe(`${user.user}:${user.password}`);
    await box(env, ["logout", reg.host], { env: { REGISTRY_AUTH_FILE: authfile } });
    // Not at a terminal, nothing is asked: the missing flags are named.
    const piped = await box(env, ["login", reg.host], { env: { REGISTRY_AUTH_FILE: authfile } });
    expect(piped.code).toBe(125);
    expect(piped.stderr).toStartWith("box: box login needs a username and a password");
  });
});
