/**
 * Containers run with --network none: networking is not what these tests are about.
 *
 * File owners of image layers in rootless containers. A plain user cannot chown to ids other than
 * their own, so box gives layer files their owners from a user namespace mapping the user's
 * /etc/subuid range (core/image/userns-chown.ts). Each test runs the same image as root and as the
 * unprivileged test user and expects the same owners and modes inside; a layer that tries to reach
 * out of its root through a symlink chowns nothing outside; a user without subordinate ids still
 * pulls and runs (owners then collapse to the user, root in the container).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tarBytes } from "../../core/image/tar-writer.ts";
import { lgetxattr } from "../../ffi/fsnodes.ts";
import { box, makeEnv, testUser, type BoxEnv } from "../helpers/box.ts";
import { buildImage, file, pushBuilt } from "../helpers/image-builder.ts";
import { hasRegistryBinary, startRegistry, type RunningRegistry } from "../helpers/registry.ts";
import { can } from "../helpers/requires.ts";

const subuidStart = (() => {
  const line = readFileSync("/etc/subuid", "utf8").split("\n").find((l) => l.startsWith(`${testUser?.name}:`));
  return line === undefined ? undefined : Number(line.split(":")[1]);
})();
const unavailable = !can.root || !can.rootlessUser || !hasRegistryBinary || subuidStart === undefined;
const why = unavailable ? " (skipped: needs root, the boxtest user with an /etc/subuid range and /usr/bin/docker-registry; run scripts/setup.sh)" : "";

const STAT = "stat -c '%n %u:%g %a'";

/** security.capability v2 (VFS_CAP_REVISION_2, effective) granting cap_net_raw: what setcap writes. */
const NET_RAW_CAP = (() => {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x02000001, true);
  v.setUint32(4, 1 << 13, true);
  return b;
})();

