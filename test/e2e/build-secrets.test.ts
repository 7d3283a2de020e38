/**
 * BuildKit features of `box build` end to end: --secret and RUN --mount=type=secret (seen by the
 * step, absent from every layer, the history and the config, outside the cache key), --ssh and
 * RUN --mount=type=ssh, COPY --exclude and --parents, ADD --checksum against a loopback server.
 * Where buildah (Debian 12: 1.28) supports the same, the result is compared with `buildah bud`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { box, makeEnv, REPO, testUser, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

const SECRET = "s3cr3t-MARKER-one";
const SECRET_ENV = "s3cr3t-MARKER-env";
const sha256 = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");

const SECRETS_DOCKERFILE = `FROM base
RUN --mount=type=secret,id=tok,required=true echo MARKER-secret-step && sha256sum /run/secrets/tok | cut -d' ' -f1 > /tok.sha && stat -c '%a %u:%g' /run/secrets/tok > /tok.stat
RUN --mount=type=secret,id=envtok,env=TOK printf %s "$TOK" | sha256sum | cut -d' ' -f1 > /env.sha && if [ -e /run/secrets/envtok ]; then echo file > /env.only; else echo env-only > /env.only; fi
RUN --mount=type=secret,id=tok,target=/etc/app/token,mode=0440,uid=1000,gid=1000 stat -c '%a %u:%g' /etc/app/token > /custom.stat
RUN --mount=type=secret,id=absent if [ -e /run/secrets/absent ]; then echo mounted; else echo skipped; fi > /absent.txt
`;

/** Every entry name and all file bytes of each layer of a saved image. */
function layersOf(tarPath: string, dir: string): { names: string[]; bytes: string }[] {
  mkdirSync(dir, { recursive: true });
  expect(Bun.spawnSync(["tar", "-xf", tarPath, "-C", dir]).exitCode).toBe(0);
  const blobs = join(dir, "blobs/sha256");
  const out: { names: string[]; bytes: string }[] = [];
  for (const b of readdirSync(blobs)) {
    const list = Bun.spawnSync(["tar", "-tf", join(blobs, b)], { stderr: "pipe" });
    if (list.exitCode !== 0) continue; // a config or a manifest
    const content = Bun.spawnSync(["tar", "-xOf", join(blobs, b)]);
    out.push({ names: list.stdout.toString().split("\n").filter(Boolean), bytes: content.stdout.toString("latin1") });
  }
  return out;
}

