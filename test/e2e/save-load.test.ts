/**
 * `box save` and `box load` against the peers: podman loads what box saves (docker-archive and
 * oci-archive), skopeo reads it through its docker-archive:, oci-archive: and oci: transports,
 * and box loads and runs what podman and skopeo write, plain, gzip or zstd, from a file, a
 * directory or a pipe. Bad archives fail with one clear error and leave the store as it was.
 * Podman runs with a private store (vfs driver) in a scratch directory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tarBytes, type TarWriterEntry } from "../../core/image/tar-writer.ts";
import { sha256Digest } from "../../core/schema/oci.ts";
import { box, commandFor, makeEnv, REPO, type BoxEnv } from "../helpers/box.ts";
import { buildImage, file, randomBytes, writeOciLayout, type BuiltImage } from "../helpers/image-builder.ts";
import { can } from "../helpers/requires.ts";

const hasPeers = existsSync("/usr/bin/podman") && existsSync("/usr/bin/skopeo");
const HELLO = "localhost/test/hello:v1";
const HELLO_OUT = "hello from a saved image\n";

function spawn(cmd: string[], opts: { stdin?: Uint8Array } = {}): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", stdin: opts.stdin ?? "ignore" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const quote = (a: string): string => `'${a.replace(/'/g, "'\\''")}'`;

/** A shell pipeline whose box commands are spelled BOX (as the env's user). */
function pipeline(env: BoxEnv, script: string): { code: number; stdout: string; stderr: string } {
  return spawn(["bash", "-o", "pipefail", "-c", script.replaceAll("BOX", commandFor(env, []).map(quote).join(" "))]);
}

function tarList(path: string): string[] {
  return spawn(["tar", "-tf", path]).stdout.split("\n").filter(Boolean);
}

function tarMember(path: string, name: string): string {
  return spawn(["tar", "-xOf", path, name]).stdout;
}

/** A legacy `docker save` archive (uncompressed layers under <id>/layer.tar), built from an image. */
async function legacyDockerArchive(image: BuiltImage, repoTags: string[], edit: (entries: TarWriterEntry[]) => void = () => {}): Promise<Uint8Array> {
  const config = JSON.parse(new TextDecoder().decode(image.config)) as { rootfs: { diff_ids: string[] } };
  const entries: TarWriterEntry[] = [];
  const layers: string[] = [];
  image.layerDigests.forEach((digest, i) => {
    const dir = (config.rootfs.diff_ids[i] as string).slice(7);
    entries.push({ name: `${dir}/VERSION`, type: "file", body: "1.0" });
    entries.push({ name: `${dir}/layer.tar`, type: "file", body: Bun.gunzipSync(image.blobs.get(digest) as Uint8Array<ArrayBuffer>) });
    layers.push(`${dir}/layer.tar`);
  });
  entries.push({ name: `${image.configDigest.slice(7)}.json`, type: "file", body: image.config });
  entries.push({ name: "manifest.json", type: "file", body: JSON.stringify([{ Config: `${image.configDigest.slice(7)}.json`, RepoTags: repoTags, Layers: layers }]) });
  edit(entries);
  return tarBytes(entries);
}

/** The config digest (the image ID) of the single image in a docker or OCI archive. */
function archiveConfig(archive: string, format: "docker-archive" | "oci-archive"): string {
  if (format === "docker-archive") {
    const [item] = JSON.parse(tarMember(archive, "manifest.json")) as { Config: string }[];
    return `sha256:${/([a-f0-9]{64})(\.json)?$/.exec(item?.Config ?? "")?.[1]}`;
  }
  const index = JSON.parse(tarMember(archive, "index.json")) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(tarMember(archive, `blobs/sha256/${index.manifests[0]?.digest.slice(7)}`)) as { config: { digest: string } };
  return manifest.config.digest;
}

/** The same gzip stream with another MTIME in its header: same content, another digest. */
function gzipMtime(gz: Uint8Array): Uint8Array {
  const out = new Uint8Array(gz);
  out[4] = (out[4] as number) ^ 0xff;
  return out;
}