describe.skipIf(unavailable)(`rootless layer owners${why}`, () => {
  let reg: RunningRegistry;
  let rootEnv: BoxEnv;
  let userEnv: BoxEnv;
  let scratch: string;
  let outside: string;
  beforeAll(async () => {
    reg = await startRegistry();
    rootEnv = makeEnv("root");
    userEnv = makeEnv("rootless");
    scratch = mkdtempSync(join(tmpdir(), "box-owners-e2e-"));
    // Something the user namespace could chown (it belongs to the user, root in there): proof
    // that the layer below reaches none of it.
    outside = join(scratch, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "victim"), "untouched\n");
    for (const p of [scratch, outside, join(outside, "victim")]) chownSync(p, testUser!.uid, testUser!.gid);

    await pushBuilt(reg.host, "box/owners", "latest", await buildImage({
      base: true,
      layers: [
        [
          { name: "srv", type: "directory", mode: 0o750, uid: 1000, gid: 1000 },
          { name: "srv/data", type: "file", body: "d\n", mode: 0o640, uid: 1000, gid: 1000 },
          { name: "srv/gone", type: "file", body: "g\n", uid: 1000, gid: 1000 },
          { name: "srv/old", type: "directory", uid: 1000, gid: 1000 },
          { name: "srv/old/x", type: "file", body: "x\n", uid: 1000, gid: 1000 },
          file("rootfile", "r\n"),
          { name: "suid", type: "file", body: "s\n", mode: 0o4755, uid: 1000, gid: 1000 },
          { name: "sgid", type: "file", body: "s\n", mode: 0o2755, uid: 0, gid: 1000 },
          { name: "odd", type: "file", body: "o\n", uid: 4242, gid: 77 },
          { name: "link", type: "symlink", linkname: "srv/data", uid: 1000, gid: 1000 },
          { name: "ping", type: "file", body: "p\n", mode: 0o755, uid: 1000, gid: 1000, xattrs: { "security.capability": NET_RAW_CAP } },
          { name: "hard", type: "hardlink", linkname: "srv/data", uid: 1000, gid: 1000 },
        ],
        // A whiteout beside files given to another owner in the same directory (which a layer
        // repeats: the topmost copy of a directory is the one overlayfs shows).
        [
          { name: "srv", type: "directory", mode: 0o750, uid: 1000, gid: 1000 },
          { name: "srv/.wh.gone", type: "file", body: "" },
          { name: "srv/new", type: "file", body: "n\n", uid: 1000, gid: 1000 },
          // An opaque directory given to another owner keeps its mark (an xattr chown leaves).
          { name: "srv/old", type: "directory", mode: 0o700, uid: 1000, gid: 1000 },
          { name: "srv/old/.wh..wh..opq", type: "file", body: "" },
          { name: "srv/old/y", type: "file", body: "y\n", uid: 1000, gid: 1000 },
        ],
      ],
    }));
    await pushBuilt(reg.host, "box/escape", "latest", await buildImage({
      base: true,
      layers: [[
        { name: "abs", type: "symlink", linkname: outside },
        { name: "abs/victim", type: "file", body: "inside\n", uid: 1000, gid: 1000 },
        { name: "rel", type: "symlink", linkname: "../../../../../../../.." },
        { name: `rel${outside}/victim`, type: "file", body: "inside too\n", uid: 1000, gid: 1000 },
      ]],
    }));
  });
  afterAll(async () => {
    await reg.stop();
    rootEnv.dispose();
    userEnv.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  const run = (env: BoxEnv, image: string, script: string) => box(env, ["run", "--rm", "--network", "none", image, "sh", "-c", script]);

  test("a pulled image's owners and modes are the image's in a rootless container, as with root", async () => {
    const image = `${reg.host}/box/owners`;
    const script = `${STAT} /srv /srv/data /srv/new /srv/old /rootfile /suid /sgid /odd /ping /hard; stat -c '%n %u:%g' /link; ls /srv /srv/old`;
    const expected = [
      "/srv 1000:1000 750",
      "/srv/data 1000:1000 640",
      "/srv/new 1000:1000 644",
      "/srv/old 1000:1000 700",
      "/rootfile 0:0 644",
      "/suid 1000:1000 4755",
      "/sgid 0:1000 2755",
      "/odd 4242:77 644",
      "/ping 1000:1000 755",
      "/hard 1000:1000 640",
      "/link 1000:1000",
      "/srv:",
      "data",
      "new",
      "old",
      "",
      "/srv/old:",
      "y",
      "",
    ].join("\n");
    for (const env of [rootEnv, userEnv]) {
      const pulled = await box(env, ["pull", "-q", image]);
      expect(pulled).toEqual({ code: 0, stdout: `${image}:latest\n`, stderr: "" });
      expect(await run(env, image, script)).toEqual({ code: 0, stdout: expected, stderr: "" });
    }
    // On the host the rootless store holds the shifted ids a RUN step would have made.
    const layers = join(userEnv.root, "layers");
    const data = readdirSync(layers).map((d) => join(layers, d, "diff/srv/data")).find((p) => lstatSync(p, { throwIfNoEntry: false }) !== undefined);
    expect(data).toBeDefined();
    expect(lstatSync(data as string).uid).toBe((subuidStart as number) + 999);
    // The whiteout is the kernel's 0/0 device (a plain user may make that one since Linux 5.8),
    // left to the user, root inside, in a directory now another id's.
    const gone = readdirSync(layers).map((d) => join(layers, d, "diff/srv/gone")).map((p) => lstatSync(p, { throwIfNoEntry: false })).find((st) => st?.isCharacterDevice());
    expect(gone).toMatchObject({ rdev: 0, uid: testUser!.uid });
    // The file capability a plain user may not set was set in the namespace, after the chown
    // (which clears it): the kernel stores it as v3, naming the namespace's root (24 bytes).
    const ping = readdirSync(layers).map((d) => join(layers, d, "diff/ping")).find((p) => lstatSync(p, { throwIfNoEntry: false }) !== undefined);
    expect(lgetxattr(ping as string, "security.capability")?.length).toBe(24);
  });

  test("a container that wrote into a directory of another id's is removed, by rm and by --rm", async () => {
    const image = `${reg.host}/box/owners`;
    // Writing to /srv copies it up: the container's own layer then has a directory owned by 1000.
    const write = "echo x > /srv/log && mkdir /srv/sub && touch /srv/sub/f && chown -R 1000:1000 /srv/sub";
    expect(await box(userEnv, ["run", "--network", "none", "--name", "writer", image, "sh", "-c", write])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(await box(userEnv, ["rm", "writer"])).toEqual({ code: 0, stdout: "writer\n", stderr: "" });
    expect(await run(userEnv, image, write)).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readdirSync(join(userEnv.root, "containers"))).toEqual([]);
  });

  test("rmi removes those layers again, directories owned by other ids included", async () => {
    const image = `${reg.host}/box/owners`;
    expect(readdirSync(join(userEnv.root, "layers")).length).toBe(3);
    expect((await box(userEnv, ["rmi", image])).code).toBe(0);
    // It was the store's only image: every layer went, and nothing was left behind in tmp/.
    expect(readdirSync(join(userEnv.root, "layers"))).toEqual([]);
    expect(readdirSync(join(userEnv.root, "tmp"))).toEqual([]);
  });

  test("an owner beyond the subordinate range stays the user's, said once, not an error", async () => {
    await pushBuilt(reg.host, "box/far", "latest", await buildImage({
      base: true,
      layers: [[
        { name: "far", type: "file", body: "f\n", uid: 70000, gid: 70000 },
        { name: "near", type: "file", body: "n\n", uid: 1000, gid: 1000 },
      ]],
    }));
    const image = `${reg.host}/box/far`;
    const pulled = await box(userEnv, ["pull", "-q", image]);
    expect(pulled).toMatchObject({ code: 0, stdout: `${image}:latest\n` });
    expect(pulled.stderr).toMatch(/^box: note: 1 file of this image belongs to a user other than root with ids beyond your subordinate range \(\d+ ids\), so box gave them to you \(root in the container\)\. To keep those owners, give your user a larger range in \/etc\/subuid and \/etc\/subgid, then remove the image and pull it again\. This is said once\.\n$/);
    expect(await run(userEnv, image, "stat -c '%n %u:%g' /far /near")).toEqual({ code: 0, stdout: "/far 0:0\n/near 1000:1000\n", stderr: "" });
  });

  test("the built-in base runs rootless with its files root's", async () => {
    expect(await run(userEnv, "base", `${STAT} /bin/busybox /etc; id -u`)).toEqual({ code: 0, stdout: "/bin/busybox 0:0 755\n/etc 0:0 755\n0\n", stderr: "" });
  });

  test("a symlink out of the layer root leads nothing outside to be chowned", async () => {
    const image = `${reg.host}/box/escape`;
    expect((await box(userEnv, ["pull", "-q", image])).code).toBe(0);
    const victim = join(outside, "victim");
    expect(lstatSync(victim).uid).toBe(testUser!.uid);
    expect(readFileSync(victim, "utf8")).toBe("untouched\n");
    // Both entries landed inside the layer, chroot-style, and got their owner there.
    expect(await run(userEnv, image, `${STAT} ${victim}; cat ${victim}`)).toEqual({ code: 0, stdout: `${victim} 1000:1000 644\ninside too\n`, stderr: "" });
  });

  test("build: COPY --chown and ADD of a local tar keep their owners rootless, as with root; COPY --from reads files private to another id", async () => {
    const ctx = join(scratch, "ctx");
    mkdirSync(ctx);
    writeFileSync(join(ctx, "f"), "copied\n");
    writeFileSync(join(ctx, "arch.tar"), await tarBytes([
      { name: "a", type: "file", body: "a\n", uid: 1000, gid: 1000 },
      { name: "b", type: "file", body: "b\n", mode: 0o600, uid: 2000, gid: 2001 },
      { name: "sub", type: "directory", uid: 1000, gid: 1000 },
      { name: "sub/c", type: "file", body: "c\n", uid: 0, gid: 0 },
    ]));
    writeFileSync(join(ctx, "Dockerfile"), [
      "FROM base AS src",
      "ADD arch.tar /x/",
      "FROM base",
      "COPY --chown=1000:1000 f /f",
      "ADD --chown=1000:1000 arch.tar /x/",
      // /x/b is 2000's and 0600 in the stage; COPY gives 0:0 unless --chown says otherwise.
      "COPY --from=src /x/b /b",
      `RUN ${STAT} /f /x/a /x/b /x/sub /x/sub/c /b`,
    ].join("\n"));
    chownSync(ctx, testUser!.uid, testUser!.gid);
    for (const name of readdirSync(ctx)) chownSync(join(ctx, name), testUser!.uid, testUser!.gid);
    const script = `${STAT} /f /x/a /x/b /x/sub /x/sub/c /b`;
    const outputs: string[] = [];
    for (const env of [rootEnv, userEnv]) {
      const built = await box(env, ["build", "-q", "-t", "owned", ctx], { timeoutMs: 60000 });
      expect(built.stderr).toBe("");
      expect(built.code).toBe(0);
      const r = await run(env, "owned", script);
      expect(r.code).toBe(0);
      outputs.push(r.stdout);
    }
    expect(outputs[0]).toStartWith("/f 1000:1000 644\n");
    expect(outputs[0]).toContain("/x/b 2000:2001 600\n");
    expect(outputs[0]).toEndWith("/b 0:0 600\n");
    expect(outputs[1]).toBe(outputs[0] as string);
  });
});

/** A user made for this test with no /etc/subuid entry: a system account gets none. */
function makeUserWithoutSubids(): { name: string; uid: number; gid: number } | undefined {
  const name = `boxnosub${process.pid % 100000}`;
  if (Bun.spawnSync(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]).exitCode !== 0) return undefined;
  const id = (flag: string) => Number(Bun.spawnSync(["id", flag, name]).stdout.toString().trim());
  return { name, uid: id("-u"), gid: id("-g") };
}

