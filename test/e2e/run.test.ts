/**
 * `box run` against the real kernel: every namespace, mount and privilege is observed from inside
 * the container. The same suite runs as root and as an unprivileged user (runc's rootless.sh idea).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, chownSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { box, commandFor, makeEnv, REPO, sh, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

const DEFAULT_CAPS = "00000000a80425fb";

for (const kind of ["root", "rootless"] as const) {
  const unavailable = kind === "rootless" && !can.rootlessUser;
  describe.skipIf(unavailable)(`box run (${kind})${unavailable ? " (skipped: no unprivileged test user; run scripts/setup.sh)" : ""}`, () => {
    let env: BoxEnv;
    let scratch: string;
    beforeAll(async () => {
      env = makeEnv(kind);
      scratch = mkdtempSync(join(tmpdir(), "box-scratch-"));
      if (env.user) chownSync(scratch, env.user.uid, env.user.gid);
      const pulled = await box(env, ["pull", "-q", "base"]);
      expect(pulled.stderr).toBe("");
      expect(pulled.code).toBe(0);
    });
    afterAll(() => {
      env.dispose();
      rmSync(scratch, { recursive: true, force: true });
    });

    test("runs a command and passes its output through", async () => {
      const r = await sh(env, "echo hello");
      expect(r).toEqual({ code: 0, stdout: "hello\n", stderr: "" });
    });

    test("the command is PID 1 of a new pid namespace", async () => {
      const r = await sh(env, "echo $$; ls /proc | grep -c '^[0-9]'");
      const [pid, count] = r.stdout.trim().split("\n");
      expect(pid).toBe("1");
      // The shell, ls and grep: none of the host's processes.
      expect(Number(count)).toBeLessThanOrEqual(3);
    });

    test("--init runs the command as a child of a reaping PID 1", async () => {
      const r = await sh(env, "echo $$; cat /proc/1/cmdline | tr '\\0' ' '", ["--init"]);
      expect(r.code).toBe(0);
      expect(r.stdout.split("\n")[0]).toBe("2");
    });

    test("uts namespace: the hostname is the short id, or --hostname", async () => {
      const a = await sh(env, "hostname; cat /etc/hostname");
      const [h1, h2] = a.stdout.trim().split("\n");
      expect(h1).toMatch(/^[0-9a-f]{12}$/);
      expect(h2).toBe(h1);
      const b = await sh(env, "hostname", ["--hostname", "web-1"]);
      expect(b.stdout).toBe("web-1\n");
      expect(readFileSync("/proc/sys/kernel/hostname", "utf8").trim()).not.toBe("web-1");
    });

    test("user namespace: root inside maps to the invoking user", async () => {
      const r = await sh(env, "id -u; cat /proc/self/uid_map");
      const [uid, ...map] = r.stdout.trim().split("\n");
      expect(uid).toBe("0");
      const first = (map[0] ?? "").trim().split(/\s+/);
      if (kind === "root") {
        expect(first).toEqual(["0", "0", "4294967295"]);
      } else {
        expect(first).toEqual(["0", String(env.user?.uid), "1"]);
        // The subordinate range from /etc/subuid gives the container 65536 more ids.
        expect((map[1] ?? "").trim().split(/\s+/)[2]).toBe("65536");
      }
    });

    test("--network none: a net namespace with only loopback, and it is up", async () => {
      const r = await sh(env, "ls /sys/class/net; cat /sys/class/net/lo/operstate; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok", ["--network", "none"]);
      expect(r.stdout).toBe("lo\nunknown\nping-ok\n");
    });

    test("--network host shares the host's interfaces", async () => {
      // /proc/net/dev follows the reader's network namespace (the test's own, see scripts/test.sh);
      // /sys/class/net would show the namespace of whoever mounted /sys.
      // A rootless container cannot mount a sysfs of its own and sees the host's /sys.
      const host = kind === "rootless" ? readdirSync("/sys/class/net").sort().join(" ") : readFileSync("/proc/net/dev", "utf8").split("\n").slice(2).map((l) => l.split(":")[0]?.trim()).filter((n) => n).sort().join(" ");
      const r = await sh(env, "ls /sys/class/net | sort | tr '\\n' ' '", ["--network", "host"]);
      expect(r.stdout.trim()).toBe(host);
    });

    test("ipc namespace: the host's SysV queues are not visible", async () => {
      const r = await sh(env, "cat /proc/sysvipc/msg | wc -l");
      expect(r.stdout.trim()).toBe("1");
    });

    test("mount namespace: mounts made inside never reach the host", async () => {
      const before = readFileSync("/proc/self/mountinfo", "utf8").split("\n").length;
      const r = await sh(env, "mkdir -p /mnt/x && mount -t tmpfs none /mnt/x && grep -c ' /mnt/x ' /proc/self/mountinfo", ["--cap-add", "SYS_ADMIN"]);
      expect(r.stdout.trim()).toBe("1");
      const after = readFileSync("/proc/self/mountinfo", "utf8").split("\n").length;
      expect(after).toBe(before);
    });

    test("cgroup namespace: the container sees its own cgroup as the root", async () => {
      const r = await sh(env, "cat /proc/self/cgroup");
      if (kind === "root") {
        for (const line of r.stdout.trim().split("\n")) expect(line).toMatch(/:\/$/);
      } else {
        expect(r.code).toBe(0);
      }
    });

    test("/sys/fs/cgroup shows the host's hierarchies, read-only; root's are the container's own groups", async () => {
      const host = readdirSync("/sys/fs/cgroup").sort();
      const r = await sh(env, [
        "ls /sys/fs/cgroup | tr '\\n' ' '; echo",
        "touch /sys/fs/cgroup/x 2>&1 | grep -o 'Read-only file system'",
        // Rootless, the bound hierarchies are the host's and refuse the user (EACCES) rather than EROFS.
        "mkdir /sys/fs/cgroup/memory/x 2>/dev/null && echo created || echo refused",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.max 2>/dev/null",
        "cat /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/cgroup.procs 2>/dev/null | grep -c .",
      ].join("; "), ["--memory", "64m"].filter(() => kind === "root"));
      const [names, rofs, rofs2, limit, procs] = r.stdout.split("\n");
      expect(names?.trim().split(" ").sort()).toEqual(host);
      expect([rofs, rofs2]).toEqual(["Read-only file system", "refused"]);
      if (kind === "root") {
        // The limit and the processes are the container's: the cgroup namespace is the mount's root.
        expect(limit).toBe("67108864");
        expect(procs).toBe("3");
      }
      const privileged = await sh(env, "mkdir /sys/fs/cgroup/pids/sub && rmdir /sys/fs/cgroup/pids/sub && echo writable", ["--privileged"].filter(() => kind === "root"));
      if (kind === "root") expect(privileged.stdout).toBe("writable\n");
    });

    test("the root filesystem is a fresh writable layer; the image is untouched", async () => {
      const r = await sh(env, "echo data > /created && cat /created");
      expect(r.stdout).toBe("data\n");
      const again = await sh(env, "test -e /created && echo present || echo absent");
      expect(again.stdout).toBe("absent\n");
    });

    test("/dev holds the standard devices and a private devpts", async () => {
      const r = await sh(env, "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; readlink /dev/ptmx");
      const lines = r.stdout.split("\n");
      for (const d of ["null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd", "stdin"]) {
        expect(lines[0]?.split(" ")).toContain(d);
      }
      expect(lines[1]?.trim()).toBe("4");
      expect(lines[2]).toBe("null-ok");
      expect(lines[3]).toBe("pts/ptmx");
    });

    test("/sys is read-only, /proc/sys is read-only, sensitive /proc paths are masked", async () => {
      const r = await sh(env, [
        "touch /sys/x 2>&1 | grep -o 'Read-only file system'",
        "sh -c 'echo 1 > /proc/sys/kernel/domainname' 2>&1 | grep -o 'Read-only file system'",
        "cat /proc/keys /proc/timer_list /proc/interrupts | wc -c",
        "ls /sys/firmware | wc -l",
        "grep -c ' /proc/keys ' /proc/mounts",
      ].join("; "));
      expect(r.stdout).toBe("Read-only file system\nRead-only file system\n0\n0\n1\n");
    });

    test("/etc/hosts and /etc/resolv.conf are provided", async () => {
      const r = await sh(env, "grep -c localhost /etc/hosts; test -f /etc/resolv.conf && echo resolv", ["--hostname", "h1"]);
      expect(r.stdout).toBe("2\nresolv\n");
      // Without a network address the hostname resolves to 127.0.1.1, as on a Debian host.
      const h = await sh(env, "grep h1 /etc/hosts", ["--hostname", "h1", "--network", "none"]);
      expect(h.stdout).toBe("127.0.1.1\th1\n");
    });

    test("--read-only: writes to the root fail with EROFS, tmpfs and volumes stay writable", async () => {
      const dir = join(scratch, "ro-vol");
      mkdirSync(dir);
      if (env.user) chownSync(dir, env.user.uid, env.user.gid);
      const r = await sh(env, [
        "touch /x 2>&1 | grep -o 'Read-only file system'",
        "touch /tmp/x /var/tmp/x /run/x && echo tmp-ok",
        "echo v > /data/f && echo vol-ok",
      ].join("; "), ["--read-only", "-v", `${dir}:/data`]);
      expect(r.stdout).toBe("Read-only file system\ntmp-ok\nvol-ok\n");
      expect(readFileSync(join(dir, "f"), "utf8")).toBe("v\n");
    });

    test("--read-only-tmpfs=false leaves /tmp read-only too", async () => {
      const r = await sh(env, "touch /tmp/x 2>&1 | grep -o 'Read-only file system'", ["--read-only", "--read-only-tmpfs=false"]);
      expect(r.stdout).toBe("Read-only file system\n");
    });

    test("-v HOST:CTR:ro is read-only; a file can be bind-mounted", async () => {
      const dir = join(scratch, "ro");
      mkdirSync(dir);
      writeFileSync(join(dir, "f"), "host\n");
      writeFileSync(join(scratch, "single"), "one file\n");
      const r = await sh(env, "cat /ro/f; touch /ro/g 2>&1 | grep -o 'Read-only file system'; cat /etc/single", [
        "-v", `${dir}:/ro:ro`, "-v", `${join(scratch, "single")}:/etc/single`,
      ]);
      expect(r.stdout).toBe("host\nRead-only file system\none file\n");
    });

    test("--tmpfs and --mount type=tmpfs mount tmpfs with options", async () => {
      const r = await sh(env, "grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4; grep ' /m ' /proc/mounts | cut -d' ' -f3", [
        "--tmpfs", "/scratch:size=1m,mode=700", "--mount", "type=tmpfs,target=/m",
      ]);
      const [a, b] = r.stdout.trim().split("\n");
      expect(a).toMatch(/^tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=700/);
      expect(b).toBe("tmpfs");
    });

    test("--mount type=bind,readonly and named volumes persist between containers", async () => {
      const r1 = await sh(env, "echo kept > /v/file", ["-v", "myvol:/v"]);
      expect(r1.code).toBe(0);
      const r2 = await sh(env, "cat /v/file", ["--mount", "type=volume,source=myvol,target=/v,readonly"]);
      expect(r2.stdout).toBe("kept\n");
    });

    test("-e, --env-file, -w, defaults for PATH, HOME and HOSTNAME", async () => {
      const file = join(scratch, "env.list");
      writeFileSync(file, "# comment\nFROM_FILE=yes\n\nOVERRIDE=file\n");
      const r = await box(env, ["run", "--rm", "-e", "A=1", "--env-file", file, "-e", "OVERRIDE=flag", "-w", "/tmp/work", "--hostname", "hn",
        "base", "/bin/sh", "-c", "echo $A $FROM_FILE $OVERRIDE $HOME $HOSTNAME; pwd; echo $PATH"]);
      expect(r.stdout).toBe("1 yes flag /root hn\n/tmp/work\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    });

    test("-u resolves names in the container's /etc/passwd; numeric ids are taken as given", async () => {
      const a = await sh(env, "id", ["-u", "nobody"]);
      expect(a.stdout.trim()).toBe("uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)");
      const b = await sh(env, "id -u; id -g", ["-u", "1000:1000"]);
      expect(b.stdout).toBe("1000\n1000\n");
      const c = await sh(env, "id", ["-u", "nosuchuser"]);
      expect(c.code).toBe(125);
      expect(c.stderr).toBe("box: unable to find user nosuchuser: no matching entries in passwd file; use a name from the image's /etc/passwd or a numeric uid\n");
    });

    test("capabilities: docker's default set, --cap-add, --cap-drop, non-root users get none", async () => {
      const caps = async (flags: string[]) => (await sh(env, "grep -E 'CapEff|CapBnd' /proc/self/status | cut -f2 | tr '\\n' ' '", flags)).stdout.trim();
      expect(await caps([])).toBe(`${DEFAULT_CAPS} ${DEFAULT_CAPS}`);
      expect(await caps(["--cap-drop", "ALL"])).toBe("0000000000000000 0000000000000000");
      expect(await caps(["--cap-drop", "all", "--cap-add", "cap_net_admin"])).toBe("0000000000001000 0000000000001000");
      expect(await caps(["-u", "nobody"])).toBe(`0000000000000000 ${DEFAULT_CAPS}`);
      const mount = await sh(env, "mount -t tmpfs none /mnt 2>&1");
      expect(mount.stdout).toBe("mount: permission denied (are you root?)\n");
      const priv = await caps(["--privileged"]);
      const host = /CapBnd:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
      expect(priv).toBe(`${host} ${host}`);
    });

    test("--privileged leaves /proc unmasked and /sys writable", async () => {
      const r = await sh(env, "grep -c ' /proc/keys ' /proc/mounts; grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1", ["--privileged"]);
      expect(r.stdout).toBe("0\nrw\n");
    });

    test("--security-opt no-new-privileges sets NoNewPrivs", async () => {
      const r = await sh(env, "grep NoNewPrivs /proc/self/status | cut -f2", ["--security-opt", "no-new-privileges"]);
      expect(r.stdout).toBe("1\n");
      const d = await sh(env, "grep NoNewPrivs /proc/self/status | cut -f2");
      expect(d.stdout).toBe("0\n");
    });

    test("only stdin, stdout and stderr reach the container", async () => {
      // Give box an extra inherited fd; the container must not see it (CVE-2024-21626).
      const proc = Bun.spawn(commandFor(env, ["run", "--rm", "base", "/bin/sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]), {
        stdio: ["ignore", "pipe", "pipe", "pipe"],
      });
      const out = await new Response(proc.stdout).text();
      expect(await proc.exited).toBe(0);
      expect(out.trim()).toBe("0 1 2 3");
    });

    test("exit codes: the command's own, 127 not found, 126 not executable", async () => {
      expect((await sh(env, "exit 3")).code).toBe(3);
      const nf = await box(env, ["run", "--rm", "base", "/no/such/binary"]);
      expect(nf).toEqual({ code: 127, stdout: "", stderr: "box: exec `/no/such/binary`: no such file or directory\n" });
      const np = await box(env, ["run", "--rm", "base", "nosuchcmd"]);
      expect(np).toEqual({ code: 127, stdout: "", stderr: "box: exec `nosuchcmd`: executable file not found in $PATH\n" });
      const ne = await box(env, ["run", "--rm", "base", "/etc/passwd"]);
      expect(ne).toEqual({ code: 126, stdout: "", stderr: "box: exec `/etc/passwd`: permission denied\n" });
    });

    test("a command killed by a signal exits 128+N", async () => {
      const r = await sh(env, "kill -KILL $$", ["--init"]);
      expect(r.code).toBe(137);
      const t = await sh(env, "kill -TERM $$", ["--init"]);
      expect(t.code).toBe(143);
    });

    test("SIGTERM to box reaches the container", async () => {
      const proc = Bun.spawn(commandFor(env, ["run", "--rm", "base", "/bin/sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done"]), {
        stdout: "pipe", stderr: "pipe",
      });
      const reader = proc.stdout.getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe("ready\n");
      proc.kill("SIGTERM");
      const rest = await reader.read();
      expect(new TextDecoder().decode(rest.value)).toBe("got-term\n");
      expect(await proc.exited).toBe(42);
    });

    test("-i passes stdin; without -i the container reads /dev/null", async () => {
      const withI = await box(env, ["run", "--rm", "-i", "base", "/bin/sh", "-c", "cat"], { stdin: "piped input\n" });
      expect(withI.stdout).toBe("piped input\n");
      const without = await box(env, ["run", "--rm", "base", "/bin/sh", "-c", "cat; echo end"], { stdin: "ignored\n" });
      expect(without.stdout).toBe("end\n");
    });

    test("--entrypoint replaces the image's entrypoint", async () => {
      const r = await box(env, ["run", "--rm", "--entrypoint", "/bin/echo", "base", "a", "b"]);
      expect(r.stdout).toBe("a b\n");
    });

    test("--rm leaves no container files; without it the container is kept", async () => {
      const count = (dir: string) => (existsSync(dir) ? readdirSync(dir).length : 0);
      const before = count(join(env.root, "containers"));
      const stateBefore = count(join(env.runroot, "containers"));
      await sh(env, "echo x > /written");
      expect(count(join(env.root, "containers"))).toBe(before);
      expect(count(join(env.runroot, "containers"))).toBe(stateBefore);
      const kept = await box(env, ["run", "--name", `kept-${kind}`, "base", "true"]);
      expect(kept.code).toBe(0);
      expect(readdirSync(join(env.root, "containers")).length).toBe(before + 1);
      const again = await box(env, ["run", "--name", `kept-${kind}`, "base", "true"]);
      expect(again.code).toBe(125);
      expect(again.stderr).toBe(`box: the container name "kept-${kind}" is already in use; remove that container or choose another --name\n`);
    });

    test.skipIf(!can.python)("-it gives a real terminal: ttyname, size, resize, Ctrl-C, exit code", async () => {
      const steps = [
        ["expect", "# ", 5],
        ["send", "tty; stty size\r"],
        ["expect", "\n33 101", 5],
        ["resize", 40, 120],
        ["wait", 0.3],
        ["send", "stty size\r"],
        ["expect", "40 120", 5],
        ["send", "sleep 30\r"],
        ["wait", 0.3],
        ["send", "\x03"],
        ["wait", 0.3],
        ["send", "echo after-int; exit 7\r"],
      ];
      const cmd = commandFor(env, ["run", "--rm", "-it", "base", "/bin/sh"]);
      const p = Bun.spawn(["python3", join(REPO, "test/helpers/terminal.py"), "33", "101", JSON.stringify(steps), "--", ...cmd], { stdout: "pipe", stderr: "pipe" });
      const out = await new Response(p.stdout).text();
      expect(await p.exited).toBe(0);
      expect(out).toContain("/dev/pts/0");
      expect(out).toContain("33 101");
      expect(out).toContain("40 120");
      expect(out).toContain("after-int");
      expect(out.trim().split("\n").at(-1)).toBe("EXIT 7");
    });
  });
}

describe("box run: bad input", () => {
  let env: BoxEnv;
  let scratch: string;
  beforeAll(async () => {
    env = makeEnv("root");
    scratch = mkdtempSync(join(tmpdir(), "box-bad-"));
    await box(env, ["pull", "-q", "base"]);
  });
  afterAll(() => {
    env.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  const cases: [string, string[], number, string][] = [
    ["unknown flag", ["run", "--frobnicate", "base", "true"], 125, "box: unknown flag: --frobnicate; see 'box run --help'\n"],
    ["unknown shorthand flag", ["run", "-Z", "base", "true"], 125, "box: unknown shorthand flag: 'Z' in -Z; see 'box run --help'\n"],
    ["missing image", ["run", "--rm", "nosuchimage", "true"], 125, "Unable to find image 'nosuchimage' locally\nbox: image `nosuchimage` is not known locally, and no search registries are configured to pull a short name from; write the registry into the name (e.g. docker.io/library/nosuchimage) or list registries under \"unqualified-search-registries\" in /etc/box/registries.json\n"],
    ["no image at all", ["run"], 125, "box: \"box run\" requires at least 1 argument; usage: box run [OPTIONS] IMAGE [COMMAND] [ARG...]\n"],
    ["-v source that does not exist", ["run", "--rm", "-v", "/no/such/dir:/x", "base", "true"], 125, "box: bind source path `/no/such/dir` does not exist; create it first, or check the path given to -v/--mount\n"],
    ["-v with a relative container path", ["run", "--rm", "-v", "/tmp:rel", "base", "true"], 125, "box: -v: unknown option `rel` in `/tmp:rel`; valid options are ro, rw, z, Z\n"],
    ["unknown capability", ["run", "--rm", "--cap-add", "NOPE", "base", "true"], 125, "box: unknown capability `NOPE`; capabilities are named like NET_ADMIN or CAP_SYS_TIME; see capabilities(7)\n"],
    ["unknown command", ["runn"], 125, "box: unknown command \"runn\" for \"box\"; did you mean \"box run\"? See 'box --help'\n"],
  ];
  for (const [what, args, code, stderr] of cases) {
    test(what, async () => {
      const r = await box(env, args);
      expect(r).toEqual({ code, stdout: "", stderr });
    });
  }

  test("missing command with --rootfs", async () => {
    const r = await box(env, ["run", "--rm", "--rootfs", scratch]);
    expect(r).toEqual({ code: 125, stdout: "", stderr: `box: no command specified; give a command after the image name, e.g. box run ${scratch} /bin/sh\n` });
  });

  test("a rootfs that is not a directory", async () => {
    const file = join(scratch, "file");
    writeFileSync(file, "");
    const r = await box(env, ["run", "--rm", "--rootfs", file, "/bin/sh"]);
    expect(r).toEqual({ code: 125, stdout: "", stderr: `box: --rootfs: \`${file}\` is not a directory; give the path of an unpacked root filesystem\n` });
  });

  test("--rootfs runs a directory with overlay on top, leaving the directory untouched", async () => {
    const rootfs = join(scratch, "rootfs");
    mkdirSync(join(rootfs, "bin"), { recursive: true });
    Bun.spawnSync(["cp", "/bin/busybox", join(rootfs, "bin/busybox")]);
    const r = await box(env, ["run", "--rm", "--rootfs", rootfs, "/bin/busybox", "sh", "-c", "echo from-dir > /new; /bin/busybox cat /new"]);
    expect(r.stdout).toBe("from-dir\n");
    expect(existsSync(join(rootfs, "new"))).toBe(false);
    expect(existsSync(join(rootfs, "etc/hostname"))).toBe(false);
  });
});
