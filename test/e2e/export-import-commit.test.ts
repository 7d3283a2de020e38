/**
 * A container's file system out and back in: `box export` (the merged view as a tar), `box
 * import` (a tar as a one-layer image, with --change), `box commit` (the writable layer as a new
 * layer over the container's image). Peers: podman imports box's export; GNU tar writes the
 * archives box imports.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { box, commandFor, makeEnv, REPO, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

function spawn(cmd: string[], opts: { cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", ...opts });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Run a shell pipeline whose box commands are spelled `BOX`, as the env's user. */
function pipeline(env: BoxEnv, script: string): { code: number; stdout: string; stderr: string } {
  const boxCmd = commandFor(env, []).map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return spawn(["bash", "-o", "pipefail", "-c", script.replaceAll("BOX", boxCmd)]);
}

function tarList(file: string): string[] {
  return spawn(["tar", "-tf", file]).stdout.split("\n").filter(Boolean);
}

async function inspect(env: BoxEnv, ref: string): Promise<Record<string, unknown>> {
  const r = await box(env, ["image", "inspect", ref]);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as Record<string, unknown>[])[0] as Record<string, unknown>;
}

for (const kind of ["root", "rootless"] as const) {
  const unavailable = kind === "rootless" && !can.rootlessUser;
  describe.skipIf(unavailable)(`export, import, commit (${kind})${unavailable ? " (skipped: no unprivileged test user; run scripts/setup.sh)" : ""}`, () => {
    let env: BoxEnv;
    let scratch: string;
    const own = (path: string) => {
      if (env.user) chownSync(path, env.user.uid, env.user.gid);
    };
    const images = async () => (await box(env, ["images", "-q", "--no-trunc"])).stdout;

    beforeAll(async () => {
      env = makeEnv(kind);
      scratch = mkdtempSync(join(tmpdir(), "box-eic-"));
      own(scratch);
      expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
      const r = await box(env, ["run", "--name", "src", "base", "sh", "-c", "echo hello > /file; rm /etc/os-release; mkdir -p /d/e; echo deep > /d/e/f"]);
      expect(r.code).toBe(0);
    });
    afterAll(async () => {
      const all = await box(env, ["ps", "-aq", "--no-trunc"]);
      for (const id of all.stdout.split("\n").filter(Boolean)) await box(env, ["rm", "-f", id]);
      env.dispose();
      rmSync(scratch, { recursive: true, force: true });
    });

    test("export | import - then run shows the container's files", async () => {
      const r = pipeline(env, "BOX export src | BOX import - roundtrip:1");
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      const run = await box(env, ["run", "--rm", "roundtrip:1", "sh", "-c", "cat /file /d/e/f; test -e /etc/os-release || echo gone"]);
      expect(run).toEqual({ code: 0, stdout: "hello\ndeep\ngone\n", stderr: "" });
    });

    test("export -o writes the whole file system atomically; a deleted file is not in it", async () => {
      const file = join(scratch, "src.tar");
      const r = await box(env, ["export", "-o", file, "src"]);
      expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
      const names = tarList(file);
      expect(names).toContain("file");
      expect(names).toContain("d/e/f");
      expect(names).toContain("bin/busybox");
      expect(names).toContain("etc/passwd");
      expect(names).not.toContain("etc/os-release");
      expect(names.filter((n) => n.includes(".wh."))).toEqual([]);
      // Owned by the container's root, rootless too.
      expect(spawn(["tar", "-tvf", file, "file"]).stdout).toStartWith("-rw-r--r-- 0/0 ");
      expect(readdirSync(scratch).filter((n) => n.includes(".tmp"))).toEqual([]);
    });

    test.skipIf(!can.python)(`export refuses to write to a terminal${can.python ? "" : " (skipped: python3 drives the pseudo-terminal)"}`, () => {
      const steps = [["wait", 3]];
      const p = spawn(["python3", join(REPO, "test/helpers/terminal.py"), "24", "80", JSON.stringify(steps), "--", ...commandFor(env, ["export", "src"])]);
      expect(p.stdout).toContain("box: cowardly refusing to save to a terminal; use the -o flag or redirect");
      expect(p.stdout.trim().split("\n").at(-1)).toBe("EXIT 125");
    });

    test("import of tar archives (plain, gzip, zstd) with --change shows in inspect", async () => {
      const tree = join(scratch, "tree");
      spawn(["mkdir", "-p", join(tree, "bin"), join(tree, "srv")]);
      spawn(["cp", "/bin/busybox", join(tree, "bin/busybox")]);
      spawn(["ln", "-s", "busybox", join(tree, "bin/sh")]);
      writeFileSync(join(tree, "srv/msg"), "imported\n");
      spawn(["tar", "-C", tree, "--owner=0", "--group=0", "-cf", join(scratch, "t.tar"), "."]);
      spawn(["sh", "-c", `gzip -c ${scratch}/t.tar > ${scratch}/t.tar.gz && zstd -q -c ${scratch}/t.tar > ${scratch}/t.tar.zst`]);
      for (const f of ["t.tar", "t.tar.gz", "t.tar.zst"]) own(join(scratch, f));
      const changes = ["-c", "CMD [\"/bin/sh\", \"-c\", \"cat msg; echo $GREETING\"]", "-c", "ENV GREETING=hi", "-c", "WORKDIR /srv", "-c", "EXPOSE 8080/tcp", "-c", "LABEL org.example=yes", "-c", "USER 0"];
      const r = await box(env, ["import", ...changes, "-m", "from tar", join(scratch, "t.tar"), "fromtar"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      const img = await inspect(env, "fromtar");
      expect(img.Id).toBe(r.stdout.trim());
      const config = img.Config as Record<string, unknown>;
      expect(config.Cmd).toEqual(["/bin/sh", "-c", "cat msg; echo $GREETING"]);
      expect(config.Env).toEqual(["GREETING=hi"]);
      expect(config.WorkingDir).toBe("/srv");
      expect(config.ExposedPorts).toEqual({ "8080/tcp": {} });
      expect(config.Labels).toEqual({ "org.example": "yes" });
      expect(config.User).toBe("0");
      expect(img.Comment).toBe("from tar");
      expect(await box(env, ["run", "--rm", "fromtar"])).toEqual({ code: 0, stdout: "imported\nhi\n", stderr: "" });
      // The compressed forms unpack to the same layer.
      const diffIds = (img.RootFS as { Layers: string[] }).Layers;
      for (const f of ["t.tar.gz", "t.tar.zst"]) {
        const c = await box(env, ["import", join(scratch, f), `from-${f.replaceAll(".", "-")}`]);
        expect(c.code).toBe(0);
        expect(((await inspect(env, `from-${f.replaceAll(".", "-")}`)).RootFS as { Layers: string[] }).Layers).toEqual(diffIds);
      }
      // Untagged, as docker allows: listed as <none>.
      const untagged = await box(env, ["image", "import", join(scratch, "t.tar")]);
      expect(untagged.code).toBe(0);
      expect((await box(env, ["images", "--format", "{{.ID}} {{.Repository}}"])).stdout).toContain(`${untagged.stdout.slice(7, 19)} <none>\n`);
    });

    test("commit: files written, changed and deleted show in a container of the new image", async () => {
      const r = await box(env, ["run", "--name", "changer", "-e", "FROM_RUN=1", "--tmpfs", "/scratchmount", "base", "sh", "-c", "echo new > /added; echo extra >> /etc/passwd; rm /etc/group; mkdir /made"]);
      expect(r.code).toBe(0);
      const c = await box(env, ["commit", "-m", "three changes", "-a", "Tester <t@example.com>", "-c", "LABEL stage=committed", "-c", "CMD [\"cat\", \"/added\"]", "changer", "committed:v1"]);
      expect(c.code).toBe(0);
      expect(c.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      expect(await box(env, ["run", "--rm", "committed:v1"])).toEqual({ code: 0, stdout: "new\n", stderr: "" });
      const check = await box(env, ["run", "--rm", "committed:v1", "sh", "-c", "tail -1 /etc/passwd; test -e /etc/group || echo no-group; test -d /made && echo made; echo $FROM_RUN; test -e /scratchmount || echo no-mountpoint"]);
      expect(check).toEqual({ code: 0, stdout: "extra\nno-group\nmade\n1\nno-mountpoint\n", stderr: "" });

      const img = await inspect(env, "committed:v1");
      expect(img.Author).toBe("Tester <t@example.com>");
      expect(img.Comment).toBe("three changes");
      expect((img.Config as { Labels: Record<string, string> }).Labels).toEqual({ stage: "committed" });
      const layers = (img.RootFS as { Layers: string[] }).Layers;
      expect(layers.length).toBe(2);
      // The new layer holds the container's changes and nothing the runtime put there.
      const top = join(env.root, "layers", (layers[1] as string).slice(7), "diff");
      expect(readdirSync(top).sort()).toEqual(["added", "etc", "made"]);
      expect(readdirSync(join(top, "etc")).sort()).toEqual(["group", "passwd"]);

      const history = await box(env, ["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "committed:v1"]);
      expect(history.stdout.split("\n")[0]).toBe("sh -c echo new > /added; echo extra >> /etc/passwd; rm /etc/group; mkdir /made|three changes");
    });

    test("commit --pause of a running container: it keeps running, its writes are in the image", async () => {
      expect((await box(env, ["run", "-d", "--name", "live", "base", "sh", "-c", "echo before > /state; sleep 60"])).code).toBe(0);
      for (let i = 0; i < 50 && (await box(env, ["exec", "live", "cat", "/state"])).stdout !== "before\n"; i++) await Bun.sleep(50);
      // A running container exports too, through the same user-space merge.
      const exported = join(scratch, "live.tar");
      expect((await box(env, ["container", "export", "-o", exported, "live"])).code).toBe(0);
      expect(tarList(exported)).toContain("state");
      const c = await box(env, ["container", "commit", "--pause=true", "live", "livecommit"]);
      expect(c.code).toBe(0);
      expect((await box(env, ["inspect", "--format", "{{.State.Status}}", "live"])).stdout).toBe("running\n");
      expect((await box(env, ["run", "--rm", "livecommit", "cat", "/state"])).stdout).toBe("before\n");
      expect((await box(env, ["commit", "--pause=false", "live"])).code).toBe(0);
      await box(env, ["rm", "-f", "live"]);
    });

    test.skipIf(!can.python)(`bad input: a clear error, exit 125, and no image${can.python ? "" : " (skipped: python3 writes the hostile tar)"}`, async () => {
      const before = await images();
      const good = join(scratch, "good.tar");
      expect((await box(env, ["export", "-o", good, "src"])).code).toBe(0);
      const truncated = join(scratch, "truncated.tar");
      writeFileSync(truncated, (await Bun.file(good).bytes()).subarray(0, 5000));
      const text = join(scratch, "notes.txt");
      writeFileSync(text, "these are not the bytes you are looking for\n");
      const outside = join(scratch, "outside-marker");
      const evil = join(scratch, "evil.tar");
      // A tar whose second entry climbs out of the root with ../, aimed at a file beside the test's.
      const script = "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w')\nfor name in ['ok', sys.argv[2]]:\n    i = tarfile.TarInfo(name); i.size = 3; t.addfile(i, io.BytesIO(b'ok\\n'))\nt.close()\n";
      expect(spawn(["python3", "-c", script, evil, `${"../".repeat(16)}${outside.slice(1)}`]).code).toBe(0);
      for (const f of [truncated, text, evil]) own(f);
      const cases: [string[], RegExp][] = [
        [["import", truncated, "bad:1"], /^box: cannot import `.*truncated\.tar`: .*truncated/],
        [["import", text, "bad:2"], /^box: cannot import `.*notes\.txt`: /],
        [["import", evil, "bad:3"], /escapes the layer root/],
        [["import", "-c", "FROB x", good, "bad:4"], /^box: --change "FROB x": FROB is not supported here; --change accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR\n$/],
        [["commit", "-c", "RUN true", "src", "bad:5"], /^box: --change "RUN true": RUN is not supported here/],
        [["commit", "no-such-container"], /^box: no such container: no-such-container; /],
        [["export", "-o", join(scratch, "x.tar"), "no-such-container"], /^box: no such container: no-such-container; /],
        [["import", join(scratch, "missing.tar")], /^box: open .*missing\.tar: no such file or directory/],
      ];
      for (const [args, message] of cases) {
        const r = await box(env, args);
        expect([args, r.code]).toEqual([args, 125]);
        expect(r.stderr).toMatch(message);
        expect(r.stdout).toBe("");
      }
      expect(existsSync(outside)).toBe(false);
      expect(existsSync(join(scratch, "x.tar"))).toBe(false);
      expect(await images()).toBe(before);
      expect(readdirSync(join(env.root, "tmp"))).toEqual([]);
    });

    test.skipIf(!can.root || kind === "rootless" || !existsSync("/usr/bin/podman"))(`podman imports box's export, box imports podman's${existsSync("/usr/bin/podman") ? "" : " (skipped: podman not installed)"}${kind === "rootless" ? " (skipped: checked once, as root)" : ""}`, async () => {
      const file = join(scratch, "for-podman.tar");
      expect((await box(env, ["export", "-o", file, "src"])).code).toBe(0);
      const store = mkdtempSync(join(tmpdir(), "box-podman-"));
      const podman = ["podman", "--root", join(store, "root"), "--runroot", join(store, "run"), "--storage-driver", "vfs"];
      try {
        const imp = spawn([...podman, "import", "-q", file, "fromebox"]);
        expect(imp.code).toBe(0);
        // podman run needs rlimits this host refuses; the image's mounted file system is the proof.
        const mnt = spawn([...podman, "image", "mount", "fromebox"]).stdout.trim();
        expect(spawn(["cat", join(mnt, "file"), join(mnt, "d/e/f")]).stdout).toBe("hello\ndeep\n");
        expect(existsSync(join(mnt, "etc/os-release"))).toBe(false);
        expect(existsSync(join(mnt, "bin/busybox"))).toBe(true);
        spawn([...podman, "image", "unmount", "fromebox"]);
        // And back: podman's export of a container of that image, imported and run by box.
        expect(spawn([...podman, "create", "--name", "pc", "fromebox", "true"]).code).toBe(0);
        const back = join(scratch, "from-podman.tar");
        expect(spawn([...podman, "export", "-o", back, "pc"]).code).toBe(0);
        expect((await box(env, ["import", back, "frompodman"])).code).toBe(0);
        expect(await box(env, ["run", "--rm", "frompodman", "/bin/cat", "/file"])).toEqual({ code: 0, stdout: "hello\n", stderr: "" });
      } finally {
        spawn([...podman, "rm", "-a", "-f"]);
        spawn([...podman, "rmi", "-a", "-f"]);
        rmSync(store, { recursive: true, force: true });
      }
    });
  });
}