/** The podman CLI on a private store under `dir` (kept short: podman refuses long runroots). */
const podmanIn = (dir: string) => (args: string[]) =>
  spawn(["podman", "--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "vfs", ...args]);

describe.skipIf(!can.root)(`box save and box load (root)${can.root ? "" : " (skipped: needs root)"}`, () => {
  let env: BoxEnv;
  let scratch: string;
  let image: BuiltImage;
  /** Its top layer is in no store: archives that lie about it must be read to be caught. */
  let unseen: BuiltImage;
  const at = (name: string): string => join(scratch, name);
  const images = async (e: BoxEnv = env) => (await box(e, ["images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"])).stdout;
  const fresh = (): BoxEnv => makeEnv("root");

  beforeAll(async () => {
    env = makeEnv("root");
    scratch = mkdtempSync("/tmp/bsl-");
    image = await buildImage({ base: true, layers: [[file("hello.txt", HELLO_OUT)]], cmd: ["cat", "/hello.txt"] });
    unseen = await buildImage({ base: true, layers: [[file("never-loaded.txt", "not in any store\n")]] });
    // An OCI layout whose ref.name is a whole reference, as podman writes it: box names the image so.
    writeOciLayout(at("src"), image, HELLO);
    expect(await box(env, ["load", "-i", at("src")])).toEqual({ code: 0, stdout: "Loaded image: test/hello:v1\n", stderr: "" });
    expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
  });
  afterAll(() => {
    env.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("the loaded layout runs, keeping its config and manifest digests", async () => {
    expect(await box(env, ["run", "--rm", "--network", "none", "test/hello:v1"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
    expect(await images()).toContain(`${image.configDigest} test/hello:v1\n`);
    const inspect = JSON.parse((await box(env, ["image", "inspect", "test/hello:v1"])).stdout) as { Id: string }[];
    expect(inspect[0]?.Id).toBe(image.configDigest);
    const index = JSON.parse(readFileSync(join(env.root, "images.json"), "utf8")) as { images: { names: string[]; manifest: string }[] };
    expect(index.images.find((i) => i.names.includes(HELLO))?.manifest).toBe(image.manifestDigest);
  });

  test("save writes Docker 25+'s layout: manifest.json and repositories inside an OCI image layout", async () => {
    expect(await box(env, ["save", "-o", at("hello.tar"), "test/hello:v1"])).toEqual({ code: 0, stdout: "", stderr: "" });
    const members = tarList(at("hello.tar"));
    expect(members.slice(0, 6)).toEqual(["blobs/", "blobs/sha256/", "oci-layout", "index.json", "manifest.json", "repositories"]);
    const manifest = JSON.parse(tarMember(at("hello.tar"), "manifest.json")) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    // Layers are the blobs as stored (gzip), named by their own digests: no recompression.
    expect(manifest).toEqual([{ Config: `blobs/sha256/${image.configDigest.slice(7)}`, RepoTags: [HELLO], Layers: image.layerDigests.map((d) => `blobs/sha256/${d.slice(7)}`) }]);
    const index = JSON.parse(tarMember(at("hello.tar"), "index.json")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]?.digest).toBe(image.manifestDigest);
    expect(index.manifests[0]?.annotations).toEqual({ "io.containerd.image.name": HELLO, "org.opencontainers.image.ref.name": "v1" });
    expect(JSON.parse(tarMember(at("hello.tar"), "oci-layout"))).toEqual({ imageLayoutVersion: "1.0.0" });
    expect(JSON.parse(tarMember(at("hello.tar"), "repositories"))).toEqual({ "localhost/test/hello": { v1: expect.stringMatching(/^[a-f0-9]{64}$/) } });
    for (const digest of [...image.blobs.keys(), image.manifestDigest]) {
      const bytes = Bun.spawnSync(["tar", "-xOf", at("hello.tar"), `blobs/sha256/${digest.slice(7)}`]).stdout;
      expect(sha256Digest(new Uint8Array(bytes))).toBe(digest);
    }
    // The same images saved twice give the same bytes.
    expect((await box(env, ["image", "save", "-o", at("again.tar"), "test/hello:v1"])).code).toBe(0);
    expect(sha256Digest(readFileSync(at("again.tar")))).toBe(sha256Digest(readFileSync(at("hello.tar"))));
    expect(readdirSync(scratch).filter((n) => n.includes(".box-save-"))).toEqual([]);
  }, 60_000);

  test("box save | box load into a fresh store, and the image runs there with the same digests", async () => {
    const other = fresh();
    try {
      const r = pipeline(env, `BOX save test/hello:v1 | ${commandFor(other, []).map(quote).join(" ")} load`);
      expect(r).toEqual({ code: 0, stdout: "Loaded image: test/hello:v1\n", stderr: "" });
      expect(await box(other, ["run", "--rm", "--network", "none", "test/hello:v1"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
      const [a, b] = await Promise.all([env, other].map(async (e) => JSON.parse((await box(e, ["image", "inspect", "test/hello:v1"])).stdout)[0]));
      expect(b.Id).toBe(a.Id);
      expect(b.RootFS).toEqual(a.RootFS);
    } finally {
      other.dispose();
    }
  }, 60_000);

  test("several images and tags in one archive; an image saved by ID loads untagged", async () => {
    expect((await box(env, ["tag", "base", "mine:v1"])).code).toBe(0);
    expect((await box(env, ["tag", "base", "mine:v2"])).code).toBe(0);
    // A repository without a tag saves every tag of it, as docker does.
    expect((await box(env, ["save", "-o", at("multi.tar"), "test/hello:v1", "mine"])).code).toBe(0);
    const manifest = JSON.parse(tarMember(at("multi.tar"), "manifest.json")) as { RepoTags: string[] }[];
    expect(manifest.map((m) => m.RepoTags)).toEqual([[HELLO], ["mine:v1", "mine:v2"]]);
    const other = fresh();
    try {
      expect(await box(other, ["load", "-i", at("multi.tar")])).toEqual({
        code: 0,
        stdout: "Loaded image: test/hello:v1\nLoaded image: mine:v1\nLoaded image: mine:v2\n",
        stderr: "",
      });
      expect(await box(other, ["run", "--rm", "--network", "none", "mine:v2", "echo", "mine-ok"])).toEqual({ code: 0, stdout: "mine-ok\n", stderr: "" });
      const id = (await box(env, ["images", "-q", "--no-trunc", "mine:v1"])).stdout.trim();
      expect((await box(env, ["save", "-o", at("byid.tar"), id.slice(7, 19)])).code).toBe(0);
      const third = fresh();
      try {
        expect(await box(third, ["image", "load", "-q", "-i", at("byid.tar")])).toEqual({ code: 0, stdout: `Loaded image ID: ${id}\n`, stderr: "" });
      } finally {
        third.dispose();
      }
    } finally {
      other.dispose();
    }
  }, 60_000);

  test("gzip and zstd-compressed archives load from a file, a redirect and a pipe", async () => {
    const tar = readFileSync(at("hello.tar"));
    writeFileSync(at("hello.tar.gz"), Bun.gzipSync(tar));
    writeFileSync(at("hello.tar.zst"), Bun.zstdCompressSync(tar));
    for (const script of [`BOX load -i ${at("hello.tar.gz")}`, `BOX load < ${at("hello.tar.zst")}`, `cat ${at("hello.tar.gz")} | BOX load`, `cat ${at("hello.tar")} | BOX load`]) {
      const other = fresh();
      try {
        expect(pipeline(other, script)).toEqual({ code: 0, stdout: "Loaded image: test/hello:v1\n", stderr: "" });
        expect(await box(other, ["run", "--rm", "--network", "none", "test/hello:v1"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
        // The decompressed copy a pipe needs is gone once the load is done.
        expect(readdirSync(join(other.root, "tmp"))).toEqual([]);
      } finally {
        other.dispose();
      }
    }
  }, 60_000);

  test("a legacy docker save archive (uncompressed <id>/layer.tar) loads and runs", async () => {
    writeFileSync(at("legacy.tar"), await legacyDockerArchive(image, ["legacy/hello:1"]));
    const other = fresh();
    try {
      expect(await box(other, ["load", "-i", at("legacy.tar")])).toEqual({ code: 0, stdout: "Loaded image: legacy/hello:1\n", stderr: "" });
      expect(await box(other, ["run", "--rm", "--network", "none", "legacy/hello:1"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
      expect(await images(other)).toBe(`${image.configDigest} legacy/hello:1\n`);
    } finally {
      other.dispose();
    }
  }, 60_000);

  test("a Docker 25+ docker save archive (uncompressed layers in an OCI layout) loads, keeping its manifest", async () => {
    const config = JSON.parse(new TextDecoder().decode(image.config)) as { rootfs: { diff_ids: string[] } };
    const tars = image.layerDigests.map((d) => Bun.gunzipSync(image.blobs.get(d) as Uint8Array<ArrayBuffer>));
    const manifest = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: image.configDigest, size: image.config.byteLength },
      layers: tars.map((t, i) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: config.rootfs.diff_ids[i], size: t.byteLength })),
    }));
    const manifestDigest = sha256Digest(manifest);
    const blob = (d: string): string => `blobs/sha256/${d.slice(7)}`;
    writeFileSync(at("docker25.tar"), await tarBytes([
      ...tars.map((t, i): TarWriterEntry => ({ name: blob(config.rootfs.diff_ids[i] as string), type: "file", body: t })),
      { name: blob(image.configDigest), type: "file", body: image.config },
      { name: blob(manifestDigest), type: "file", body: manifest },
      { name: "index.json", type: "file", body: JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: manifestDigest, size: manifest.byteLength, annotations: { "io.containerd.image.name": "docker.io/library/d25:latest", "org.opencontainers.image.ref.name": "latest" } }] }) },
      { name: "manifest.json", type: "file", body: JSON.stringify([{ Config: blob(image.configDigest), RepoTags: ["d25:latest"], Layers: config.rootfs.diff_ids.map(blob) }]) },
      { name: "oci-layout", type: "file", body: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
      { name: "repositories", type: "file", body: JSON.stringify({ d25: { latest: (config.rootfs.diff_ids.at(-1) as string).slice(7) } }) },
    ]));
    const other = fresh();
    try {
      expect(await box(other, ["load", "-i", at("docker25.tar")])).toEqual({ code: 0, stdout: "Loaded image: d25:latest\n", stderr: "" });
      expect(await box(other, ["run", "--rm", "--network", "none", "d25"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
      const index = JSON.parse(readFileSync(join(other.root, "images.json"), "utf8")) as { images: { id: string; manifest: string }[] };
      expect(index.images.map((i) => [i.id, i.manifest])).toEqual([[image.configDigest, manifestDigest]]);
    } finally {
      other.dispose();
    }
  }, 60_000);

  test("oci-dir: a directory layout that skopeo reads and box loads back", async () => {
    expect(await box(env, ["save", "--format", "oci-dir", "-o", at("layout"), "test/hello:v1"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readdirSync(at("layout")).sort()).toEqual(["blobs", "index.json", "oci-layout"]);
    if (hasPeers) {
      const inspected = spawn(["skopeo", "inspect", `oci:${at("layout")}:${HELLO}`]);
      expect(inspected.code).toBe(0);
      expect(JSON.parse(inspected.stdout).Digest).toBe(image.manifestDigest);
    }
    const other = fresh();
    try {
      expect(await box(other, ["load", "-i", at("layout")])).toEqual({ code: 0, stdout: "Loaded image: test/hello:v1\n", stderr: "" });
      expect(await box(other, ["run", "--rm", "--network", "none", "test/hello:v1"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
    } finally {
      other.dispose();
    }
    // An existing, non-empty directory is not overwritten.
    const again = await box(env, ["save", "--format", "oci-dir", "-o", at("layout"), "test/hello:v1"]);
    expect(again.code).toBe(125);
    expect(again.stderr).toContain("already exists and is not an empty directory");
  }, 60_000);

  test("save to a terminal is refused with docker's message, before anything is written", async () => {
    if (!can.python) return;
    const r = spawn(["python3", join(REPO, "test/helpers/terminal.py"), "24", "80", JSON.stringify([["wait", 3]]), "--", ...commandFor(env, ["save", "test/hello:v1"])]);
    expect(r.stdout).toContain("box: cowardly refusing to save to a terminal. Use the -o flag or redirect");
    expect(r.stdout.trim().split("\n").at(-1)).toBe("EXIT 125");
    // Nothing but the message reached the terminal.
    expect(r.stdout).not.toContain("oci-layout");
  }, 60_000);

  test("a save that fails leaves no file behind: an unknown image, a corrupt store blob", async () => {
    const missing = await box(env, ["save", "-o", at("none.tar"), "test/hello:v1", "no-such-image"]);
    expect(missing).toEqual({ code: 125, stdout: "", stderr: "box: No such image: no-such-image; see 'box images' for the images in the store\n" });
    expect(existsSync(at("none.tar"))).toBe(false);
    const other = fresh();
    try {
      expect((await box(other, ["load", "-q", "-i", at("hello.tar")])).code).toBe(0);
      const layer = (image.layerDigests.at(-1) as string).slice(7);
      const path = join(other.root, "blobs/sha256", layer);
      const bytes = readFileSync(path);
      bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff;
      writeFileSync(path, bytes);
      const r = await box(other, ["save", "-o", at("corrupt.tar"), "test/hello:v1"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toBe(`box: store blob sha256:${layer} is corrupt: it hashes to sha256:${sha256Digest(bytes).slice(7)}; remove the image and pull it again\n`);
      expect(existsSync(at("corrupt.tar"))).toBe(false);
      expect(readdirSync(scratch).filter((n) => n.includes(".box-save-"))).toEqual([]);
    } finally {
      other.dispose();
    }
  }, 60_000);

  describe("bad archives: one clear error, exit 125, and nothing loaded", () => {
    const cases: [string, () => Promise<Uint8Array | string>, RegExp][] = [
      ["a truncated archive (cut inside a layer)", async () => readFileSync(at("hello.tar")).subarray(0, 200_000), /^box: \S+: archive is truncated: member `blobs\/sha256\/[a-f0-9]{64}` needs \d+ bytes at offset \d+, but the file ends at 200000; /],
      ["a truncated gzip archive", async () => Bun.gzipSync(readFileSync(at("hello.tar"))).subarray(0, 300_000), /^box: \S+: the archive is truncated or corrupt \(gzip stream: unexpected end of file\); /],
      ["an archive cut between members, with no metadata left", async () => (await legacyDockerArchive(image, ["x:1"])).subarray(0, 1024), /^box: \S+: not an image archive: it has neither manifest\.json \(docker-archive\) nor index\.json \(oci-archive\), and no end-of-archive marker: it is probably truncated; /],
      ["manifest.json naming a missing layer", () => legacyDockerArchive(image, ["x:1"], (e) => e.splice(e.map((x) => x.name).findLastIndex((n) => n.endsWith("layer.tar")), 1)), /^box: \S+: manifest\.json names layer `[a-f0-9]{64}\/layer\.tar`, which is not in the archive; /],
      ["a layer whose content does not match its diff_id", () => legacyDockerArchive(unseen, ["x:1"], (e) => {
        const last = e.filter((x) => x.name.endsWith("layer.tar")).at(-1) as TarWriterEntry;
        const body = new Uint8Array(last.body as Uint8Array);
        body[512] = (body[512] as number) ^ 1; // the first byte of never-loaded.txt: still a valid tar
        last.body = body;
      }), /^box: \S+: layer `[a-f0-9]{64}\/layer\.tar`: layer sha256:[a-f0-9]{64}: uncompressed content: digest mismatch: expected sha256:[a-f0-9]{64}, got sha256:[a-f0-9]{64}; /],
      ["an OCI layer blob whose bytes do not match its digest", async () => {
        const entries: TarWriterEntry[] = [
          { name: "oci-layout", type: "file", body: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
          { name: "index.json", type: "file", body: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: unseen.manifestDigest, size: unseen.manifest.byteLength }] }) },
          { name: `blobs/sha256/${unseen.manifestDigest.slice(7)}`, type: "file", body: unseen.manifest },
          ...[...unseen.blobs].map(([d, b]): TarWriterEntry => ({ name: `blobs/sha256/${d.slice(7)}`, type: "file", body: d === unseen.layerDigests.at(-1) ? gzipMtime(b) : b })),
        ];
        return tarBytes(entries);
      }, /^box: \S+: layer `blobs\/sha256\/[a-f0-9]{64}`: layer blob sha256:[a-f0-9]{64}: digest mismatch: expected sha256:[a-f0-9]{64}, got sha256:[a-f0-9]{64}; /],
      ["an OCI blob of another size than its descriptor says", async () => {
        const layer = image.layerDigests.at(-1) as string;
        return tarBytes([
          { name: "index.json", type: "file", body: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.manifestDigest, size: image.manifest.byteLength }] }) },
          { name: `blobs/sha256/${image.manifestDigest.slice(7)}`, type: "file", body: image.manifest },
          ...[...image.blobs].map(([d, b]): TarWriterEntry => ({ name: `blobs/sha256/${d.slice(7)}`, type: "file", body: d === layer ? b.subarray(1) : b })),
        ]);
      }, /^box: \S+: layer sha256:[a-f0-9]{64} is \d+ bytes, but its descriptor says \d+; /],
      ["index.json naming a blob the archive lacks", async () => tarBytes([
        { name: "index.json", type: "file", body: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.manifestDigest, size: image.manifest.byteLength }] }) },
      ]), /^box: \S+: manifest sha256:[a-f0-9]{64} is not in the archive \(no `blobs\/sha256\/[a-f0-9]{64}`\); /],
      ["a member path with ../", async () => tarBytes([{ name: "../evil", type: "file", body: "x" }, { name: "manifest.json", type: "file", body: "[]" }]), /^box: \S+: member path `\.\.\/evil` is absolute or contains `\.\.`; refusing the archive; /],
      ["an absolute member path", async () => tarBytes([{ name: "/etc/evil", type: "file", body: "x" }]), /^box: \S+: member path `\/etc\/evil` is absolute or contains `\.\.`; refusing the archive; /],
      ["a layer that is a link out of the archive", () => legacyDockerArchive(image, ["x:1"], (e) => {
        const last = e.filter((x) => x.name.endsWith("layer.tar")).at(-1) as TarWriterEntry;
        e[e.indexOf(last)] = { name: last.name, type: "symlink", linkname: "../../../etc/passwd" };
      }), /^box: \S+: member `[a-f0-9]{64}\/layer\.tar` links to `\.\.\/\.\.\/\.\.\/etc\/passwd`, outside the archive; /],
      ["a huge manifest.json", async () => tarBytes([{ name: "manifest.json", type: "file", body: `[${" ".repeat(5 << 20)}]` }]), /^box: \S+: manifest `manifest\.json` is 5242882 bytes, over the limit of 4194304 \(4 MiB\); /],
      ["manifest.json that is not a list of images", async () => tarBytes([{ name: "manifest.json", type: "file", body: JSON.stringify({ Config: "x" }) }]), /^box: \S+: invalid manifest\.json: /],
      ["a file that is not an archive", async () => "this is not a tar file\n".repeat(100), /^box: \S+: not an image archive: it is neither a tar file nor a gzip or zstd-compressed one; /],
      ["an empty file", async () => "", /^box: \S+: the archive is empty\n$/],
    ];
    for (const [name, make, message] of cases) {
      test(name, async () => {
        const before = await images();
        const layersBefore = readdirSync(join(env.root, "layers")).sort();
        const path = at(`bad-${name.replace(/\W+/g, "-")}.tar`);
        writeFileSync(path, await make());
        const r = await box(env, ["load", "-i", path]);
        expect(r.code).toBe(125);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(message);
        expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
        expect(await images()).toBe(before);
        expect(readdirSync(join(env.root, "layers")).sort()).toEqual(layersBefore);
        expect(readdirSync(join(env.root, "tmp"))).toEqual([]);
      });
    }

    test("a missing file, a terminal on stdin, and arguments are refused too", async () => {
      expect(await box(env, ["load", "-i", at("nope.tar")])).toEqual({ code: 125, stdout: "", stderr: `box: open ${at("nope.tar")}: no such file or directory\n` });
      expect((await box(env, ["load", "x.tar"])).stderr).toContain("\"box load\" accepts no arguments");
      if (can.python) {
        const r = spawn(["python3", join(REPO, "test/helpers/terminal.py"), "24", "80", JSON.stringify([["wait", 3]]), "--", ...commandFor(env, ["load"])]);
        expect(r.stdout).toContain("box: requested load from stdin, but stdin is a terminal; use the -i flag or redirect an archive into box load");
        expect(r.stdout.trim().split("\n").at(-1)).toBe("EXIT 125");
      }
    });
  });

  describe.skipIf(!hasPeers)(`with podman and skopeo${hasPeers ? "" : " (skipped: podman or skopeo missing; run scripts/setup.sh)"}`, () => {
    let podDir: string;
    let podman: (args: string[]) => { code: number; stdout: string; stderr: string };
    beforeAll(() => {
      podDir = mkdtempSync("/tmp/bsl-p-");
      podman = podmanIn(podDir);
    });
    afterAll(() => rmSync(podDir, { recursive: true, force: true }));

    test("podman loads box's docker-archive: names, image ID and layers intact", async () => {
      expect((await box(env, ["save", "-o", at("multi2.tar"), "test/hello:v1", "mine:v1", "base"])).code).toBe(0);
      const r = podman(["load", "-i", at("multi2.tar")]);
      expect(r.code).toBe(0);
      expect(r.stdout.split("\n").filter((l) => l.startsWith("Loaded image")).sort()).toEqual(
        ["Loaded image: localhost/test/hello:v1", "Loaded image: localhost/mine:v1", "Loaded image: localhost/base:latest"].sort(),
      );
      const id = podman(["image", "inspect", "--format", "{{.Id}} {{.RootFS.Layers}}", HELLO]).stdout.trim();
      const diffIds = (JSON.parse(new TextDecoder().decode(image.config)) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
      expect(id).toBe(`${image.configDigest.slice(7)} [${diffIds.join(" ")}]`);
    }, 60_000);

    test("skopeo reads box's docker-archive through docker-archive: and oci-archive:", async () => {
      const asDocker = spawn(["skopeo", "inspect", `docker-archive:${at("hello.tar")}`]);
      expect(asDocker.code).toBe(0);
      const diffIds = (JSON.parse(new TextDecoder().decode(image.config)) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
      expect(JSON.parse(asDocker.stdout).Layers).toEqual(diffIds);
      const asOci = spawn(["skopeo", "inspect", `oci-archive:${at("hello.tar")}`]);
      expect(asOci.code).toBe(0);
      expect(JSON.parse(asOci.stdout).Digest).toBe(image.manifestDigest);
      // skopeo copies it out to a layout of its own (recompressing), which box loads and runs.
      for (const transport of ["docker-archive", "oci-archive"]) {
        const dir = at(`skopeo-${transport}`);
        const copied = spawn(["skopeo", "copy", "--quiet", `${transport}:${at("hello.tar")}`, `oci:${dir}:${HELLO}`]);
        expect(copied).toMatchObject({ code: 0, stderr: "" });
        const other = fresh();
        try {
          expect(await box(other, ["load", "-i", dir])).toEqual({ code: 0, stdout: "Loaded image: test/hello:v1\n", stderr: "" });
          expect(await box(other, ["run", "--rm", "--network", "none", "test/hello:v1"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
        } finally {
          other.dispose();
        }
      }
    }, 60_000);

    test("podman loads box's oci-archive; skopeo copies it", async () => {
      expect((await box(env, ["save", "--format", "oci-archive", "-o", at("hello-oci.tar"), "test/hello:v1"])).code).toBe(0);
      expect(tarList(at("hello-oci.tar"))).not.toContain("manifest.json");
      const index = JSON.parse(tarMember(at("hello-oci.tar"), "index.json")) as { manifests: { annotations: Record<string, string> }[] };
      expect(index.manifests[0]?.annotations["org.opencontainers.image.ref.name"]).toBe(HELLO);
      const dir = mkdtempSync("/tmp/bsl-q-");
      try {
        const other = podmanIn(dir);
        const r = other(["load", "-i", at("hello-oci.tar")]);
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(`Loaded image: ${HELLO}`);
        expect(other(["image", "inspect", "--format", "{{.Id}}", HELLO]).stdout.trim()).toBe(image.configDigest.slice(7));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      expect(spawn(["skopeo", "copy", "--quiet", `oci-archive:${at("hello-oci.tar")}:${HELLO}`, `oci:${at("from-oci-archive")}:x`]).code).toBe(0);
    }, 60_000);

    for (const format of ["docker-archive", "oci-archive"] as const) {
      test(`podman save --format ${format} loads into box and runs`, async () => {
        if (podman(["image", "exists", HELLO]).code !== 0) expect(podman(["load", "-i", at("hello.tar")]).code).toBe(0);
        const archive = at(`podman-${format}.tar`);
        rmSync(archive, { force: true });
        const saved = podman(["save", "--format", format, "-o", archive, HELLO]);
        expect(saved.code).toBe(0);
        for (const compress of [false, true]) {
          const other = fresh();
          try {
            const input = compress ? `${archive}.gz` : archive;
            if (compress) writeFileSync(input, Bun.gzipSync(readFileSync(archive)));
            expect(await box(other, ["load", "-i", input])).toEqual({ code: 0, stdout: "Loaded image: test/hello:v1\n", stderr: "" });
            expect(await box(other, ["run", "--rm", "--network", "none", "test/hello:v1"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
            // podman rewrites the config when it converts to OCI; box keeps whatever the archive holds.
            expect((await images(other)).trim()).toBe(`${archiveConfig(archive, format)} test/hello:v1`);
          } finally {
            other.dispose();
          }
        }
      }, 60_000);
    }
  });
});

describe.skipIf(!can.rootlessUser)(`box load and run, rootless${can.rootlessUser ? "" : " (skipped: no unprivileged test user; run scripts/setup.sh)"}`, () => {
  let env: BoxEnv;
  let scratch: string;
  beforeAll(() => {
    env = makeEnv("rootless");
    scratch = mkdtempSync("/tmp/bsl-r-");
    const user = env.user as { uid: number; gid: number };
    chownSync(scratch, user.uid, user.gid);
  });
  afterAll(() => {
    env.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("an unprivileged user loads a legacy docker archive and an OCI layout, runs them, and saves back", async () => {
    const image = await buildImage({ base: true, layers: [[file("hello.txt", HELLO_OUT), { name: "big.bin", type: "file", body: randomBytes(1 << 20) }]], cmd: ["cat", "/hello.txt"] });
    const user = env.user as { uid: number; gid: number };
    const legacy = join(scratch, "legacy.tar");
    writeFileSync(legacy, await legacyDockerArchive(image, ["rootless/hello:1"]));
    writeOciLayout(join(scratch, "layout"), image, "localhost/rootless/layout:1");
    for (const p of [legacy, join(scratch, "layout")]) spawn(["chown", "-R", `${user.uid}:${user.gid}`, p]);
    expect(await box(env, ["load", "-i", legacy])).toEqual({ code: 0, stdout: "Loaded image: rootless/hello:1\n", stderr: "" });
    expect(await box(env, ["run", "--rm", "--network", "none", "rootless/hello:1"])).toEqual({ code: 0, stdout: HELLO_OUT, stderr: "" });
    expect(await box(env, ["load", "-i", join(scratch, "layout")])).toEqual({ code: 0, stdout: "Loaded image: rootless/layout:1\n", stderr: "" });
    expect(await box(env, ["run", "--rm", "--network", "none", "rootless/layout:1", "sh", "-c", "wc -c < /big.bin"])).toEqual({ code: 0, stdout: "1048576\n", stderr: "" });
    const out = join(scratch, "out.tar");
    expect(await box(env, ["save", "-o", out, "rootless/hello:1"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(tarList(out)).toContain("manifest.json");
  }, 60_000);
});

