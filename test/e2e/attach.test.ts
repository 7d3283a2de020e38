/**
 * `box attach` and `box start -a`: clients of a detached container's monitor, through the attach
 * socket in its state directory. Root and rootless, with pipes and through a real terminal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { box, commandFor, makeEnv, REPO, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";
import { until } from "../helpers/wait.ts";

/** A `box attach` (or start -a) running in the background, its output read as it comes. */
function client(env: BoxEnv, args: string[]) {
  const proc = Bun.spawn(commandFor(env, args), { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, BOX_DEBUG: "" } });
  const text = { stdout: "", stderr: "" };
  const pump = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text[key] += decoder.decode(chunk, { stream: true });
  };
  const done = Promise.all([pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr")]);
  return {
    proc,
    text,
    write(s: string) {
      proc.stdin.write(s);
      proc.stdin.flush();
    },
    /** Wait until `pattern` shows on the stream; false after `timeoutMs`. */
    async waitFor(pattern: string | RegExp, key: "stdout" | "stderr" = "stdout", timeoutMs = 5000): Promise<boolean> {
      const end = performance.now() + timeoutMs;
      const seen = () => (typeof pattern === "string" ? text[key].includes(pattern) : pattern.test(text[key]));
      while (!seen()) {
        if (performance.now() > end) return false;
        await Bun.sleep(20);
      }
      return true;
    },
    async exit(timeoutMs = 10000): Promise<number> {
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      const code = await proc.exited;
      clearTimeout(timer);
      await done;
      return code;
    },
  };
}

function terminal(env: BoxEnv, rows: number, cols: number, steps: unknown[], args: string[]) {
  return Bun.spawn(["python3", join(REPO, "test/helpers/terminal.py"), String(rows), String(cols), JSON.stringify(steps), "--", ...commandFor(env, args)], {
    stdout: "pipe",
    stderr: "pipe",
  });
}

async function state(env: BoxEnv, name: string): Promise<string> {
  return (await box(env, ["inspect", "--format", "{{.State.Status}}", name])).stdout.trim();
}

for (const kind of ["root", "rootless"] as const) {
  const unavailable = kind === "rootless" && !can.rootlessUser;
  describe.skipIf(unavailable)(`attach (${kind})${unavailable ? " (skipped: no unprivileged test user; run scripts/setup.sh)" : ""}`, () => {
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

    test("run -d -i: lines written to attach reach stdin; stdout and stderr come back apart", async () => {
      expect((await box(env, ["run", "-d", "-i", "--name", "echo", "base", "sh", "-c", "while read l; do echo got $l; echo err $l >&2; done"])).code).toBe(0);
      const c = client(env, ["attach", "echo"]);
      c.write("one\n");
      expect(await c.waitFor("got one\n")).toBe(true);
      c.write("two\n");
      expect(await c.waitFor("got one\ngot two\n")).toBe(true);
      expect(await c.waitFor("err one\nerr two\n", "stderr")).toBe(true);
      expect(c.text.stdout).toBe("got one\ngot two\n");
      // A client that dies does not disturb the container, and the next one is served.
      c.proc.kill("SIGKILL");
      await c.exit();
      expect(await state(env, "echo")).toBe("running");
      const again = client(env, ["attach", "--sig-proxy=false", "echo"]);
      again.write("three\n");
      expect(await again.waitFor("got three\n")).toBe(true);
      again.proc.kill("SIGKILL");
      await again.exit();
      expect((await box(env, ["logs", "echo"])).stdout).toBe("got one\ngot two\ngot three\n");
    });

    test("two clients at once both receive a running counter; one leaving leaves the other served", async () => {
      await box(env, ["run", "-d", "--name", "counter", "base", "sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done"]);
      const a = client(env, ["attach", "--no-stdin", "counter"]);
      const b = client(env, ["attach", "--no-stdin", "counter"]);
      expect(await a.waitFor(/tick \d+\n(.|\n)*tick \d+\n/)).toBe(true);
      expect(await b.waitFor(/tick \d+\n(.|\n)*tick \d+\n/)).toBe(true);
      // Once both are connected they see the same ticks.
      const last = Number(/tick (\d+)\n$/.exec(b.text.stdout)?.[1]);
      expect(await a.waitFor(`tick ${last + 3}\n`)).toBe(true);
      expect(await b.waitFor(`tick ${last + 3}\n`)).toBe(true);
      a.proc.kill("SIGKILL");
      await a.exit();
      expect(await b.waitFor(`tick ${last + 10}\n`)).toBe(true);
      b.proc.kill("SIGKILL");
      await b.exit();
      expect(await state(env, "counter")).toBe("running");
      await box(env, ["rm", "-f", "counter"]);
    });

    test("a client that stops reading is dropped past 1 MiB behind; the container and a reading client go on", async () => {
      await box(env, ["run", "-d", "--name", "flood", "base", "sh", "-c", "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done"]);
      const reader = client(env, ["attach", "--no-stdin", "flood"]);
      // Its stdout is a pipe nobody reads for 3 s.
      const stuck = Bun.spawn(["bash", "-c", `${commandFor(env, ["attach", "--no-stdin", "flood"]).join(" ")} 2>&1 | { sleep 3; head -c 0; }; echo "status \${PIPESTATUS[0]}"`], { stdout: "pipe" });
      const out = await new Response(stuck.stdout).text();
      // Over the same 3 s the reading client received far more than the stuck one was allowed to lag.
      expect(reader.text.stdout.length).toBeGreaterThan(4 << 20);
      expect(out).toEndWith("status 125\n");
      expect(await state(env, "flood")).toBe("running");
      reader.proc.kill("SIGKILL");
      await reader.exit();
      await box(env, ["rm", "-f", "flood"]);
    }, 20000);

    test("input the container does not read waits in the kernel's buffers: output still flows, and the monitor does not spin", async () => {
      const id = (await box(env, ["run", "-d", "-i", "--name", "deaf", "base", "sh", "-c", "while [ ! -e /tmp/quiet ]; do echo tick; sleep 0.05; done; sleep 1000"])).stdout.trim();
      const shimPid = JSON.parse(readFileSync(join(env.runroot, "containers", id, "state.json"), "utf8")).shimPid as number;
      const writer = client(env, ["attach", "deaf"]);
      writer.write("y".repeat(1 << 20));
      const listener = client(env, ["attach", "--no-stdin", "deaf"]);
      expect(await listener.waitFor("tick\n")).toBe(true);
      const seen = listener.text.stdout.length;
      await Bun.sleep(300);
      expect(listener.text.stdout.length).toBeGreaterThan(seen);
      // Silent from now on, so no output write can reveal a client's hang-up: poll alone must.
      await box(env, ["exec", "deaf", "touch", "/tmp/quiet"]);
      await writer.proc.stdin.end();
      writer.proc.kill("SIGKILL");
      await writer.exit();
      await Bun.sleep(100);
      const cpu = () => readFileSync(`/proc/${shimPid}/stat`, "utf8").split(") ")[1]?.split(" ").slice(11, 13).reduce((a, b) => a + Number(b), 0) ?? 0;
      const before = cpu();
      await Bun.sleep(1000);
      // Clock ticks (1/100 s) of the monitor over that second: idle, not polling in a loop.
      expect(cpu() - before).toBeLessThan(10);
      listener.proc.kill("SIGKILL");
      await listener.exit();
      await box(env, ["rm", "-f", "deaf"]);
      // A megabyte through two attach clients on a loaded 2-core machine outlasts bun's 5 s default.
    }, 20000);

    test("attach exits with the container's code; signals reach a non-TTY container through it", async () => {
      await box(env, ["run", "-d", "-i", "--name", "coder", "base", "sh", "-c", "read x; exit $x"]);
      const c = client(env, ["attach", "coder"]);
      c.write("7\n");
      expect(await c.exit()).toBe(7);
      await box(env, ["run", "-d", "--name", "trapper", "base", "sh", "-c", "trap 'echo caught; exit 9' TERM; echo ready; while :; do sleep 0.05; done"]);
      const t = client(env, ["attach", "trapper"]);
      expect(await until(async () => (await box(env, ["logs", "trapper"])).stdout === "ready\n")).toBe(true);
      await Bun.sleep(200);
      t.proc.kill("SIGTERM");
      expect(await t.exit()).toBe(9);
      expect(t.text.stdout).toBe("caught\n");
      expect(await state(env, "trapper")).toBe("exited");
    });

    test("--detach-keys leaves the container running and exits 0", async () => {
      await box(env, ["run", "-d", "-i", "--name", "stay", "base", "sh", "-c", "while read l; do echo got $l; done"]);
      const c = client(env, ["attach", "--detach-keys", "ctrl-x,x", "stay"]);
      c.write("a\n");
      expect(await c.waitFor("got a\n")).toBe(true);
      // A broken sequence goes to the container; the whole one detaches.
      c.write("\x18b\n");
      expect(await c.waitFor("got \x18b\n")).toBe(true);
      c.write("\x18x");
      expect(await c.exit()).toBe(0);
      expect(c.text.stderr).toBe("");
      expect(await state(env, "stay")).toBe("running");
      await box(env, ["rm", "-f", "stay"]);
    });

    test("start -a prints a created container's output and returns its code; start -ai ends its stdin with box's", async () => {
      await box(env, ["create", "--name", "once", "base", "sh", "-c", "echo out; echo err >&2; exit 5"]);
      expect(await box(env, ["start", "-a", "once"])).toEqual({ code: 5, stdout: "out\n", stderr: "err\n" });
      // Started again: the same.
      expect(await box(env, ["start", "-a", "once"])).toEqual({ code: 5, stdout: "out\n", stderr: "err\n" });
      await box(env, ["create", "-i", "--name", "reader", "base", "sh", "-c", "while read l; do echo got $l; done; echo eof; exit 2"]);
      expect(await box(env, ["start", "-ai", "reader"], { stdin: "a\nb\n" })).toEqual({ code: 2, stdout: "got a\ngot b\neof\n", stderr: "" });
      expect((await box(env, ["logs", "reader"])).stdout).toBe("got a\ngot b\neof\n");
      // Already running: start -a attaches, as docker's does.
      await box(env, ["run", "-d", "--name", "late", "base", "sh", "-c", "sleep 1; echo late; exit 3"]);
      expect(await box(env, ["start", "-a", "late"])).toEqual({ code: 3, stdout: "late\n", stderr: "" });
    });

    test("bad input: stopped, unknown, started in the foreground, too many names", async () => {
      await box(env, ["create", "--name", "idle", "base", "true"]);
      expect(await box(env, ["attach", "idle"])).toEqual({
        code: 125, stdout: "", stderr: "box: cannot attach to container idle: it is not running; start it first: box start -a idle\n",
      });
      expect(await box(env, ["attach", "nosuch"])).toMatchObject({ code: 125, stderr: "box: no such container: nosuch; see 'box ps -a' for the containers that exist\n" });
      expect((await box(env, ["attach", "idle", "other"])).code).toBe(125);
      expect(await box(env, ["attach", "--detach-keys", "ctrl-1", "idle"])).toMatchObject({ code: 125, stderr: expect.stringContaining("invalid detach keys `ctrl-1`") });
      const fg = client(env, ["run", "--name", "fg", "base", "sh", "-c", "echo up; sleep 20"]);
      expect(await fg.waitFor("up\n")).toBe(true);
      const r = await box(env, ["attach", "fg"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toStartWith("box: cannot attach to container fg: it has no attach socket");
      // Its shim holds the output pipes until the container is gone.
      await box(env, ["rm", "-f", "fg"]);
      await fg.exit();
    });

    test.skipIf(!can.python)("run -dit: a shell through attach, resize, detach with ctrl-p ctrl-q, attach again, exit 3", async () => {
      expect((await box(env, ["run", "-dit", "--name", "shell", "base", "sh"])).code).toBe(0);
      const first = terminal(env, 24, 80, [
        ["wait", 0.3],
        ["send", "echo hi-$((6*7))\r"],
        ["expect", "hi-42", 5],
        ["send", "stty size\r"],
        ["expect", "24 80", 5],
        ["resize", 33, 101],
        ["wait", 0.3],
        ["send", "stty size\r"],
        ["expect", "33 101", 5],
        ["send", "\x10\x11"],
      ], ["attach", "shell"]);
      const out1 = await new Response(first.stdout).text();
      expect(await first.exited).toBe(0);
      expect(out1).toContain("hi-42");
      expect(out1).toContain("33 101");
      expect(out1.trim().split("\n").at(-1)).toBe("EXIT 0");
      expect(await state(env, "shell")).toBe("running");
      const second = terminal(env, 24, 80, [
        ["wait", 0.3],
        ["send", "echo back-$((2+3))\r"],
        ["expect", "back-5", 5],
        ["send", "exit 3\r"],
      ], ["attach", "shell"]);
      const out2 = await new Response(second.stdout).text();
      expect(out2).toContain("back-5");
      expect(out2.trim().split("\n").at(-1)).toBe("EXIT 3");
      expect(await state(env, "shell")).toBe("exited");
    });

    test.skipIf(!can.python)("a TTY attach killed by SIGTERM leaves with 143, its terminal cooked again, the container running", async () => {
      await box(env, ["run", "-dit", "--name", "termed", "base", "sh"]);
      const attach = commandFor(env, ["attach", "termed"]).join(" ");
      const script = `${attach} </dev/tty & p=$!; sleep 1; kill -TERM $p; wait $p; echo rc=$?; stty -a | grep -o -- '-\\?icanon' | head -1`;
      const p = Bun.spawn(["python3", join(REPO, "test/helpers/terminal.py"), "24", "80", JSON.stringify([["wait", 2.5]]), "--", "bash", "-c", script], { stdout: "pipe" });
      const out = await new Response(p.stdout).text();
      expect(out).toContain("rc=143\r\nicanon\r\n");
      expect(await state(env, "termed")).toBe("running");
      await box(env, ["rm", "-f", "termed"]);
    });

    test.skipIf(!can.python)("create -t -i, start -ai: an interactive terminal", async () => {
      await box(env, ["create", "-t", "-i", "--name", "later", "base", "sh"]);
      const p = terminal(env, 30, 90, [
        ["expect", "# ", 5],
        ["send", "stty size; echo in-$((1+1))\r"],
        ["expect", "in-2", 5],
        ["send", "exit 6\r"],
      ], ["start", "-ai", "later"]);
      const out = await new Response(p.stdout).text();
      expect(out).toContain("30 90");
      expect(out.trim().split("\n").at(-1)).toBe("EXIT 6");
    });

    test("attach to -it without a terminal on stdin is refused, as docker does; -t alone is not", async () => {
      await box(env, ["run", "-dit", "--name", "needtty", "base", "sh"]);
      expect(await box(env, ["attach", "needtty"])).toMatchObject({ code: 125, stderr: "box: the input device is not a TTY; run box from a terminal, or attach with --no-stdin\n" });
      await box(env, ["rm", "-f", "needtty"]);
      // Without -i there is no stdin to attach, so no terminal is needed: the output comes as the TTY wrote it.
      await box(env, ["run", "-dt", "--name", "ttyout", "base", "sh", "-c", "sleep 1; echo from-tty; exit 2"]);
      expect(await box(env, ["attach", "ttyout"])).toEqual({ code: 2, stdout: "from-tty\r\n", stderr: "" });
    });
  });
}
