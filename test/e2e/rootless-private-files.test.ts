/**
 * Containers run with --network none: networking is not what these tests are about.
 *
 * Rootless, a file a container user other than root makes private (0600 of uid 999, in a 0700
 * directory) is owned on the host by a subordinate id, and box, running as the user, may not read
 * it. export, commit, diff and cp out run again inside the user's user namespace
 * (rerunInUserNamespace in core/image/userns-chown.ts), where it is readable; what they write on
 * the host still belongs to the user.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { box, commandFor, makeEnv, testUser, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

const hasRange = testUser !== undefined && readFileSync("/etc/subuid", "utf8").split("\n").some((l) => l.startsWith(`${testUser?.name}:`));
const unavailable = !can.root || !can.rootlessUser || !hasRange;
const why = unavailable ? " (skipped: needs root and the boxtest user with an /etc/subuid range; run scripts/setup.sh)" : "";

function spawn(cmd: string[]): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A shell pipeline whose box commands are spelled `BOX`, box run as the env's user. */
function pipeline(env: BoxEnv, script: string): { code: number; stdout: string; stderr: string } {
  const boxCmd = commandFor(env, []).map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return spawn(["bash", "-o", "pipefail", "-c", script.replaceAll("BOX", boxCmd)]);
}

/** `tar -tvf` lines for one member: "MODE OWNER ... NAME". */
function tarLine(file: string, member: string): string | undefined {
  return spawn(["tar", "--numeric-owner", "-tvf", file]).stdout.split("\n").find((l) => l.endsWith(` ${member}`));
}

const PRIVATE = "mkdir /priv && echo secret > /priv/f && chown -R 999:999 /priv && chmod 700 /priv && chmod 600 /priv/f";

describe.skipIf(unavailable)(`rootless: files private to other container users${why}`, () => {
  let env: BoxEnv;
  let scratch: string;
  const uid = testUser?.uid ?? -1;
  beforeAll(async () => {
    env = makeEnv("rootless");
    scratch = mkdtempSync(join(tmpdir(), "box-private-e2e-"));
    chownSync(scratch, uid, testUser?.gid ?? -1);
    const r = await box(env, ["run", "--network", "none", "--name", "priv", "base", "sh", "-c", PRIVATE]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    // The premise: on the host, the file is not the user's and box alone could not read it.
    const upper = spawn(["find", env.root, "-path", "*/priv/f"]).stdout.split("\n").filter(Boolean);
    expect(upper.length).toBe(1);
    expect(statSync(upper[0] as string).uid).not.toBe(uid);
    expect(spawn(["setpriv", `--reuid=${uid}`, `--regid=${testUser?.gid}`, "--init-groups", "cat", upper[0] as string]).code).not.toBe(0);
  });
  afterAll(async () => {
    for (const id of (await box(env, ["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(Boolean)) await box(env, ["rm", "-f", id]);
    env.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("export -o: the archive has the private file, its mode, owner and content, and belongs to the user", async () => {
    const out = join(scratch, "priv.tar");
    const r = await box(env, ["export", "-o", out, "priv"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(statSync(out).uid).toBe(uid);
    expect(tarLine(out, "priv/f")).toMatch(/^-rw------- 999\/999 /);
    expect(tarLine(out, "priv/")).toMatch(/^drwx------ 999\/999 /);
    expect(spawn(["tar", "-xOf", out, "priv/f"]).stdout).toBe("secret\n");
  });

  test("export to stdout streams the same archive", () => {
    const r = pipeline(env, "BOX export priv | tar -xOf - priv/f");
    expect(r).toEqual({ code: 0, stdout: "secret\n", stderr: "" });
  });

  test("diff lists the private directory and the file in it", async () => {
    const r = await box(env, ["diff", "priv"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")).toEqual(expect.arrayContaining(["A /priv", "A /priv/f"]));
  });

  test("commit: a container of the new image sees the file with its owner, mode and content", async () => {
    const c = await box(env, ["commit", "priv", "private:v1"]);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const r = await box(env, ["run", "--rm", "--network", "none", "private:v1", "sh", "-c", "stat -c '%u:%g %a' /priv /priv/f && cat /priv/f"]);
    expect(r).toEqual({ code: 0, stdout: "999:999 700\n999:999 600\nsecret\n", stderr: "" });
    // The image is box's own files: save reads it as the user, with the private file inside.
    const out = join(scratch, "image.tar");
    expect((await box(env, ["save", "-o", out, "private:v1"])).code).toBe(0);
    expect(statSync(out).uid).toBe(uid);
  });

  test("cp CONTAINER:FILE HOSTDIR copies the content into a file of the user's", async () => {
    const dir = join(scratch, "cp");
    expect(spawn(["install", "-d", "-o", String(uid), dir]).code).toBe(0);
    const r = await box(env, ["cp", "priv:/priv/f", dir]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(dir, "f"), "utf8")).toBe("secret\n");
    expect(statSync(join(dir, "f")).uid).toBe(uid);
  });

  test("cp CONTAINER:PATH - streams a tar of the file, or of the directory", () => {
    const file = join(scratch, "cp-file.tar");
    expect(pipeline(env, `BOX cp priv:/priv/f - > '${file}'`)).toMatchObject({ code: 0, stderr: "" });
    expect(tarLine(file, "f")).toMatch(/^-rw------- 999\/999 /);
    expect(spawn(["tar", "-xOf", file, "f"]).stdout).toBe("secret\n");
    const r = pipeline(env, "BOX cp priv:/priv - | tar -tf -");
    expect(r).toEqual({ code: 0, stdout: "priv/\npriv/f\n", stderr: "" });
  });

  test("cp out of a running container: its private file, and a plain file as before", async () => {
    expect((await box(env, ["run", "-d", "--network", "none", "--name", "live", "base", "sleep", "60"])).code).toBe(0);
    expect(await box(env, ["exec", "live", "sh", "-c", `${PRIVATE} && echo open > /open`])).toMatchObject({ code: 0, stderr: "" });
    const dir = join(scratch, "live");
    expect(spawn(["install", "-d", "-o", String(uid), dir]).code).toBe(0);
    expect(await box(env, ["cp", "live:/priv/f", join(dir, "secret")])).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(dir, "secret"), "utf8")).toBe("secret\n");
    expect(await box(env, ["cp", "live:/open", dir])).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(dir, "open"), "utf8")).toBe("open\n");
    expect(pipeline(env, "BOX cp live:/priv/f - | tar -xOf - f")).toEqual({ code: 0, stdout: "secret\n", stderr: "" });
    expect(await box(env, ["cp", "live:/no/such", dir])).toEqual({ code: 125, stdout: "", stderr: "box: could not find the file /no/such in container live\n" });
  });
});
