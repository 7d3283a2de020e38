/**
 * Containers run with --network none: networking is not what these tests are about.
 *
 * The image commands through the compiled binary, against the reference registry (Debian's
 * docker-registry) and skopeo on 127.0.0.1: push, pull, run, list, tag, remove, prune, inspect,
 * history, and a pull killed halfway. Registry faults and authentication are in image-faults.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { box, commandFor, makeEnv, type BoxEnv } from "../helpers/box.ts";
import { buildImage, file, pushBuilt, randomBytes, writeOciLayout } from "../helpers/image-builder.ts";
import { hasRegistryBinary, startRegistry, type RunningRegistry } from "../helpers/registry.ts";
import { can } from "../helpers/requires.ts";

const hasSkopeo = existsSync("/usr/bin/skopeo");

describe.skipIf(!hasRegistryBinary)(`images against the reference registry${hasRegistryBinary ? "" : " (skipped: /usr/bin/docker-registry is missing; run scripts/setup.sh)"}`, () => {
  let reg: RunningRegistry;
  let env: BoxEnv;
  let scratch: string;
  beforeAll(async () => {
    reg = await startRegistry();
    env = makeEnv("root");
    scratch = mkdtempSync(join(tmpdir(), "box-image-e2e-"));
    await box(env, ["pull", "-q", "base"]);
    await pushBuilt(reg.host, "box/autopull", "latest", await buildImage({ base: true, layers: [[file("hello.txt", "auto-pulled\n")]], cmd: ["cat", "/hello.txt"] }));
  });
  afterAll(async () => {
    await reg.stop();
    env.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("base is pushed to a registry, pulled into an empty store and run from there", async () => {
    expect(await box(env, ["pull", "-q", "base"])).toEqual({ code: 0, stdout: "base:latest\n", stderr: "" });
    const pushed = await box(env, ["push", "base", `${reg.host}/box/base:v1`]);
    expect(pushed.stderr).toBe("");
    expect(pushed.stdout).toMatch(new RegExp(`^The push refers to repository \\[${reg.host}/box/base\\]\nv1: digest: sha256:[a-f0-9]{64} size: \\d+\n$`));
    const fresh = makeEnv("root");
    try {
      const pulled = await box(fresh, ["pull", `${reg.host}/box/base:v1`]);
      const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed.stdout)?.[1];
      expect(pulled).toEqual({
        code: 0,
        stdout: `Digest: ${digest}\nStatus: Downloaded newer image for ${reg.host}/box/base:v1\n${reg.host}/box/base:v1\n`,
        stderr: "",
      });
      const again = await box(fresh, ["pull", `${reg.host}/box/base:v1`]);
      expect(again.stdout).toContain(`Status: Image is up to date for ${reg.host}/box/base:v1\n`);
      const run = await box(fresh, ["run", "--rm", "--network", "none", `${reg.host}/box/base:v1`, "sh", "-c", "echo pulled-and-ran; cat /etc/os-release | head -1"]);
      expect(run).toEqual({ code: 0, stdout: "pulled-and-ran\nNAME=\"box base\"\n", stderr: "" });
      // The same image ID on both sides: the push sent the stored manifest byte for byte.
      const ids = await Promise.all([env, fresh].map((e) => box(e, ["images", "-q", "--no-trunc"])));
      expect(ids[1]?.stdout).toBe(ids[0]?.stdout as string);
    } finally {
      fresh.dispose();
    }
  });

  test("a chunked push is read back whole; pushing again finds every blob present", async () => {
    const target = `${reg.host}/box/chunked:v1`;
    expect(await box(env, ["push", "-q", "--chunk-size", "65536", "base", target])).toEqual({ code: 0, stdout: `${target}\n`, stderr: "" });
    expect((await box(env, ["push", "-q", "base", target])).code).toBe(0);
    const fresh = makeEnv("root");
    try {
      expect((await box(fresh, ["pull", "-q", target])).code).toBe(0);
      expect(await box(fresh, ["run", "--rm", "--network", "none", target, "echo", "chunks-ok"])).toEqual({ code: 0, stdout: "chunks-ok\n", stderr: "" });
    } finally {
      fresh.dispose();
    }
  });

  test("box run pulls an image that is not local, as docker run does; --pull never and always", async () => {
    const never = await box(env, ["run", "--rm", "--pull", "never", "--network", "none", `${reg.host}/box/autopull`]);
    expect(never).toEqual({ code: 125, stdout: "", stderr: `box: image \`${reg.host}/box/autopull\` is not known locally and --pull=never forbids pulling it; pull it first with box pull ${reg.host}/box/autopull\n` });
    const run = await box(env, ["run", "--rm", "--network", "none", `${reg.host}/box/autopull`]);
    // The reason goes to stderr, as docker's does, so the container's stdout stays its own.
    expect(run).toEqual({ code: 0, stdout: "auto-pulled\n", stderr: `Unable to find image '${reg.host}/box/autopull' locally\n` });
    const local = await box(env, ["run", "--rm", "--network", "none", `${reg.host}/box/autopull`]);
    expect(local).toEqual({ code: 0, stdout: "auto-pulled\n", stderr: "" });
    const always = await box(env, ["run", "--rm", "--pull", "always", "--network", "none", `${reg.host}/box/autopull`]);
    expect(always).toEqual({ code: 0, stdout: "auto-pulled\n", stderr: "" });
    expect((await box(env, ["run", "--rm", "--pull", "sometimes", "base", "true"])).stderr).toBe("box: --pull: invalid pull policy `sometimes`; use missing (the default), always or never\n");
    expect((await box(env, ["images", "--format", "{{.Repository}}:{{.Tag}}", `${reg.host}/box/autopull`])).stdout).toBe(`${reg.host}/box/autopull:latest\n`);
  });

  test("a pull by digest stores the image untagged, found again by that digest", async () => {
    const other = makeEnv("root");
    try {
      // In a fresh store, tag imports the built-in base on first mention, as run does.
      expect(await box(other, ["tag", "base", `${reg.host}/box/bydigest:v1`])).toEqual({ code: 0, stdout: "", stderr: "" });
      const pushed = await box(other, ["push", `${reg.host}/box/bydigest:v1`]);
      const digest = /digest: (sha256:[a-f0-9]{64})/.exec(pushed.stdout)?.[1] as string;
      const byDigest = `${reg.host}/box/bydigest@${digest}`;
      const third = makeEnv("root");
      try {
        expect(await box(third, ["pull", "-q", byDigest])).toEqual({ code: 0, stdout: `${byDigest}\n`, stderr: "" });
        expect((await box(third, ["images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"])).stdout).toBe(`<none> <none> ${digest}\n`);
        expect(await box(third, ["run", "--rm", "--network", "none", byDigest, "echo", "by-digest"])).toEqual({ code: 0, stdout: "by-digest\n", stderr: "" });
      } finally {
        third.dispose();
      }
    } finally {
      other.dispose();
    }
  });

  test("images: docker's table, -q, --digests, a Go template and json", async () => {
    const table = await box(env, ["images"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
    expect(lines).toContainEqual(expect.stringMatching(/^base +latest +[a-f0-9]{12} +\d+ years ago +1\.\d+MB$/));
    const quiet = await box(env, ["images", "-q"]);
    expect(quiet.stdout).toMatch(/^([a-f0-9]{12}\n)+$/);
    const template = await box(env, ["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(template.stdout.split("\n").filter(Boolean).sort()).toEqual([`${reg.host}/box/autopull:latest`, "base:latest"].sort());
    const json = await box(env, ["image", "ls", "--format", "json"]);
    const rows = json.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    expect(rows.find((r) => r.Repository === "base")).toMatchObject({ Tag: "latest", Size: expect.stringMatching(/MB$/), ID: expect.stringMatching(/^[a-f0-9]{12}$/) });
    const digests = await box(env, ["images", "--digests", `${reg.host}/box/autopull`]);
    expect(digests.stdout).toMatch(new RegExp(`^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE\n${reg.host}/box/autopull +latest +sha256:[a-f0-9]{64} +[a-f0-9]{12} `));
  });

  test("tag adds a name, rmi takes names away and deletes the image with its last one", async () => {
    expect(await box(env, ["tag", "base", "mine:v1"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(await box(env, ["rmi", "mine:v1"])).toEqual({ code: 0, stdout: "Untagged: mine:v1\n", stderr: "" });
    await box(env, ["tag", "base", "mine:v2"]);
    const id = (await box(env, ["images", "-q", "mine:v2"])).stdout.trim();
    const conflict = await box(env, ["rmi", id]);
    expect(conflict).toEqual({ code: 1, stdout: "", stderr: `box: conflict: unable to delete ${id} (must be forced) - image is referenced in multiple repositories; remove it by name, or use -f to remove every name\n` });
    expect(await box(env, ["rmi", "nosuch:tag"])).toEqual({ code: 1, stdout: "", stderr: "box: No such image: nosuch:tag; see 'box images' for the images in the store\n" });
    expect(await box(env, ["image", "rm", "mine:v2"])).toEqual({ code: 0, stdout: "Untagged: mine:v2\n", stderr: "" });
  });

  test("an image a container uses is kept, under any name: rmi refuses, rmi -f only untags it", async () => {
    const other = makeEnv("root");
    try {
      await box(other, ["pull", "-q", "base"]);
      await box(other, ["tag", "base", "inuse:1"]);
      // A real container, made from the image by one name that is then taken away.
      const created = await box(other, ["create", "--name", "user", "--network", "none", "inuse:1", "true"]);
      expect(created.code).toBe(0);
      expect((await box(other, ["rmi", "base"])).code).toBe(0);
      const refused = await box(other, ["rmi", "inuse:1"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^box: conflict: unable to remove repository reference "inuse:1" \(must force\) - container [a-f0-9]{12} is using its referenced image [a-f0-9]{12}; /);
      const forced = await box(other, ["rmi", "-f", "inuse:1"]);
      expect(forced).toEqual({ code: 0, stdout: "Untagged: inuse:1\n", stderr: "" });
      const left = await box(other, ["images", "--format", "{{.Repository}} {{.Tag}}"]);
      expect(left.stdout).toBe("<none> <none>\n");
      // Untagged but still used: neither prune nor prune -a takes it, and the container still runs.
      expect((await box(other, ["image", "prune", "-a", "-f"])).stdout).toBe("Total reclaimed space: 0B\n");
      expect(await box(other, ["start", "-a", "user"])).toEqual({ code: 0, stdout: "", stderr: "" });
      expect((await box(other, ["rm", "user"])).code).toBe(0);
      const pruned = await box(other, ["image", "prune", "-f"]);
      expect(pruned.stdout).toMatch(/^Deleted Images:\ndeleted: sha256:[a-f0-9]{64}\n\nTotal reclaimed space: \d(\.\d+)?MB\n$/);
      expect(readdirSync(join(other.root, "blobs/sha256"))).toEqual([]);
      expect(readdirSync(join(other.root, "layers"))).toEqual([]);
    } finally {
      other.dispose();
    }
  });

  test("image inspect is a docker-shaped array; history lists the steps", async () => {
    const r = await box(env, ["image", "inspect", "base"]);
    expect(r.code).toBe(0);
    const [info] = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(info).toMatchObject({
      Id: expect.stringMatching(/^sha256:[a-f0-9]{64}$/),
      RepoTags: expect.arrayContaining(["base:latest"]),
      Os: "linux",
      Config: { Cmd: ["/bin/sh"], Env: [expect.stringMatching(/^PATH=/)] },
      RootFS: { Type: "layers", Layers: [expect.stringMatching(/^sha256:/)] },
    });
    expect((await box(env, ["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "base"])).stdout).toMatch(/^linux\/\w+\n$/);
    const missing = await box(env, ["image", "inspect", "nosuch"]);
    expect(missing).toEqual({ code: 1, stdout: "[]\n", stderr: "box: No such image: nosuch; see 'box images' for the images in the store\n" });
    await box(env, ["pull", "-q", `${reg.host}/box/autopull`]);
    const history = await box(env, ["history", `${reg.host}/box/autopull`]);
    const lines = history.stdout.split("\n");
    expect(lines[0]).toMatch(/^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
    expect(lines[1]).toMatch(/^[a-f0-9]{12} +\d+ years ago +test layer 1 +12B$/);
    expect(lines[2]).toMatch(/^<missing> +\d+ years ago +test layer 0 +1\.\d+MB$/);
    expect(lines.slice(3)).toEqual([""]);
  });

  test.skipIf(!hasSkopeo)("skopeo → box: an image skopeo pushed as docker schema 2 is pulled and run", async () => {
    const image = await buildImage({ base: true, layers: [[file("etc/motd", "from skopeo\n")], [file("data/n", "2\n")]], cmd: ["cat", "/etc/motd", "/data/n"] });
    const layoutDir = join(scratch, "oci-src");
    writeOciLayout(layoutDir, image, "v1");
    const copied = Bun.spawnSync(["skopeo", "copy", "--quiet", "--format", "v2s2", "--dest-tls-verify=false", `oci:${layoutDir}:v1`, `docker://${reg.host}/skopeo/img:v1`]);
    expect(copied.stderr.toString()).toBe("");
    const run = await box(env, ["run", "--rm", "--network", "none", `${reg.host}/skopeo/img:v1`]);
    expect(run).toEqual({ code: 0, stdout: "from skopeo\n2\n", stderr: `Unable to find image '${reg.host}/skopeo/img:v1' locally\n` });
    const inspect = JSON.parse((await box(env, ["image", "inspect", `${reg.host}/skopeo/img:v1`])).stdout) as { Manifest: { MediaType: string } }[];
    expect(inspect[0]?.Manifest.MediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
  });

  test.skipIf(!hasSkopeo)("box → skopeo: an image box pushed is copied and checked by skopeo", async () => {
    const pushed = await box(env, ["push", "-q", "base", `${reg.host}/box/forskopeo:v2`]);
    expect(pushed).toEqual({ code: 0, stdout: `${reg.host}/box/forskopeo:v2\n`, stderr: "" });
    const dest = join(scratch, "oci-dest");
    const copied = Bun.spawnSync(["skopeo", "copy", "--quiet", "--src-tls-verify=false", `docker://${reg.host}/box/forskopeo:v2`, `oci:${dest}:v2`]);
    expect(copied.stderr.toString()).toBe("");
    expect(copied.exitCode).toBe(0);
    const inspected = Bun.spawnSync(["skopeo", "inspect", "--config", `oci:${dest}:v2`]);
    const config = JSON.parse(inspected.stdout.toString()) as { config: { Cmd: string[] }; rootfs: { diff_ids: string[] } };
    expect(config.config.Cmd).toEqual(["/bin/sh"]);
    expect(config.rootfs.diff_ids).toHaveLength(1);
  });

  test("a missing tag is a clear error, and the store stays usable", async () => {
    const r = await box(env, ["pull", `${reg.host}/box/base:nosuchtag`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`box: pull manifest ${reg.host}/box/base:nosuchtag: not found (HTTP 404): MANIFEST_UNKNOWN: manifest unknown; check the name and tag of ${reg.host}/box/base:nosuchtag; list the repository's tags to see what exists\n`);
    expect((await box(env, ["images", "-q"])).code).toBe(0);
  });

  test("a short name is pulled only through the configured search registries", async () => {
    const refused = await box(env, ["run", "--rm", "--network", "none", "autopull", "true"]);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toStartWith("Unable to find image 'autopull' locally\nbox: image `autopull` is not known locally, and no search registries are configured to pull a short name from; ");
    const config = join(scratch, "config");
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, "registries.json"), JSON.stringify({ "unqualified-search-registries": [reg.host] }));
    const found = await box(env, ["run", "--rm", "--network", "none", "box/autopull"], { env: { BOX_CONFIG: config } });
    expect(found).toEqual({ code: 0, stdout: "auto-pulled\n", stderr: "" });
  });

  test("a pull killed with SIGKILL halfway leaves a store the next command reads, and the pull can be redone", async () => {
    const big = await buildImage({ base: true, layers: [0, 1, 2].map((i) => [{ name: `blob${i}`, type: "file" as const, body: randomBytes(12 << 20) }]) });
    await pushBuilt(reg.host, "box/big", "latest", big);
    const victim = makeEnv("root");
    try {
      const proc = Bun.spawn(commandFor(victim, ["pull", "-q", `${reg.host}/box/big`]), { stdout: "ignore", stderr: "ignore" });
      const tmp = join(victim.root, "tmp");
      for (let i = 0; i < 500 && !(existsSync(tmp) && readdirSync(tmp).some((n) => n.startsWith("layer-"))); i++) await Bun.sleep(5);
      proc.kill("SIGKILL");
      await proc.exited;
      expect(await box(victim, ["images", "-q"])).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(readdirSync(tmp).length).toBeGreaterThan(0);
      const redo = await box(victim, ["pull", "-q", `${reg.host}/box/big`]);
      expect(redo).toEqual({ code: 0, stdout: `${reg.host}/box/big:latest\n`, stderr: "" });
      const run = await box(victim, ["run", "--rm", "--network", "none", `${reg.host}/box/big`, "sh", "-c", "wc -c < /blob2"]);
      expect(run.stdout.trim()).toBe(String(12 << 20));
      // The killed pull's half-made files were swept by the next one.
      expect(readdirSync(tmp)).toEqual([]);
      // Parallel pulls of the same image into one store: both succeed, one copy of each layer.
      await box(victim, ["rmi", `${reg.host}/box/big`]);
      const both = await Promise.all([1, 2].map(() => box(victim, ["pull", "-q", `${reg.host}/box/big`])));
      expect(both.map((r) => r.code)).toEqual([0, 0]);
      expect(readdirSync(join(victim.root, "layers"))).toHaveLength(4);
      expect(readdirSync(join(victim.root, "tmp"))).toEqual([]);
    } finally {
      victim.dispose();
    }
  }, 30_000);

  test("info names the storage, state and driver, and counts images", async () => {
    const r = await box(env, ["info"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Storage Root: ${env.root}\n`);
    expect(r.stdout).toContain(`State Root: ${env.runroot}\n`);
    expect(r.stdout).toContain("Storage Driver: overlay\n Mode: kernel overlay");
    expect(r.stdout).toMatch(/\nImages: [1-9]\d*\n/);
    expect(r.stdout).toMatch(/\nCgroup Layout: (v1|v2)/);
    const json = JSON.parse((await box(env, ["info", "--format", "json"])).stdout) as { rootless: boolean };
    expect(json.rootless).toBe(false);
  });

  const unavailable = !can.rootlessUser;
  test.skipIf(unavailable)(`rootless: an unprivileged user pulls and runs an image${unavailable ? " (skipped: no unprivileged test user; run scripts/setup.sh)" : ""}`, async () => {
    const user = makeEnv("rootless");
    try {
      const pulled = await box(user, ["pull", "-q", `${reg.host}/box/autopull`]);
      expect(pulled).toEqual({ code: 0, stdout: `${reg.host}/box/autopull:latest\n`, stderr: "" });
      const run = await box(user, ["run", "--rm", "--network", "none", `${reg.host}/box/autopull`]);
      expect(run).toEqual({ code: 0, stdout: "auto-pulled\n", stderr: "" });
      const info = await box(user, ["info"]);
      expect(info.stdout).toContain("Rootless: true\n");
      expect(info.stdout).toContain(" Mode: kernel overlay, userxattr (in a user namespace)\n");
    } finally {
      user.dispose();
    }
  });
});
