/**
 * `box build` end to end: real builds whose RUN steps run in real containers, FROM the built-in
 * base, offline. The results are run with `box run` and, where buildah works on this machine,
 * compared with the same Dockerfile built by `buildah bud`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { box, makeEnv, REPO, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

const MULTI = `# syntax=docker/dockerfile:1
ARG BASE=base
FROM $BASE AS build
ARG MSG=default
RUN echo "MARKER-build-$MSG" && mkdir -p /out && echo "$MSG" > /out/msg
RUN <<EOF
echo heredoc-run > /out/heredoc
echo "MARKER-heredoc"
EOF

FROM base AS other
RUN echo MARKER-other-stage-ran > /other

FROM base
ARG MSG
ENV APP=/app GREETING="hello world"
WORKDIR $APP
COPY a.txt sub ./
COPY --from=build /out/ /app/from-build/
COPY <<EOF /app/here.txt
greeting=$GREETING msg=$MSG
EOF
RUN rm -rf /home && echo "MARKER-final" && echo done > run.txt
EXPOSE 8080 53/udp
LABEL org.example.name="box test"
USER 1000:1000
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/from-build/msg"]
`;

/** buildah 1.28 (Debian 12) predates heredocs: the comparison uses everything else. */
const COMPARE = MULTI.replace(/RUN <<EOF\n[\s\S]*?\nEOF\n/, "RUN echo heredoc-run > /out/heredoc\n").replace(/COPY <<EOF[\s\S]*?\nEOF\n/, "COPY a.txt /app/here.txt\n");

function writeContext(dir: string): void {
  writeFileSync(join(dir, "Dockerfile.compare"), COMPARE);
  writeFileSync(join(dir, "Dockerfile.compare.dockerignore"), "secret.txt\n");
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "a.txt"), "hello\n");
  writeFileSync(join(dir, "sub/s.txt"), "sub\n");
  writeFileSync(join(dir, "secret.txt"), "secret\n");
  writeFileSync(join(dir, "Dockerfile.test"), MULTI);
  // Beside -f: wins over the context's .dockerignore, which would hide a.txt.
  writeFileSync(join(dir, "Dockerfile.test.dockerignore"), "secret.txt\n");
  writeFileSync(join(dir, ".dockerignore"), "a.txt\n");
}

function inspectConfig(stdout: string): Record<string, unknown> {
  return (JSON.parse(stdout) as { Config: Record<string, unknown> }[])[0]?.Config ?? {};
}

