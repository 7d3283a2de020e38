/** Build secrets and SSH forwarding: the Dockerfile's --mount forms and the CLI's specs. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxError } from "../../../core/errors.ts";
import { parseDockerfile } from "../../../core/build/dockerfile/parse.ts";
import type { Instruction } from "../../../core/build/dockerfile/types.ts";
import { parseBuildSecrets, parseSecretSpec, parseSshSpec, readSecret } from "../../../core/build/secrets.ts";

const first = (text: string): Instruction => parseDockerfile(`FROM base\n${text}`).stages[0]?.instructions[0] as Instruction;
function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BoxError);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}
const parseError = (text: string) => failure(() => parseDockerfile(`FROM base\n${text}`));

const dir = mkdtempSync(join(tmpdir(), "box-secrets-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("RUN --mount=type=secret and type=ssh", () => {
  test("a secret mount keeps its options, and needs no target", () => {
    const ins = first("RUN --mount=type=secret,id=npmrc,required=true,mode=0440,uid=1000,gid=1000,env=TOKEN npm ci");
    if (ins.kind !== "RUN") throw new Error("not a RUN");
    expect(ins.mounts[0]?.type).toBe("secret");
    expect(Object.fromEntries(ins.mounts[0]?.options ?? [])).toEqual({ type: "secret", id: "npmrc", required: "true", mode: "0440", uid: "1000", gid: "1000", env: "TOKEN" });
  });
  test("a secret mount names its id or its target", () => {
    expect(first("RUN --mount=type=secret,target=/root/.npmrc x")).toMatchObject({ kind: "RUN" });
    expect(parseError("RUN --mount=type=secret cat x")).toBe("Dockerfile:2:1: --mount=type=secret: a secret mount needs id= (or target=)");
    expect(parseError("RUN --mount=type=secret,id=a,from=build x")).toContain("a secret mount takes no from=");
  });
  test("an ssh mount needs nothing else and takes no source", () => {
    const ins = first("RUN --mount=type=ssh git clone x");
    if (ins.kind !== "RUN") throw new Error("not a RUN");
    expect(ins.mounts.map((m) => m.type)).toEqual(["ssh"]);
    expect(parseError("RUN --mount=type=ssh,src=/x x")).toContain("Dockerfile:2:1: --mount=type=ssh,src=/x: an ssh mount takes no source or from");
  });
  test("bad option values and unknown keys name the line", () => {
    expect(parseError("RUN --mount=type=secret,id=a,required=maybe x")).toContain("Dockerfile:2:1: --mount=type=secret,id=a,required=maybe: invalid required=maybe");
    expect(parseError("RUN --mount=type=secret,id=a,mode=rw x")).toContain("invalid mode=rw");
    expect(parseError("RUN --mount=type=ssh,uid=me x")).toContain("invalid uid=me");
    expect(parseError("RUN --mount=type=secret,id=a,colour=red x")).toContain("unexpected key `colour`");
    expect(parseError("RUN --mount=type=cache,target=/c,env=X x")).toContain("env= and required= apply to type=secret and type=ssh only");
  });
  test("bind, cache and tmpfs still need a target", () => {
    expect(parseError("RUN --mount=type=cache,id=x x")).toContain("missing target");
  });
});

describe("COPY --parents, --exclude and ADD --checksum", () => {
  test("--exclude repeats, --parents is a boolean with an optional value", () => {
    expect(first("COPY --parents --exclude=*.md --exclude=tmp/ ./x/a ./y/b /dst/")).toMatchObject({ kind: "COPY", parents: true, exclude: ["*.md", "tmp/"], sources: ["./x/a", "./y/b"] });
    expect(first("COPY --parents=false a /b")).toMatchObject({ parents: false, exclude: [] });
    expect(first("COPY --link=false a /b")).toMatchObject({ link: false });
    expect(parseError("COPY --parents=maybe a /b")).toContain("Dockerfile:2:1: invalid --parents=maybe: expected true or false");
    expect(parseError("COPY --exclude= a /b")).toContain("--exclude needs a pattern");
  });
  test("ADD has no --parents", () => {
    expect(parseError("ADD --parents a /b")).toContain("Dockerfile:2:5: unknown flag: --parents for ADD");
  });
  test("--checksum takes a digest, one HTTP source, and only on ADD", () => {
    const hex = "a".repeat(64);
    expect(first(`ADD --checksum=sha256:${hex} http://h/f /f`)).toMatchObject({ kind: "ADD", checksum: `sha256:${hex}` });
    expect(first("ADD --checksum=$SUM http://h/f /f")).toMatchObject({ checksum: "$SUM" });
    expect(parseError("ADD --checksum=md5:abc http://h/f /f")).toContain("Dockerfile:2:1: invalid --checksum=md5:abc: expected sha256:<64 hex digits>");
    expect(parseError(`ADD --checksum=sha256:${hex} local.tar /f`)).toContain("--checksum requires an HTTP(S) source, not `local.tar`");
    expect(parseError(`ADD --checksum=sha256:${hex} http://h/a http://h/b /d/`)).toContain("--checksum can't be specified for multiple sources");
    expect(parseError(`COPY --checksum=sha256:${hex} a /b`)).toContain("unknown flag: --checksum for COPY");
  });
});

describe("--secret specs", () => {
  const file = join(dir, "token");
  writeFileSync(file, "t0ken");
  test("id with src (or source) is a file, made absolute", () => {
    expect(parseSecretSpec(`id=npmrc,src=${file}`)).toEqual({ id: "npmrc", source: { kind: "file", path: file } });
    expect(parseSecretSpec(`id=npmrc,source=${file},type=file`)).toEqual({ id: "npmrc", source: { kind: "file", path: file } });
  });
  test("env= and type=env name a variable; a bare id takes the variable of that name when set", () => {
    expect(parseSecretSpec("id=tok,env=GH_TOKEN", {})).toEqual({ id: "tok", source: { kind: "env", name: "GH_TOKEN" } });
    expect(parseSecretSpec("type=env,id=tok,src=GH_TOKEN", {})).toEqual({ id: "tok", source: { kind: "env", name: "GH_TOKEN" } });
    expect(parseSecretSpec("type=env,id=TOK", {})).toEqual({ id: "TOK", source: { kind: "env", name: "TOK" } });
    expect(parseSecretSpec("id=TOK", { TOK: "x" })).toEqual({ id: "TOK", source: { kind: "env", name: "TOK" } });
  });
  test("a missing file, an unknown key, a bad type, a field without = are refused", () => {
    expect(failure(() => parseSecretSpec(`id=a,src=${join(dir, "nope")}`))).toBe(`--secret id=a,src=${join(dir, "nope")}: \`${join(dir, "nope")}\`: no such file`);
    expect(failure(() => parseSecretSpec(`id=a,src=${file},colour=red`))).toContain("unexpected key `colour`");
    expect(failure(() => parseSecretSpec(`id=a,type=vault`))).toContain("invalid type");
    expect(failure(() => parseSecretSpec("npmrc"))).toContain("invalid field `npmrc`");
    expect(failure(() => parseSecretSpec(`src=${file}`))).toContain("id");
  });
  test("values are read when asked for; an unset variable is empty", () => {
    const b = parseBuildSecrets([`id=f,src=${file}`, "id=e,env=BOX_TEST_SECRET", "id=u,env=BOX_TEST_UNSET"], [], { BOX_TEST_SECRET: "from-env" });
    const text = (id: string) => new TextDecoder().decode(readSecret(b, b.secrets.get(id) as never));
    expect([text("f"), text("e"), text("u")]).toEqual(["t0ken", "from-env", ""]);
  });
});

describe("--ssh specs", () => {
  test("default takes SSH_AUTH_SOCK; ID=SOCKET names one; a non-socket or a key list is refused", async () => {
    const sock = join(dir, "agent.sock");
    const server = createServer();
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      expect(parseSshSpec("default", { SSH_AUTH_SOCK: sock })).toEqual({ id: "default", socket: sock });
      expect(parseSshSpec(`gh=${sock}`, {})).toEqual({ id: "gh", socket: sock });
      expect(failure(() => parseSshSpec("default", {}))).toBe("--ssh default: SSH_AUTH_SOCK is not set");
      expect(failure(() => parseSshSpec("gh", {}))).toContain("no socket given for `gh`");
      writeFileSync(join(dir, "id_rsa"), "key");
      expect(failure(() => parseSshSpec(`default=${join(dir, "id_rsa")}`, {}))).toContain("is not a socket");
      expect(failure(() => parseSshSpec(`default=${sock},${sock}`, {}))).toContain("one agent socket per id");
    } finally {
      server.close();
    }
  });
});
