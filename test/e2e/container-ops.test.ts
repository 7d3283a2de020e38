/**
 * The container verbs beyond run and stop: diff, cp (symlinks resolved inside the container,
 * never on the host), rename, pause/unpause, restart, container prune.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chownSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { box, makeEnv, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

for (const kind of ["root", "rootless"] as const) {
  const unavailable = kind === "rootless" && !can.rootlessUser;
  describe.skipIf(unavailable)(`container verbs (${kind})${unavailable ? " (skipped: no unprivileged test user; run scripts/setup.sh)" : ""}`, () => {
    let env: BoxEnv;
    let scratch: string;
    beforeAll(async () => {
      env = makeEnv(kind);
      scratch = mkdtempSync(join(tmpdir(), "box-ops-"));
      if (env.user) chownSync(scratch, env.user.uid, env.user.gid);
      expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
    });
    afterAll(async () => {
      const all = await box(env, ["ps", "-aq", "--no-trunc"]);
      for (const id of all.stdout.split("\n").filter(Boolean)) await box(env, ["rm", "-f", id]);
      env.dispose();
      rmSync(scratch, { recursive: true, force: true });
    });

    test("diff lists added, changed and deleted paths", async () => {
      await box(env, ["run", "--name", "changer", "base", "sh", "-c", "echo x > /new; rm /etc/os-release; echo g >> /etc/group"]);
      const r = await box(env, ["diff", "changer"]);
      expect(r.stdout).toBe("C /etc\nC /etc/group\nD /etc/os-release\nA /new\n");
      await box(env, ["rm", "changer"]);
    });

    test("cp both ways, running and stopped", async () => {
      writeFileSync(join(scratch, "in.txt"), "from host\n");
      if (env.user) chownSync(join(scratch, "in.txt"), env.user.uid, env.user.gid);
      await box(env, ["run", "-d", "--name", "cpr", "base", "sleep", "60"]);
      expect((await box(env, ["cp", join(scratch, "in.txt"), "cpr:/tmp/"])).code).toBe(0);
      expect((await box(env, ["exec", "cpr", "cat", "/tmp/in.txt"])).stdout).toBe("from host\n");
      await box(env, ["exec", "cpr", "sh", "-c", "echo from container > /tmp/out.txt"]);
      expect((await box(env, ["cp", "cpr:/tmp/out.txt", join(scratch, "out.txt")])).code).toBe(0);
      expect(readFileSync(join(scratch, "out.txt"), "utf8")).toBe("from container\n");
      await box(env, ["stop", "-t", "0", "cpr"]);
      // Stopped: read through its layers.
      expect((await box(env, ["cp", "cpr:/etc/passwd", join(scratch, "passwd")])).code).toBe(0);
      expect(readFileSync(join(scratch, "passwd"), "utf8")).toStartWith("root:x:0:0:");
      expect(await box(env, ["cp", "cpr:/no/such", scratch])).toEqual({ code: 125, stdout: "", stderr: "box: could not find the file /no/such in container cpr\n" });
      await box(env, ["rm", "cpr"]);
    });

    test("cp into a container whose /etc is a symlink to / stays inside the container", async () => {
      // A root filesystem whose /etc points at its own root.
      const root = join(scratch, "evilroot");
      Bun.spawnSync(["mkdir", "-p", join(root, "bin")]);
      Bun.spawnSync(["cp", "/bin/busybox", join(root, "bin/busybox")]);
      Bun.spawnSync(["ln", "-s", "/", join(root, "etc")]);
      if (env.user) Bun.spawnSync(["chown", "-R", `${env.user.uid}:${env.user.gid}`, root]);
      const run = await box(env, ["run", "-d", "--name", "evil", "--rootfs", root, "/bin/busybox", "sleep", "60"]);
      expect(run.code).toBe(0);
      writeFileSync(join(scratch, "planted"), "pwned\n");
      if (env.user) chownSync(join(scratch, "planted"), env.user.uid, env.user.gid);
      expect((await box(env, ["cp", join(scratch, "planted"), "evil:/etc/box-planted"])).code).toBe(0);
      expect(existsSync("/etc/box-planted")).toBe(false);
      // It landed where the container's /etc points: its own root.
      expect((await box(env, ["exec", "evil", "/bin/busybox", "cat", "/box-planted"])).stdout).toBe("pwned\n");
      // Reading /etc/shadow through the link finds the container's (missing) file, not the host's.
      const out = await box(env, ["cp", "evil:/etc/shadow", join(scratch, "leak")]);
      expect(out.code).toBe(125);
      expect(existsSync(join(scratch, "leak"))).toBe(false);
      await box(env, ["rm", "-f", "evil"]);
    });

    test("rename moves the name; the old one is free", async () => {
      await box(env, ["run", "--name", "old", "base", "true"]);
      expect((await box(env, ["rename", "old", "new"])).code).toBe(0);
      expect((await box(env, ["ps", "-a", "--format", "{{.Names}}"])).stdout).toContain("new\n");
      expect((await box(env, ["inspect", "old"])).code).toBe(1);
      await box(env, ["run", "--name", "old", "base", "true"]);
      expect((await box(env, ["rename", "old", "new"])).stderr).toBe('box: the container name "new" is already in use; remove that container or choose another name\n');
      await box(env, ["rm", "old", "new"]);
    });

    test.skipIf(kind === "rootless")("pause freezes the container's processes, unpause thaws them (root only: no freezer cgroup is delegated to users here)", async () => {
      await box(env, ["run", "-d", "--name", "frozen", "base", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/t; sleep 0.02; done"]);
      await Bun.sleep(200);
      expect((await box(env, ["pause", "frozen"])).code).toBe(0);
      expect((await box(env, ["inspect", "--format", "{{.State.Status}}", "frozen"])).stdout).toBe("paused\n");
      const a = (await box(env, ["cp", "frozen:/tmp/t", join(scratch, "t1")])).code;
      await Bun.sleep(200);
      await box(env, ["cp", "frozen:/tmp/t", join(scratch, "t2")]);
      expect(a).toBe(0);
      expect(readFileSync(join(scratch, "t1"), "utf8")).toBe(readFileSync(join(scratch, "t2"), "utf8"));
      expect((await box(env, ["unpause", "frozen"])).code).toBe(0);
      await Bun.sleep(200);
      await box(env, ["cp", "frozen:/tmp/t", join(scratch, "t3")]);
      expect(readFileSync(join(scratch, "t3"), "utf8")).not.toBe(readFileSync(join(scratch, "t2"), "utf8"));
      await box(env, ["rm", "-f", "frozen"]);
    });

    test.skipIf(kind === "rootless")("a paused container is stopped, killed and removed with -f, its process gone each time (root only: needs the freezer)", async () => {
      const pidAlive = (pid: string): boolean => existsSync(`/proc/${pid.trim()}`);
      // The TERM trap's exit code shows the stop signal itself reached the thawed process.
      await box(env, ["run", "-d", "--name", "pstop", "base", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done"]);
      await box(env, ["pause", "pstop"]);
      expect((await box(env, ["stop", "-t", "5", "pstop"])).code).toBe(0);
      expect((await box(env, ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "pstop"])).stdout).toBe("exited 3\n");

      await box(env, ["run", "-d", "--name", "pkill", "base", "sleep", "60"]);
      await box(env, ["pause", "pkill"]);
      expect((await box(env, ["kill", "pkill"])).code).toBe(0);
      expect((await box(env, ["wait", "pkill"])).stdout).toBe("137\n");

      await box(env, ["run", "-d", "--name", "prm", "base", "sleep", "60"]);
      const pid = (await box(env, ["inspect", "--format", "{{.State.Pid}}", "prm"])).stdout;
      await box(env, ["pause", "prm"]);
      expect((await box(env, ["rm", "-f", "prm"])).code).toBe(0);
      expect(pidAlive(pid)).toBe(false);
      expect((await box(env, ["inspect", "prm"])).code).toBe(1);
      await box(env, ["rm", "pstop", "pkill"]);
    });

    test("restart gives a running container a new process; container prune removes the stopped", async () => {
      await box(env, ["run", "-d", "--name", "re", "base", "sleep", "60"]);
      const pid1 = (await box(env, ["inspect", "--format", "{{.State.Pid}}", "re"])).stdout;
      expect((await box(env, ["restart", "-t", "0", "re"])).stdout).toBe("re\n");
      const pid2 = (await box(env, ["inspect", "--format", "{{.State.Pid}}", "re"])).stdout;
      expect(pid2).not.toBe(pid1);
      expect((await box(env, ["inspect", "--format", "{{.State.Status}}", "re"])).stdout).toBe("running\n");
      await box(env, ["run", "--name", "done1", "base", "true"]);
      const pruned = await box(env, ["container", "prune", "-f"]);
      expect(pruned.code).toBe(0);
      const names = (await box(env, ["ps", "-a", "--format", "{{.Names}}"])).stdout.split("\n");
      expect(names).toContain("re");
      expect(names).not.toContain("done1");
      await box(env, ["rm", "-f", "re"]);
    });
  });
}