describe.skipIf(!can.root)(`box build: secrets, ssh, COPY --exclude/--parents, ADD --checksum${can.root ? "" : " (skipped: needs root)"}`, () => {
  let env: BoxEnv;
  let dir: string;
  let secretFile: string;
  let firstOut = "";
  let firstId = "";
  const build = (args: string[], extraEnv: Record<string, string> = {}) => box(env, ["build", ...args], { timeoutMs: 60000, env: extraEnv });

  beforeAll(async () => {
    env = makeEnv("root");
    dir = mkdtempSync(join(tmpdir(), "box-build-secrets-"));
    mkdirSync(join(dir, "ctx"));
    writeFileSync(join(dir, "ctx/Dockerfile"), SECRETS_DOCKERFILE);
    secretFile = join(dir, "token");
    writeFileSync(secretFile, SECRET);
    const r = await build(["--secret", `id=tok,src=${secretFile}`, "--secret", "id=envtok,env=BOX_TEST_TOKEN", "-t", "sec", join(dir, "ctx")], { BOX_TEST_TOKEN: SECRET_ENV });
    firstOut = r.stdout;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    firstId = r.stdout.trim().split("\n").at(-1) ?? "";
  });
  afterAll(() => {
    env.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the RUN step reads the secret file (mode 0400, root) and the env= variable; a missing optional secret is skipped", async () => {
    expect(firstOut).toContain("MARKER-secret-step\n");
    const r = await box(env, ["run", "--rm", "sec", "cat", "/tok.sha", "/tok.stat", "/env.sha", "/env.only", "/custom.stat", "/absent.txt"]);
    expect(r.stdout).toBe(`${sha256(SECRET)}\n400 0:0\n${sha256(SECRET_ENV)}\nenv-only\n440 1000:1000\nskipped\n`);
  });

  test("the secret is in no layer, and its mount points left no trace", async () => {
    const tar = join(dir, "sec.tar");
    expect((await box(env, ["save", "-o", tar, "sec"])).code).toBe(0);
    const layers = layersOf(tar, join(dir, "saved"));
    expect(layers.length).toBe(5);
    for (const l of layers) {
      expect(l.bytes).not.toContain("s3cr3t");
      expect(l.names.filter((n) => /(^|\/)(run\/secrets|etc\/app|secrets)(\/|$)/.test(n))).toEqual([]);
    }
    // The step layers hold exactly what the commands wrote.
    const steps = layers.filter((l) => !l.names.includes("./bin/busybox")).map((l) => l.names.join(" ")).sort();
    expect(steps).toEqual(["absent.txt", "custom.stat", "env.only env.sha", "tok.sha tok.stat"]);
    const ls = await box(env, ["run", "--rm", "sec", "sh", "-c", "ls -A /run; ls /etc"]);
    expect(ls.stdout).not.toContain("secrets");
    expect(ls.stdout).not.toContain("app");
  });

  test("the secret is in neither the history nor the image config; no container or private copy is left", async () => {
    const h = await box(env, ["history", "--no-trunc", "sec"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("sha256sum /run/secrets/tok");
    expect(h.stdout).not.toContain("s3cr3t");
    const i = await box(env, ["image", "inspect", "sec"]);
    expect(i.stdout).not.toContain("s3cr3t");
    expect(i.stdout).not.toContain("BOX_TEST_TOKEN");
    expect((await box(env, ["ps", "-a", "-q"])).stdout).toBe("");
    const priv = join(env.runroot, "build-secrets");
    expect(existsSync(priv) ? readdirSync(priv) : []).toEqual([]);
  });

  test("a changed secret reuses the cache: the same image, no step run", async () => {
    const other = join(dir, "token2");
    writeFileSync(other, "a-different-secret");
    const r = await build(["--secret", `id=tok,src=${other}`, "--secret", "id=envtok,env=BOX_TEST_TOKEN", "-t", "sec2", join(dir, "ctx")], { BOX_TEST_TOKEN: "changed-too" });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("MARKER-secret-step\n");
    expect(r.stdout.match(/--> Using cache [0-9a-f]{64}\n/g)?.length).toBe(4);
    expect(r.stdout.trim().split("\n").at(-1)).toBe(firstId);
  });

  test("a required secret that was not given fails naming it and how to pass it", async () => {
    const r = await build(["--no-cache", join(dir, "ctx")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Dockerfile:2:1: RUN --mount: secret `tok` is required but was not given to the build");
    expect(r.stderr).toContain("--secret id=tok,src=FILE");
  });

  test("bad --secret specs are refused before anything runs, --check included", async () => {
    const missing = await build(["--secret", `id=tok,src=${join(dir, "nope")}`, join(dir, "ctx")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`--secret id=tok,src=${join(dir, "nope")}: \`${join(dir, "nope")}\`: no such file`);
    const check = await build(["--check", "--secret", `id=tok,src=${secretFile}`, "--ssh", `x=${secretFile}`, join(dir, "ctx")]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("is not a socket");
    const ok = await build(["--check", "--secret", `id=tok,src=${secretFile}`, join(dir, "ctx")]);
    expect(ok).toEqual({ code: 0, stdout: "Check complete, no warnings found.\n", stderr: "" });
    const syntax = join(dir, "syntax");
    mkdirSync(syntax);
    writeFileSync(join(syntax, "Dockerfile"), "FROM base\nRUN --mount=type=secret cat /x\n");
    const bad = await build(["--check", syntax]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Dockerfile:2:1: --mount=type=secret: a secret mount needs id= (or target=)");
  });

  test("--help lists --secret and --ssh", async () => {
    const r = await box(env, ["build", "--help"]);
    expect(r.stdout).toContain("--secret list");
    expect(r.stdout).toContain("--ssh list");
  });

  describe("RUN --mount=type=ssh", () => {
    let sockDir: string;
    let sock: string;
    let server: ReturnType<typeof Bun.listen> | undefined;
    beforeAll(() => {
      sockDir = mkdtempSync(join(tmpdir(), "box-ssh-"));
      sock = join(sockDir, "agent.sock");
      // A stand-in agent: the step only needs a live socket to be forwarded.
      server = Bun.listen({ unix: sock, socket: { data(s) { s.end(); } } });
    });
    afterAll(() => {
      server?.stop(true);
      rmSync(sockDir, { recursive: true, force: true });
    });

    test("the agent socket is mounted at /run/buildkit/ssh_agent.0 with SSH_AUTH_SOCK, or at its target; nothing stays", async () => {
      const ctx = join(sockDir, "ctx");
      mkdirSync(ctx);
      writeFileSync(join(ctx, "Dockerfile"), [
        "FROM base",
        `RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /sock.txt`,
        "RUN --mount=type=ssh,id=other,target=/tmp/agent,required=true test -S /tmp/agent && echo other-ok > /other.txt",
        // mode/uid: a relay socket of the step's own (the relay itself: test/unit/build/agent-proxy.test.ts).
        `RUN --mount=type=ssh,uid=1000,mode=0660 test -S "$SSH_AUTH_SOCK" && stat -c '%a %u:%g' "$SSH_AUTH_SOCK" > /relay.txt`,
        "",
      ].join("\n"));
      const r = await build(["--ssh", "default", "--ssh", `other=${sock}`, "-t", "ssh", ctx], { SSH_AUTH_SOCK: sock });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const run = await box(env, ["run", "--rm", "ssh", "sh", "-c", "cat /sock.txt /other.txt /relay.txt; ls -A /run /tmp"]);
      expect(run.stdout).toBe("/run/buildkit/ssh_agent.0\nother-ok\n660 1000:0\n/run:\n\n/tmp:\n");
      const missing = await build(["--no-cache", "--ssh", `default=${sock}`, ctx]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("Dockerfile:3:1: RUN --mount: ssh agent `other` is required but was not forwarded");
    });
  });

  describe("COPY --exclude and --parents", () => {
    let ctx: string;
    beforeAll(() => {
      ctx = join(dir, "copy");
      for (const d of ["x/sub", "y", "z/keep"]) mkdirSync(join(ctx, d), { recursive: true });
      for (const f of ["x/a.txt", "x/skip.md", "x/sub/deep.md", "x/sub/deep.txt", "y/b.txt", "z/keep/k.txt"]) writeFileSync(join(ctx, f), `${f}\n`);
    });

    test("--parents keeps the source directories (after a /./ pivot); --exclude leaves matches out", async () => {
      writeFileSync(join(ctx, "Dockerfile"), [
        "FROM base",
        "ARG PAT=*.md",
        "COPY --parents ./x/a.txt ./y/b.txt /p/",
        "COPY --parents z/./keep /pivot/",
        "COPY --parents x/sub/*.txt /glob",
        "COPY --exclude=$PAT --exclude=sub/deep.md x /ex/",
        "COPY --exclude=**/*.md x /ex2/",
        "COPY --exclude=*.txt y/* x/a.txt x/skip.md /flat/",
        "",
      ].join("\n"));
      const r = await build(["-q", "-t", "copied", ctx]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const find = await box(env, ["run", "--rm", "copied", "sh", "-c", "find /p /pivot /glob /ex /ex2 /flat | sort"]);
      expect(find.stdout.split("\n").filter(Boolean)).toEqual([
        "/ex", "/ex/a.txt", "/ex/sub", "/ex/sub/deep.txt",
        "/ex2", "/ex2/a.txt", "/ex2/sub", "/ex2/sub/deep.txt",
        "/flat", "/flat/skip.md",
        "/glob", "/glob/x", "/glob/x/sub", "/glob/x/sub/deep.txt",
        "/p", "/p/x", "/p/x/a.txt", "/p/y", "/p/y/b.txt",
        "/pivot", "/pivot/keep", "/pivot/keep/k.txt",
      ]);
    });

    test("the patterns and --parents are part of the cache key; excluded files are not", async () => {
      const again = await build(["-t", "copied", ctx]);
      expect(again.stdout.match(/--> Using cache/g)?.length).toBe(7);
      // Only what is copied is in the key: an excluded file may change.
      writeFileSync(join(ctx, "x/sub/deep.md"), "changed, but excluded everywhere\n");
      const excludedChanged = await build(["-t", "copied", ctx]);
      expect(excludedChanged.stdout.match(/--> Using cache/g)?.length).toBe(7);
      const pat = await build(["-t", "copied2", "--build-arg", "PAT=*.txt", ctx]);
      expect(pat.code).toBe(0);
      // The ARG step and the three COPY before the changed one hit; the changed one and after miss.
      expect(pat.stdout.match(/--> Using cache/g)?.length).toBe(4);
      const ex = await box(env, ["run", "--rm", "copied2", "find", "/ex"]);
      expect(ex.stdout.split("\n").filter(Boolean).sort()).toEqual(["/ex", "/ex/skip.md", "/ex/sub", "/ex/sub/deep.txt"]);
      writeFileSync(join(ctx, "Dockerfile.flat"), "FROM base\nCOPY ./x/a.txt ./y/b.txt /p/\n");
      writeFileSync(join(ctx, "Dockerfile.kept"), "FROM base\nCOPY --parents ./x/a.txt ./y/b.txt /p/\n");
      expect((await build(["-q", "-f", join(ctx, "Dockerfile.flat"), ctx])).code).toBe(0);
      const kept = await build(["-f", join(ctx, "Dockerfile.kept"), "-t", "kept", ctx]);
      expect(kept.stdout).not.toContain("Using cache");
      expect((await box(env, ["run", "--rm", "kept", "find", "/p", "-type", "f"])).stdout.split("\n").filter(Boolean).sort()).toEqual(["/p/x/a.txt", "/p/y/b.txt"]);
    });
  });

  describe("ADD --checksum", () => {
    const BODY = "fetched over loopback\n";
    let server: ReturnType<typeof Bun.serve> | undefined;
    let url = "";
    beforeAll(() => {
      server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(BODY) });
      url = `http://127.0.0.1:${server.port}/file.txt`;
    });
    afterAll(() => {
      server?.stop(true);
    });

    test("a matching digest adds the file; a wrong one fails naming both digests", async () => {
      const ctx = join(dir, "add");
      mkdirSync(ctx);
      writeFileSync(join(ctx, "Dockerfile"), `FROM base\nADD --checksum=sha256:${sha256(BODY)} ${url} /f.txt\n`);
      const good = await build(["-q", "-t", "added", ctx]);
      expect(good.stderr).toBe("");
      expect(good.code).toBe(0);
      expect((await box(env, ["run", "--rm", "added", "cat", "/f.txt"])).stdout).toBe(BODY);
      const wrong = "0".repeat(64);
      writeFileSync(join(ctx, "Dockerfile"), `FROM base\nADD --checksum=sha256:${wrong} ${url} /f.txt\n`);
      const bad = await build(["-q", "-t", "bad", ctx]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`Dockerfile:2:1: ADD: checksum mismatch for ${url}: expected sha256:${wrong}, got sha256:${sha256(BODY)}`);
      expect((await box(env, ["images"])).stdout).not.toContain("bad");
    });
  });

  const buildah = existsSync("/usr/bin/buildah") && existsSync("/usr/bin/podman");
  describe.skipIf(!buildah)(`compared with buildah bud${buildah ? "" : " (skipped: buildah or podman not installed)"}`, () => {
    let store: string;
    let bh: string[];
    const run = (cmd: string[], opts: { env?: Record<string, string> } = {}) => Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...opts.env } });
    beforeAll(() => {
      store = mkdtempSync(join(tmpdir(), "box-buildah-secrets-"));
      bh = ["buildah", "--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", "vfs"];
      const podman = ["podman", "--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", "vfs"];
      const imp = run([...podman, "import", "--change", "CMD [\"/bin/sh\"]", join(REPO, "build/base.tar.gz"), "base"]);
      expect(imp.exitCode).toBe(0);
    });
    afterAll(() => {
      run([...bh, "rm", "--all"]);
      run([...bh, "rmi", "--all", "--force"]);
      rmSync(store, { recursive: true, force: true });
    });

    test("--secret id=,src= and RUN --mount=type=secret: the same files and the same hash", async () => {
      const ctx = join(dir, "cmp");
      mkdirSync(ctx);
      // buildah 1.28 has no env= on secret mounts: the comparison uses the file forms.
      writeFileSync(join(ctx, "Dockerfile"), SECRETS_DOCKERFILE.split("\n").filter((l) => !l.includes("env=")).join("\n"));
      const bud = run([...bh, "bud", "--isolation", "chroot", "--secret", `id=tok,src=${secretFile}`, "-t", "bh", ctx]);
      expect(bud.stderr.toString()).not.toContain("Error");
      expect(bud.exitCode).toBe(0);
      expect((await build(["-q", "--secret", `id=tok,src=${secretFile}`, "-t", "cmp", ctx])).code).toBe(0);
      const ctr = run([...bh, "from", "-q", "bh"]).stdout.toString().trim();
      const mnt = run([...bh, "mount", ctr]).stdout.toString().trim();
      const theirs = run(["sh", "-c", `cd ${mnt} && cat tok.sha tok.stat custom.stat absent.txt; find . -path ./proc -prune -o -path ./sys -prune -o -path ./dev -prune -o -print | sort`]).stdout.toString();
      const ours = await box(env, ["run", "--rm", "cmp", "sh", "-c", "cd / && cat tok.sha tok.stat custom.stat absent.txt; find . -path ./proc -prune -o -path ./sys -prune -o -path ./dev -prune -o -print | sort"]);
      // buildah leaves the mount points it made (BuildKit's stub cleaner removes them, as box does).
      const leftovers = ["./etc/app", "./run/secrets"];
      expect(leftovers.filter((p) => theirs.includes(`${p}\n`))).toEqual(leftovers);
      expect(ours.stdout).toBe(theirs.split("\n").filter((l) => !leftovers.includes(l)).join("\n"));
      run([...bh, "rm", ctr]);
    }, 60000);

    test.skip("COPY --exclude, COPY --parents and ADD --checksum (skipped: buildah 1.28 does not support them)", () => {});
  });
});

const subuid = existsSync("/etc/subuid") && readFileSync("/etc/subuid", "utf8").split("\n").some((l) => l.startsWith(`${testUser?.name}:`));
const rootless = can.root && can.rootlessUser && subuid;
describe.skipIf(!rootless)(`box build --secret, rootless${rootless ? "" : " (skipped: needs root, the boxtest user and an /etc/subuid range; run scripts/setup.sh)"}`, () => {
  let env: BoxEnv;
  let dir: string;
  beforeAll(() => {
    env = makeEnv("rootless");
    dir = mkdtempSync(join(tmpdir(), "box-build-secrets-rl-"));
    const user = env.user as NonNullable<BoxEnv["user"]>;
    chownSync(dir, user.uid, user.gid);
  });
  afterAll(() => {
    env.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the step sees the secret with the uid it asked for (given from a user namespace); nothing stays", async () => {
    const user = env.user as NonNullable<BoxEnv["user"]>;
    const secret = join(dir, "token");
    writeFileSync(secret, SECRET, { mode: 0o600 });
    mkdirSync(join(dir, "ctx"));
    writeFileSync(join(dir, "ctx/Dockerfile"), "FROM base\nRUN --mount=type=secret,id=tok,uid=1000,gid=1000 sha256sum /run/secrets/tok | cut -d' ' -f1 > /h && stat -c '%a %u:%g' /run/secrets/tok >> /h\n");
    for (const p of [secret, join(dir, "ctx"), join(dir, "ctx/Dockerfile")]) chownSync(p, user.uid, user.gid);
    const r = await box(env, ["build", "-q", "--network", "none", "--secret", `id=tok,src=${secret}`, "-t", "rl", join(dir, "ctx")], { timeoutMs: 60000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const run = await box(env, ["run", "--rm", "--network", "none", "rl", "sh", "-c", "cat /h; ls -A /run"]);
    expect(run.stdout).toBe(`${sha256(SECRET)}\n400 1000:1000\n`);
    const priv = join(env.runroot, "build-secrets");
    expect(existsSync(priv) ? readdirSync(priv) : []).toEqual([]);
  });
});