const noUseradd = !can.root || !hasRegistryBinary || Bun.which("useradd") === null;
describe.skipIf(noUseradd)(`a user without subordinate ids${noUseradd ? " (skipped: needs root, useradd and /usr/bin/docker-registry)" : ""}`, () => {
  let reg: RunningRegistry;
  let user: { name: string; uid: number; gid: number } | undefined;
  let env: BoxEnv | undefined;
  beforeAll(async () => {
    reg = await startRegistry();
    user = makeUserWithoutSubids();
    if (user === undefined) return;
    const base = mkdtempSync(join(tmpdir(), "box-nosub-"));
    for (const d of ["storage", "state"]) mkdirSync(join(base, d));
    for (const d of [base, join(base, "storage"), join(base, "state")]) chownSync(d, user.uid, user.gid);
    env = { user, root: join(base, "storage"), runroot: join(base, "state"), dispose: () => rmSync(base, { recursive: true, force: true }) };
    await pushBuilt(reg.host, "box/nosub", "latest", await buildImage({
      base: true,
      layers: [[{ name: "owned", type: "file", body: "o\n", uid: 1000, gid: 1000 }]],
    }));
  });
  afterAll(async () => {
    await reg.stop();
    env?.dispose();
    if (user !== undefined) Bun.spawnSync(["userdel", user.name]);
  });

  test("still pulls and runs; owners other than root become the user's (root inside)", async () => {
    expect(user).toBeDefined();
    expect(readFileSync("/etc/subuid", "utf8")).not.toContain(`${user?.name}:`);
    const e = env as BoxEnv;
    const image = `${reg.host}/box/nosub`;
    const pulled = await box(e, ["pull", "-q", image]);
    expect(pulled).toMatchObject({ code: 0, stdout: `${image}:latest\n` });
    expect(pulled.stderr).toStartWith("box: note: 1 file of this image belongs to a user other than root, but without a subordinate id range box can only give them to you (root in the container). To keep image owners, add a range for your user to /etc/subuid and /etc/subgid");
    expect(pulled.stderr).toEndWith("This is said once.\n");
    const r = await box(e, ["run", "--rm", "--network", "none", image, "stat", "-c", "%u:%g", "/owned"]);
    expect(r).toEqual({ code: 0, stdout: "0:0\n", stderr: "" });
    // Once: a second image with such files pulls quietly.
    await pushBuilt(reg.host, "box/nosub2", "latest", await buildImage({ layers: [[{ name: "other", type: "file", body: "x\n", uid: 7, gid: 7 }]] }));
    expect(await box(e, ["pull", "-q", `${reg.host}/box/nosub2`])).toEqual({ code: 0, stdout: `${reg.host}/box/nosub2:latest\n`, stderr: "" });
  });
});