describe.skipIf(!can.root)(`box build (root)${can.root ? "" : " (skipped: needs root)"}`, () => {
  let env: BoxEnv;
  let ctx: string;
  let firstId = "";
  let firstOut = "";
  beforeAll(async () => {
    env = makeEnv("root");
    ctx = mkdtempSync(join(tmpdir(), "box-build-ctx-"));
    writeContext(ctx);
    const r = await box(env, ["build", "-f", join(ctx, "Dockerfile.test"), "-t", "app", "--build-arg", "MSG=yo", "--label", "extra=1", ctx], { timeoutMs: 40000 });
    firstOut = r.stdout;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    firstId = r.stdout.trim().split("\n").at(-1) ?? "";
  });
  afterAll(() => {
    env.dispose();
    rmSync(ctx, { recursive: true, force: true });
  });

  test("prints STEP lines, the RUN output, COMMIT and the image id", () => {
    expect(firstOut).toContain("[1/2] STEP 1/4: FROM $BASE AS build\n");
    expect(firstOut).toContain("[2/2] STEP 1/13: FROM base\n");
    expect(firstOut).toContain("MARKER-build-yo\n");
    expect(firstOut).toContain("MARKER-heredoc\n");
    expect(firstOut).toContain("COMMIT localhost/app:latest\n");
    expect(firstOut).toContain("Successfully tagged localhost/app:latest\n");
    expect(firstId).toMatch(/^[0-9a-f]{64}$/);
    // Only the stages the target needs run.
    expect(firstOut).not.toContain("MARKER-other-stage-ran");
  });

  test("the image runs with its files, env, user, entrypoint and cmd", async () => {
    const r = await box(env, ["run", "--rm", "app"]);
    expect(r).toEqual({ code: 0, stdout: "yo\n", stderr: "" });
    const files = await box(env, ["run", "--rm", "app", "pwd; id -u; ls -A /app | tr '\\n' ' '; echo; cat /app/here.txt /app/from-build/heredoc /app/run.txt; echo $GREETING; ls /home 2>&1 | head -1"]);
    expect(files.stdout).toBe(
      "/app\n1000\na.txt from-build here.txt run.txt s.txt \ngreeting=hello world msg=yo\nheredoc-run\ndone\nhello world\nls: /home: No such file or directory\n",
    );
  });

  test("the config is what docker writes", async () => {
    const r = await box(env, ["image", "inspect", "app"]);
    const c = inspectConfig(r.stdout);
    expect(c.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP=/app", "GREETING=hello world"]);
    expect(c.Entrypoint).toEqual(["/bin/sh", "-c"]);
    expect(c.Cmd).toEqual(["cat /app/from-build/msg"]);
    expect(c.WorkingDir).toBe("/app");
    expect(c.User).toBe("1000:1000");
    expect(c.ExposedPorts).toEqual({ "8080/tcp": {}, "53/udp": {} });
    expect(c.Labels).toEqual({ "org.example.name": "box test", extra: "1" });
    const h = await box(env, ["history", "--no-trunc", "app"]);
    expect(h.stdout).toContain('/bin/sh -c #(nop)  CMD ["cat /app/from-build/msg"]');
    expect(h.stdout).toContain("|1 MSG=yo /bin/sh -c rm -rf /home");
  });

  test("a rebuild with nothing changed runs no RUN and gives the same image", async () => {
    const t0 = performance.now();
    const r = await box(env, ["build", "-f", join(ctx, "Dockerfile.test"), "-t", "app", "--build-arg", "MSG=yo", "--label", "extra=1", ctx]);
    const ms = performance.now() - t0;
    expect(r.code).toBe(0);
    // The instruction text is echoed; the commands' own output is not.
    expect(r.stdout).not.toMatch(/^MARKER-/m);
    expect(r.stdout.match(/--> Using cache [0-9a-f]{64}\n/g)?.length).toBe(15);
    expect(r.stdout.trim().split("\n").at(-1)).toBe(firstId);
    expect(ms).toBeLessThan(1000);
  });

  test("--target builds only up to that stage; a changed build arg re-runs", async () => {
    const r = await box(env, ["build", "-q", "-f", join(ctx, "Dockerfile.test"), "--target", "build", "-t", "stage1", "--build-arg", "MSG=other", ctx]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const run = await box(env, ["run", "--rm", "stage1", "cat", "/out/msg"]);
    expect(run.stdout).toBe("other\n");
    const missing = await box(env, ["build", "-f", join(ctx, "Dockerfile.test"), "--target", "nope", ctx]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('target stage "nope" could not be found');
  });

  test("a failing RUN shows its line and exit code and tags nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "box-build-fail-"));
    writeFileSync(join(dir, "Dockerfile"), "FROM base\nRUN echo before\nRUN echo oops >&2; exit 3\n");
    const r = await box(env, ["build", "-t", "broken", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("oops\n");
    expect(r.stderr).toContain("Dockerfile:3:1: RUN echo oops >&2; exit 3: the command '/bin/sh -c echo oops >&2; exit 3' returned a non-zero code: 3");
    const images = await box(env, ["images"]);
    expect(images.stdout).not.toContain("broken");
    const ps = await box(env, ["ps", "-a", "-q"]);
    expect(ps.stdout).toBe("");
    rmSync(dir, { recursive: true, force: true });
  });

  test("a syntax error names file:line:col", async () => {
    const dir = mkdtempSync(join(tmpdir(), "box-build-syntax-"));
    writeFileSync(join(dir, "Dockerfile"), "FROM base\nRUN true\n  FROBNICATE x\n");
    const r = await box(env, ["build", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("box: Dockerfile:3:3: unknown instruction: FROBNICATE;");
    rmSync(dir, { recursive: true, force: true });
  });

  test("bad input: missing -f file, COPY outside the context", async () => {
    const dir = mkdtempSync(join(tmpdir(), "box-build-bad-"));
    const missing = await box(env, ["build", "-f", join(dir, "nope"), dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`Dockerfile \`${join(dir, "nope")}\`: no such file or directory`);
    writeFileSync(join(dir, "Dockerfile"), "FROM base\nCOPY ../x /x\n");
    const outside = await box(env, ["build", dir]);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain("Dockerfile:2:1: COPY: forbidden path outside the build context: ../x");
    rmSync(dir, { recursive: true, force: true });
  });

  test("--check reports undefined ARGs and unknown instructions without building", async () => {
    const dir = mkdtempSync(join(tmpdir(), "box-build-check-"));
    writeFileSync(join(dir, "Dockerfile"), "FROM never-pulled:1\nENV X=$FOO\nARG FOO=1\nCOPY --from=build /a /b\n");
    const warn = await box(env, ["build", "--check", dir]);
    expect(warn.code).toBe(0);
    expect(warn.stdout).toBe("WARNING: UndefinedVar - Dockerfile:2: Usage of undefined variable '$FOO'\nCheck complete, 1 warning has been found!\n");
    writeFileSync(join(dir, "Dockerfile"), "# check=error=true\nFROM base\nENV X=$FOO\n");
    expect((await box(env, ["build", "--check", dir])).code).toBe(1);
    writeFileSync(join(dir, "Dockerfile"), "FROM base\nBOGUS x\n");
    const bad = await box(env, ["build", "--check", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("Dockerfile:2:1: unknown instruction: BOGUS");
    rmSync(dir, { recursive: true, force: true });
  });

  test("a Dockerfile on stdin, --iidfile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "box-build-stdin-"));
    const iid = join(dir, "iid");
    const r = await box(env, ["build", "-q", "--iidfile", iid, "-t", "fromstdin", "-"], { stdin: "FROM base\nRUN echo x > /x\nCMD [\"cat\", \"/x\"]\n" });
    expect(r.code).toBe(0);
    expect(readFileSync(iid, "utf8")).toBe(`sha256:${r.stdout.trim()}`);
    expect((await box(env, ["run", "--rm", "fromstdin"])).stdout).toBe("x\n");
    rmSync(dir, { recursive: true, force: true });
  });

  const buildah = existsSync("/usr/bin/buildah") && existsSync("/usr/bin/podman");
  test.skipIf(!buildah)(`matches buildah bud: config and files${buildah ? "" : " (skipped: buildah or podman not installed)"}`, async () => {
    const store = mkdtempSync(join(tmpdir(), "box-buildah-"));
    const bh = ["buildah", "--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", "vfs"];
    const podman = ["podman", "--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", "vfs"];
    const run = (cmd: string[]) => Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    try {
      // The same base: box's embedded busybox layer with the config box gives it.
      const imp = run([...podman, "import", "--change", "CMD [\"/bin/sh\"]", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", join(REPO, "build/base.tar.gz"), "base"]);
      expect(imp.exitCode).toBe(0);
      // chroot isolation: buildah's default (oci, runc) needs a cgroup setup this host lacks.
      const bud = run([...bh, "bud", "--isolation", "chroot", "--layers", "-f", join(ctx, "Dockerfile.compare"), "--build-arg", "MSG=yo", "-t", "bh", ctx]);
      expect(bud.stderr.toString()).not.toContain("Error");
      expect(bud.exitCode).toBe(0);
      const built = await box(env, ["build", "-q", "-f", join(ctx, "Dockerfile.compare"), "--build-arg", "MSG=yo", "-t", "cmp", ctx]);
      expect(built.code).toBe(0);
      const oci = JSON.parse(run([...bh, "inspect", "--type", "image", "bh"]).stdout.toString()).OCIv1.config;
      const mine = inspectConfig((await box(env, ["image", "inspect", "cmp"])).stdout);
      for (const k of ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts"]) expect([k, mine[k]]).toEqual([k, oci[k]]);
      const { "io.buildah.version": _, ...labels } = oci.Labels as Record<string, string>;
      expect(labels).toEqual(mine.Labels as Record<string, string>);
      const ctr = run([...bh, "from", "-q", "bh"]).stdout.toString().trim();
      const mnt = run([...bh, "mount", ctr]).stdout.toString().trim();
      const theirs = run(["sh", "-c", `cd ${mnt} && find . -path ./proc -prune -o -path ./sys -prune -o -path ./dev -prune -o -path ./run -prune -o -print | sort`]).stdout.toString();
      const ours = await box(env, ["run", "--rm", "--entrypoint", "", "--user", "0", "cmp", "sh", "-c", "cd / && find . -path ./proc -prune -o -path ./sys -prune -o -path ./dev -prune -o -path ./run -prune -o -print | sort"]);
      expect(ours.stdout).toBe(theirs);
      run([...bh, "rm", ctr]);
    } finally {
      run([...bh, "rm", "--all"]);
      run([...bh, "rmi", "--all", "--force"]);
      rmSync(store, { recursive: true, force: true });
    }
  }, 60000);
});
