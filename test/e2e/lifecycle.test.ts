/**
 * Containers over time without a daemon: detached runs whose monitor outlives box, and the
 * commands that find, follow, stop and remove them. Root and rootless, like run.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { box, commandFor, makeEnv, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";
import { until } from "../helpers/wait.ts";

for (const kind of ["root", "rootless"] as const) {
  const unavailable = kind === "rootless" && !can.rootlessUser;
  describe.skipIf(unavailable)(`container lifecycle (${kind})${unavailable ? " (skipped: no unprivileged test user; run scripts/setup.sh)" : ""}`, () => {
    let env: BoxEnv;
    beforeAll(async () => {
      env = makeEnv(kind);
      expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
    });
    afterAll(async () => {
      const all = await box(env, ["ps", "-aq", "--no-trunc"]);
      for (const id of all.stdout.split("\n").filter(Boolean)) await box(env, ["rm", "-f", id]);
      env.dispose();
    });

    test("run -d prints the id, ps shows the container running, logs has its output", async () => {
      const r = await box(env, ["run", "-d", "--name", "ticker", "base", "sh", "-c", "echo out; echo err >&2; while :; do sleep 0.05; done"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      const id = r.stdout.trim();
      const ps = await box(env, ["ps", "--format", "{{.ID}} {{.Names}} {{.State}}"]);
      expect(ps.stdout).toContain(`${id.slice(0, 12)} ticker running\n`);
      expect(await until(async () => (await box(env, ["logs", "ticker"])).stdout === "out\n")).toBe(true);
      const logs = await box(env, ["logs", "ticker"]);
      expect(logs.stderr).toBe("err\n");
      const ts = await box(env, ["logs", "-t", "ticker"]);
      expect(ts.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out\n$/);
      const inspected = await box(env, ["inspect", "--format", "{{.State.Status}} {{.State.Running}} {{.Name}}", "ticker"]);
      expect(inspected.stdout).toBe("running true /ticker\n");
      // The id prefix finds it too.
      expect((await box(env, ["inspect", "--format", "{{.Id}}", id.slice(0, 8)])).stdout).toBe(`${id}\n`);
      expect((await box(env, ["rm", "-f", "ticker"])).code).toBe(0);
    });

    test("logs -f follows output as it is written and ends when the container exits", async () => {
      await box(env, ["run", "-d", "--name", "counter", "base", "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done"]);
      const r = await box(env, ["logs", "-f", "counter"]);
      expect(r.stdout).toBe("line 1\nline 2\nline 3\nline 4\nline 5\n");
      const tail = await box(env, ["logs", "--tail", "2", "counter"]);
      expect(tail.stdout).toBe("line 4\nline 5\n");
      await box(env, ["rm", "counter"]);
    });

    test("stop: SIGTERM first; a process that ignores it is killed after -t seconds", async () => {
      await box(env, ["run", "-d", "--name", "polite", "base", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.05; done"]);
      await Bun.sleep(200);
      expect((await box(env, ["stop", "polite"])).stdout).toBe("polite\n");
      expect((await box(env, ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "polite"])).stdout).toBe("exited 3\n");

      await box(env, ["run", "-d", "--name", "stubborn", "base", "sleep", "100"]);
      const t0 = performance.now();
      await box(env, ["stop", "-t", "1", "stubborn"]);
      const took = performance.now() - t0;
      expect(took).toBeGreaterThan(900);
      expect((await box(env, ["ps", "-a", "--filter", "name=stubborn", "--format", "{{.Status}}"])).stdout).toStartWith("Exited (137)");
      await box(env, ["rm", "polite", "stubborn"]);
    });

    test("kill -s, wait prints the exit code, start runs an exited container again", async () => {
      await box(env, ["run", "-d", "--name", "k", "base", "sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.05; done"]);
      await Bun.sleep(200);
      const waiter = box(env, ["wait", "k"]);
      expect((await box(env, ["kill", "-s", "USR1", "k"])).code).toBe(0);
      expect((await waiter).stdout).toBe("42\n");
      expect((await box(env, ["start", "k"])).stdout).toBe("k\n");
      expect((await box(env, ["inspect", "--format", "{{.State.Status}}", "k"])).stdout).toBe("running\n");
      await box(env, ["rm", "-f", "k"]);
    });

    test("a container kept after a foreground run keeps its writable layer across start", async () => {
      expect((await box(env, ["run", "--name", "keeper", "base", "sh", "-c", "echo kept > /data"])).code).toBe(0);
      expect((await box(env, ["start", "-a", "keeper"])).code).toBe(0);
      const logs = await box(env, ["run", "--rm", "base", "true"]);
      expect(logs.code).toBe(0);
      await box(env, ["rm", "keeper"]);
    });

    test("--rm with -d removes the container when it exits", async () => {
      await box(env, ["run", "-d", "--rm", "--name", "gone", "base", "true"]);
      expect(await until(async () => (await box(env, ["ps", "-a", "--format", "{{.Names}}"])).stdout.split("\n").includes("gone") === false)).toBe(true);
    });

    test("kill -9 of the monitor: ps still tells the truth", async () => {
      const id = (await box(env, ["run", "-d", "--name", "orphan", "base", "sleep", "100"])).stdout.trim();
      const shimPid = JSON.parse(readFileSync(join(env.runroot, "containers", id, "state.json"), "utf8")).shimPid as number;
      const pid = JSON.parse(readFileSync(join(env.runroot, "containers", id, "state.json"), "utf8")).pid as number;
      process.kill(shimPid, "SIGKILL");
      process.kill(pid, "SIGKILL");
      expect(await until(async () => (await box(env, ["ps", "-a", "--filter", "name=orphan", "--format", "{{.State}}"])).stdout === "exited\n")).toBe(true);
      expect((await box(env, ["ps", "-a", "--filter", "name=orphan", "--format", "{{.Status}}"])).stdout).toStartWith("Exited (unknown)");
      await box(env, ["rm", "orphan"]);
    });

    test("a wiped state root (a reboot): containers show as created, and can start again", async () => {
      const id = (await box(env, ["run", "--name", "survivor", "base", "true"])).stdout.trim();
      expect(id).toBe("");
      rmSync(join(env.runroot, "containers"), { recursive: true, force: true });
      expect((await box(env, ["ps", "-a", "--filter", "name=survivor", "--format", "{{.State}}"])).stdout).toBe("created\n");
      expect((await box(env, ["start", "-a", "survivor"])).code).toBe(0);
      await box(env, ["rm", "survivor"]);
    });

    test("20 parallel run -d give 20 distinct running containers in ps", async () => {
      const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => box(env, ["run", "-d", "--name", `par${i}`, "base", "sleep", "30"])));
      expect(runs.map((r) => r.code)).toEqual(Array(20).fill(0));
      const ps = await box(env, ["ps", "--filter", "name=^par", "--format", "{{.Names}}"]);
      expect(ps.stdout.split("\n").filter(Boolean).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `par${i}`).sort());
      const rm = await box(env, ["rm", "-f", ...Array.from({ length: 20 }, (_, i) => `par${i}`)]);
      expect(rm.code).toBe(0);
      expect((await box(env, ["ps", "-aq"])).stdout).toBe("");
    }, 60000);

    test("bad input: unknown container, a name in use, rm of a running container", async () => {
      expect(await box(env, ["stop", "nosuch"])).toEqual({ code: 1, stdout: "", stderr: "box: no such container: nosuch; see 'box ps -a' for the containers that exist\n" });
      await box(env, ["run", "-d", "--name", "busy", "base", "sleep", "30"]);
      const dup = await box(env, ["run", "-d", "--name", "busy", "base", "true"]);
      expect(dup.code).toBe(125);
      expect(dup.stderr).toBe('box: the container name "busy" is already in use; remove that container or choose another --name\n');
      const rm = await box(env, ["rm", "busy"]);
      expect(rm).toEqual({ code: 1, stdout: "", stderr: "box: cannot remove container busy: container is running; stop the container before removing it, or use box rm -f\n" });
      expect((await box(env, ["rm", "-f", "busy"])).code).toBe(0);
      const kill = await box(env, ["kill", "nosuch"]);
      expect(kill.code).toBe(1);
    });

    test("exec enters every namespace of the container: its pids, files, hostname and user map", async () => {
      await box(env, ["run", "-d", "--name", "target", "--hostname", "inside", "base", "sh", "-c", "echo mark > /tmp/mark; sleep 60"]);
      await Bun.sleep(200);
      const r = await box(env, ["exec", "target", "sh", "-c", "echo $$; cat /tmp/mark; hostname; cat /proc/1/comm; id -u"]);
      expect(r.code).toBe(0);
      const [pid, mark, host, comm, uid] = r.stdout.split("\n");
      expect(Number(pid)).toBeLessThan(10);
      expect(mark).toBe("mark");
      expect(host).toBe("inside");
      // The container's PID 1 (busybox sh execs its last command), not anything of the host.
      expect(comm).toBe("sleep");
      expect(uid).toBe("0");
      expect((await box(env, ["exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "target", "sh", "-c", "id -un; pwd; echo $X"])).stdout).toBe("nobody\n/tmp\n1\n");
      expect((await box(env, ["exec", "target", "sh", "-c", "exit 7"])).code).toBe(7);
      expect(await box(env, ["exec", "target", "nosuch"])).toEqual({ code: 127, stdout: "", stderr: "box: exec `nosuch`: executable file not found in $PATH\n" });
      expect((await box(env, ["exec", "-i", "target", "cat"], { stdin: "through stdin\n" })).stdout).toBe("through stdin\n");
      await box(env, ["stop", "-t", "0", "target"]);
      expect(await box(env, ["exec", "target", "true"])).toEqual({ code: 125, stdout: "", stderr: "box: container target is not running; start it first with box start\n" });
      await box(env, ["rm", "target"]);
    });

    test("a detached container's monitor is small", async () => {
      const id = (await box(env, ["run", "-d", "--name", "mem", "base", "sleep", "30"])).stdout.trim();
      const shimPid = JSON.parse(readFileSync(join(env.runroot, "containers", id, "state.json"), "utf8")).shimPid as number;
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${shimPid}/status`, "utf8"))?.[1]);
      // conmon's order of magnitude is 1.9 MiB; the ceiling is 5 MiB.
      expect(rss).toBeLessThan(5 * 1024);
      await box(env, ["rm", "-f", "mem"]);
    });
  });
}

test("commandFor keeps the roots of its env", () => {
  const env = makeEnv("root");
  expect(commandFor(env, ["ps"]).slice(1, 5)).toEqual(["--root", env.root, "--runroot", env.runroot]);
  env.dispose();
});

describe("restart policies and create", () => {
  let env: BoxEnv;
  beforeAll(async () => {
    env = makeEnv("root");
    await box(env, ["pull", "-q", "base"]);
  });
  afterAll(async () => {
    const all = await box(env, ["ps", "-aq", "--no-trunc"]);
    for (const id of all.stdout.split("\n").filter(Boolean)) await box(env, ["rm", "-f", id]);
    env.dispose();
  });

  test("--restart on-failure:3 runs a failing container four times, then leaves it exited", async () => {
    await box(env, ["run", "-d", "--name", "flaky", "--restart", "on-failure:3", "base", "sh", "-c", "echo attempt; exit 1"]);
    expect(await until(async () => (await box(env, ["logs", "flaky"])).stdout === "attempt\n".repeat(4), 10000)).toBe(true);
    expect(await until(async () => (await box(env, ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "flaky"])).stdout === "exited 1\n")).toBe(true);
    await Bun.sleep(300);
    expect((await box(env, ["logs", "flaky"])).stdout).toBe("attempt\n".repeat(4));
  });

  test("--restart always restarts until the user stops it", async () => {
    await box(env, ["run", "-d", "--name", "phoenix", "--restart", "always", "base", "sh", "-c", "echo up; sleep 0.1"]);
    expect(await until(async () => (await box(env, ["logs", "phoenix"])).stdout.split("\n").length > 3, 10000)).toBe(true);
    await box(env, ["stop", "phoenix"]);
    const after = (await box(env, ["logs", "phoenix"])).stdout;
    await Bun.sleep(500);
    expect((await box(env, ["logs", "phoenix"])).stdout).toBe(after);
    expect((await box(env, ["inspect", "--format", "{{.State.Status}}", "phoenix"])).stdout).toBe("exited\n");
  });

  test("bad restart policies and --rm with --restart are refused", async () => {
    expect((await box(env, ["run", "--restart", "sometimes", "base", "true"])).stderr).toBe(
      "box: --restart: invalid restart policy `sometimes`; use no, on-failure[:N], always or unless-stopped\n");
    expect((await box(env, ["run", "--rm", "--restart", "always", "base", "true"])).stderr).toBe(
      "box: conflicting options: --restart and --rm; a container that restarts cannot also be removed when it exits\n");
  });

  test("create makes a container that start runs later", async () => {
    const id = (await box(env, ["create", "--name", "later", "base", "echo", "ran"])).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await box(env, ["ps", "-a", "--filter", "name=later", "--format", "{{.Status}}"])).stdout).toBe("Created\n");
    const started = await box(env, ["start", "-a", "later"]);
    expect(started.stdout).toBe("ran\n");
    expect((await box(env, ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "later"])).stdout).toBe("exited 0\n");
  });
});
