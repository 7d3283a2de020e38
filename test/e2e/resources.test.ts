/**
 * Resource limits, box update, box stats and box top against this machine's real cgroups (v1
 * controllers here): a memory hog is OOM-killed, a fork loop hits its pids limit, a busy loop
 * gets half a CPU, and stats agree with what the kernel counts. Rootless: an explicit limit is a
 * clear error, since an unprivileged user gets no cgroup delegation on this host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { box, makeEnv, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

const memoryRoot = readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => / - cgroup cgroup \S*\bmemory\b/.test(l))?.split(" ")[4];
const cpuRoot = readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => / - cgroup cgroup \S*\bcpu\b/.test(l))?.split(" ")[4];

interface StatsRow {
  ID: string; Name: string; CPUPerc: string; MemUsage: string; MemPerc: string; NetIO: string; BlockIO: string; PIDs: string;
}

async function stats(env: BoxEnv, ...names: string[]): Promise<StatsRow[]> {
  const r = await box(env, ["stats", "--no-stream", "--format", "json", ...names]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as StatsRow);
}

async function idOf(env: BoxEnv, name: string): Promise<string> {
  return (await box(env, ["inspect", "--format", "{{.Id}}", name])).stdout.trim();
}

/** utime + stime of a process, in seconds (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

describe.skipIf(!can.root || !memoryRoot)(`resource limits (root, cgroup v1)${!can.root ? " (skipped: needs root)" : !memoryRoot ? " (skipped: no v1 memory hierarchy)" : ""}`, () => {
  let env: BoxEnv;
  beforeAll(async () => {
    env = makeEnv("root");
    expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
  });
  afterAll(async () => {
    const all = await box(env, ["ps", "-aq", "--no-trunc"]);
    await Promise.all(all.stdout.split("\n").filter(Boolean).map((id) => box(env, ["rm", "-f", id])));
    env.dispose();
  });

  test("a memory hog over --memory is OOM-killed: exit 137 and OOMKilled true, foreground and detached", async () => {
    // busybox tail keeps the whole current line; /dev/zero has no newline, so it grows until killed.
    const fg = await box(env, ["run", "--name", "hog-fg", "-m", "32m", "--memory-swap", "32m", "base", "tail", "/dev/zero"]);
    expect(fg.code).toBe(137);
    expect((await box(env, ["inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}} {{.HostConfig.Memory}}", "hog-fg"])).stdout).toBe(`137 true ${32 << 20}\n`);
    await box(env, ["run", "-d", "--name", "hog-d", "-m", "32m", "--memory-swap", "32m", "base", "tail", "/dev/zero"]);
    expect((await box(env, ["wait", "hog-d"])).stdout).toBe("137\n");
    let state = "";
    for (let i = 0; i < 40 && state !== "137 true\n"; i++) {
      await Bun.sleep(50);
      state = (await box(env, ["inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", "hog-d"])).stdout;
    }
    expect(state).toBe("137 true\n");
    // A container that was not killed says so.
    await box(env, ["run", "--name", "calm", "-m", "32m", "base", "true"]);
    expect((await box(env, ["inspect", "--format", "{{.State.OOMKilled}}", "calm"])).stdout).toBe("false\n");
  });

  test("--pids-limit stops a fork loop that runs fine without it", async () => {
    const script = "for i in $(seq 30); do sleep 2 & done; echo all started";
    const limited = await box(env, ["run", "--rm", "--pids-limit", "10", "base", "sh", "-c", script]);
    expect(limited.stderr).toContain("can't fork");
    expect(limited.stdout).not.toContain("all started");
    expect(limited.code).not.toBe(0);
    const free = await box(env, ["run", "--rm", "base", "sh", "-c", `${script}; kill $(jobs -p) 2>/dev/null`]);
    expect(free.stdout).toBe("all started\n");
  });

  test("--cpus 0.5: a busy loop gets half a CPU, measured from its own CPU time over wall time", async () => {
    await box(env, ["run", "-d", "--name", "half", "--cpus", "0.5", "base", "sh", "-c", "while :; do :; done"]);
    const id = await idOf(env, "half");
    expect(readFileSync(`${cpuRoot}/box/${id}/cpu.cfs_quota_us`, "utf8").trim()).toBe("50000");
    expect(readFileSync(`${cpuRoot}/box/${id}/cpu.cfs_period_us`, "utf8").trim()).toBe("100000");
    const pid = Number((await box(env, ["inspect", "--format", "{{.State.Pid}}", "half"])).stdout);
    await Bun.sleep(200);
    const c0 = cpuSeconds(pid);
    const t0 = performance.now();
    await Bun.sleep(1500);
    const share = (cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000);
    // The cap holds whatever else runs; the kernel says it throttled the loop to hold it (a
    // loaded 2-core host may give the loop less than its half, so no tight lower bound).
    expect(share).toBeLessThan(0.62);
    expect(share).toBeGreaterThan(0.15);
    expect(readFileSync(`${cpuRoot}/box/${id}/cpu.stat`, "utf8")).toMatch(/^nr_throttled [1-9]\d*$/m);
    // box stats reads what the loop got over a one-second window (shorter ones see a period's
    // quota pushed into the next by contention): about 50%, never much above.
    const c1 = cpuSeconds(pid);
    const t1 = performance.now();
    const [row] = await stats(env, "--interval", "1", "half");
    const got = ((cpuSeconds(pid) - c1) / ((performance.now() - t1) / 1000)) * 100;
    const cpu = Number.parseFloat(row?.CPUPerc ?? "");
    expect(cpu).toBeLessThan(62);
    expect(Math.abs(cpu - got)).toBeLessThan(15);
    await box(env, ["rm", "-f", "half"]);
  });

  test("box update --memory rewrites memory.limit_in_bytes and keeps the value for inspect", async () => {
    await box(env, ["run", "-d", "--name", "upd", "-m", "64m", "base", "sleep", "100"]);
    const id = await idOf(env, "upd");
    const file = `${memoryRoot}/box/${id}/memory.limit_in_bytes`;
    expect(readFileSync(file, "utf8").trim()).toBe(String(64 << 20));
    const r = await box(env, ["update", "--memory", "128m", "--pids-limit", "50", "upd"]);
    expect(r).toEqual({ code: 0, stdout: "upd\n", stderr: "" });
    expect(readFileSync(file, "utf8").trim()).toBe(String(128 << 20));
    expect((await box(env, ["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "upd"])).stdout).toBe(`${128 << 20} 50\n`);
    const [row] = await stats(env, "upd");
    expect(row?.MemUsage).toEndWith(" / 128MiB");
    const bad = await box(env, ["update", "--memory", "1x", "upd"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe('box: --memory: invalid size "1x"; use a number with an optional unit b, k, m or g, e.g. 512m\n');
    await box(env, ["rm", "-f", "upd"]);
  });

  test("stats: a busy container near 100% of one core, the right PIDS, memory usage against its limit", async () => {
    await box(env, ["run", "-d", "--name", "spin", "base", "sh", "-c", "while :; do :; done"]);
    await box(env, ["run", "-d", "--name", "three", "-m", "64m", "base", "sh", "-c", "sleep 100 & sleep 100 & wait"]);
    await Bun.sleep(300);
    // What the busy loop really got while stats ran (other work on this 2-core host takes its
    // share too): stats must agree with it, and it is near a whole core on a quiet host.
    const spinPid = Number((await box(env, ["inspect", "--format", "{{.State.Pid}}", "spin"])).stdout);
    const c0 = cpuSeconds(spinPid);
    const t0 = performance.now();
    const rows = await stats(env);
    const got = ((cpuSeconds(spinPid) - c0) / ((performance.now() - t0) / 1000)) * 100;
    const spin = rows.find((r) => r.Name === "spin");
    const three = rows.find((r) => r.Name === "three");
    const cpu = Number.parseFloat(spin?.CPUPerc ?? "");
    expect(cpu).toBeLessThan(110);
    expect(Math.abs(cpu - got)).toBeLessThan(35);
    // On a quiet host the loop has a core to itself, and stats says so.
    if (got > 85) expect(cpu).toBeGreaterThan(70);
    // The loop is the shell's own: one process.
    expect(spin?.PIDs).toBe("1");
    expect(three?.PIDs).toBe("3");
    expect(three?.MemUsage).toMatch(/^[\d.]+KiB \/ 64MiB$/);
    expect(Number.parseFloat(three?.MemPerc ?? "")).toBeGreaterThan(0);
    // The table: docker's columns; a template; -a adds containers that are not running.
    const table = await box(env, ["stats", "--no-stream", "three"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
    const tpl = await box(env, ["stats", "--no-stream", "--format", "{{.Name}}: {{.PIDs}}", "three"]);
    expect(tpl.stdout).toBe("three: 3\n");
    await box(env, ["create", "--name", "idle", "base", "true"]);
    expect((await stats(env)).some((r) => r.Name === "idle")).toBe(false);
    const withAll = await box(env, ["stats", "--no-stream", "-a", "--format", "{{.Name}} {{.CPUPerc}} {{.PIDs}}"]);
    expect(withAll.stdout).toContain("idle 0.00% 0\n");
    // top: the container's processes with the pids the host sees.
    const pid = (await box(env, ["inspect", "--format", "{{.State.Pid}}", "three"])).stdout.trim();
    const top = await box(env, ["top", "three"]);
    const lines = top.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^UID +PID +PPID +C +STIME +TTY +TIME +CMD$/);
    expect(lines.length).toBe(4);
    expect(lines[1]).toMatch(new RegExp(`^root +${pid} +\\d+ .*sh -c sleep 100 & sleep 100 & wait$`));
    await box(env, ["rm", "-f", "spin", "three", "idle"]);
  });

  test("stats NET I/O: the container's interfaces count, its loopback does not (docker's rule)", async () => {
    // --network none: loopback alone, so every byte counted below crossed the veth.
    await box(env, ["run", "-d", "--name", "net", "--network", "none", "base", "sleep", "100"]);
    const pid = (await box(env, ["inspect", "--format", "{{.State.Pid}}", "net"])).stdout.trim();
    expect((await box(env, ["exec", "net", "ping", "-c", "3", "-i", "0.2", "127.0.0.1"])).code).toBe(0);
    expect((await stats(env, "net"))[0]?.NetIO).toBe("0B / 0B");
    // box has no bridge yet: a veth pair into the container's namespace stands in for one.
    const host = `bxs${process.pid % 100000}h`;
    const peer = `bxs${process.pid % 100000}c`;
    const net = `10.231.${process.pid % 250}`;
    const ip = (...args: string[]) => expect(Bun.spawnSync(["ip", ...args]).exitCode).toBe(0);
    try {
      ip("link", "add", host, "type", "veth", "peer", "name", peer);
      ip("link", "set", peer, "netns", pid);
      ip("addr", "add", `${net}.1/30`, "dev", host);
      ip("link", "set", host, "up");
      expect(Bun.spawnSync(["nsenter", "-t", pid, "-n", "sh", "-c", `ip addr add ${net}.2/30 dev ${peer} && ip link set ${peer} up`]).exitCode).toBe(0);
      expect((await box(env, ["exec", "net", "ping", "-c", "5", "-i", "0.2", `${net}.1`])).code).toBe(0);
      const [row] = await stats(env, "net");
      const [rx, tx] = (row?.NetIO ?? "").split(" / ");
      expect(rx).not.toBe("0B");
      expect(tx).not.toBe("0B");
      // Five 84-byte echo requests and their replies, plus ARP and IPv6 chatter: hundreds of bytes.
      expect(Number.parseFloat(tx ?? "")).toBeGreaterThanOrEqual(420);
    } finally {
      Bun.spawnSync(["ip", "link", "del", host]);
      await box(env, ["rm", "-f", "net"]);
    }
  });

  test("bad input: one-line errors, exit 125, nothing left behind", async () => {
    const cases: [string[], string][] = [
      [["--memory", "1x"], 'box: --memory: invalid size "1x"; use a number with an optional unit b, k, m or g, e.g. 512m\n'],
      [["--cpus", "-1"], 'box: --cpus: invalid value "-1": the range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available\n'],
      [["-m", "64m", "--memory-swap", "32m"], "box: --memory-swap: must be at least as large as --memory (it is the total of memory and swap); use -1 for unlimited swap\n"],
      [["--pids-limit", "many"], 'box: --pids-limit: invalid value "many": expected an integer\n'],
      [["--cgroups=disabled", "--pids-limit", "5"], "box: --pids-limit: resource limits need cgroups, and --cgroups=disabled was given; drop --cgroups=disabled or --pids-limit\n"],
    ];
    const cpus = readFileSync("/sys/devices/system/cpu/online", "utf8").trim() === "0-1";
    for (const [flags, stderr] of cases) {
      if (flags[0] === "--cpus" && !cpus) continue;
      const r = await box(env, ["run", "--rm", ...flags, "base", "true"]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 125, stderr });
    }
    expect((await box(env, ["ps", "-aq", "--filter", "status=created"])).stdout).toBe("");
    const upd = await box(env, ["update", "nosuch"]);
    expect(upd.code).toBe(125);
    expect(upd.stderr).toStartWith("box: you must provide one or more flags");
  });
});

describe.skipIf(!can.rootlessUser)(`resource limits (rootless)${can.rootlessUser ? "" : " (skipped: no unprivileged test user; run scripts/setup.sh)"}`, () => {
  let env: BoxEnv;
  beforeAll(async () => {
    env = makeEnv("rootless");
    expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
  });
  afterAll(() => env.dispose());

  test("an explicit limit is refused, naming the limit and why; without one the container runs", async () => {
    const r = await box(env, ["run", "--rm", "--memory", "64m", "base", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(
      "box: --memory: cannot limit a rootless container here: the memory controller is on a cgroup v1 hierarchy, which is never delegated to an unprivileged user; run as root to use --memory, or drop it\n",
    );
    expect((await box(env, ["ps", "-aq"])).stdout).toBe("");
    expect((await box(env, ["run", "--rm", "base", "true"])).code).toBe(0);
    const s = await box(env, ["stats", "--no-stream"]);
    expect(s.code).toBe(125);
    expect(s.stderr).toStartWith("box: box stats: rootless containers have no cgroups of their own on this host to read");
  });
});
