/**
 * Resource limits, box update, box stats and box top against this machine's real cgroups (v1
 * controllers here): a memory hog is OOM-killed, a fork loop hits its pids limit, a busy loop
 * gets half a CPU, and stats agree with what the kernel counts. Rootless: an explicit limit is a
 * clear error, since an unprivileged user gets no cgroup delegation on this host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { box, commandFor, makeEnv, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

const memoryRoot = readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => / - cgroup cgroup \S*\bmemory\b/.test(l))?.split(" ")[4];
const vdaBlock = (() => {
  try {
    return statSync("/dev/vda").isBlockDevice();
  } catch {
    return false;
  }
})();
const unifiedRoot = readFileSync("/proc/self/mountinfo", "utf8").split("\n").find((l) => / - cgroup2 /.test(l))?.split(" ")[4];
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

  test("stats CPU %: a busy container near 100% of one core, over its lifetime, since the previous run, and live", async () => {
    await box(env, ["run", "-d", "--name", "spin", "base", "sh", "-c", "while :; do :; done"]);
    const pid = Number((await box(env, ["inspect", "--format", "{{.State.Pid}}", "spin"])).stdout);
    const startedAt = Date.parse((await box(env, ["inspect", "--format", "{{.State.StartedAt}}", "spin"])).stdout.trim());
    await Bun.sleep(300);
    // What the loop really got (other work on this 2-core host takes its share too) is the
    // reference; on a quiet host it is a whole core, and stats must say so.
    const cpuOf = async (args: string[]) => Number.parseFloat((await stats(env, ...args, "spin"))[0]?.CPUPerc ?? "");
    // First run: no earlier reading, so the lifetime average, at once.
    const lifetimeGot = (cpuSeconds(pid) / ((Date.now() - startedAt) / 1000)) * 100;
    const first = await cpuOf([]);
    expect(Math.abs(first - lifetimeGot)).toBeLessThan(20);
    // Second run: measured since the first one's reading.
    const c0 = cpuSeconds(pid);
    const t0 = performance.now();
    await Bun.sleep(700);
    const second = await cpuOf([]);
    const windowGot = ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
    expect(second).toBeLessThan(110);
    expect(Math.abs(second - windowGot)).toBeLessThan(25);
    if (windowGot > 85) expect(second).toBeGreaterThan(70);
    // The live view: a frame per interval, each measured since the one before.
    const live = Bun.spawn(commandFor(env, ["stats", "--interval", "0.5", "--format", "{{.CPUPerc}}", "spin"]), { stdout: "pipe", stderr: "pipe" });
    const c1 = cpuSeconds(pid);
    const t1 = performance.now();
    await Bun.sleep(1800);
    const liveGot = ((cpuSeconds(pid) - c1) / ((performance.now() - t1) / 1000)) * 100;
    live.kill();
    const frames = (await new Response(live.stdout).text()).trim().split("\n").map((l) => Number.parseFloat(l));
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const f of frames.slice(1)) expect(Math.abs(f - liveGot)).toBeLessThan(30);
    await box(env, ["rm", "-f", "spin"]);
  });

  test("stats MEM and PIDS: usage minus inactive file pages, limit clamped to RAM, pids.current as top lists them", async () => {
    // 20 MiB in /dev/shm (tmpfs: charged, never dropped) and 20 MiB of a file written to the
    // writable layer (page cache the kernel may drop: docker leaves it out, and so must stats).
    const script = "dd if=/dev/zero of=/dev/shm/x bs=1M count=20 && dd if=/dev/zero of=/tmp/f bs=1M count=20 && echo ready && exec sleep 100";
    await box(env, ["run", "-d", "--name", "mem", "-m", "64m", "base", "sh", "-c", script]);
    await box(env, ["run", "-d", "--name", "free", "base", "sleep", "100"]);
    const id = await idOf(env, "mem");
    for (let i = 0; i < 100 && !(await box(env, ["logs", "mem"])).stdout.includes("ready"); i++) await Bun.sleep(50);
    const raw = Number(readFileSync(`${memoryRoot}/box/${id}/memory.usage_in_bytes`, "utf8"));
    const [row] = await stats(env, "mem");
    const [usage, limit] = (row?.MemUsage ?? "").split(" / ");
    expect(limit).toBe("64MiB");
    expect(raw).toBeGreaterThan(40 << 20);
    expect(usage).toMatch(/MiB$/);
    const mib = Number.parseFloat(usage ?? "");
    expect(mib).toBeGreaterThanOrEqual(20);
    expect(mib).toBeLessThan(30);
    expect(Number.parseFloat(row?.MemPerc ?? "")).toBeCloseTo((mib / 64) * 100, 0);
    // The dd processes are gone: sleep alone is left.
    expect(row?.PIDs).toBe("1");
    // No limit: the limit shown is the host's memory, as docker shows it.
    const memTotal = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]) * 1024;
    const [freeRow] = await stats(env, "free");
    expect(Number.parseFloat(freeRow?.MemUsage.split(" / ")[1] ?? "")).toBeCloseTo(memTotal / 2 ** 30, 1);
    // box top lists the processes stats counts (both from the group's members).
    expect((await box(env, ["top", "mem"])).stdout.trim().split("\n").length - 1).toBe(1);
    await box(env, ["rm", "-f", "mem", "free"]);
  });

  test.skipIf(!vdaBlock)(`stats BLOCK I/O counts a container's direct I/O${vdaBlock ? "" : " (skipped: no /dev/vda block device)"}`, async () => {
    // This kernel's v1 blkio counters (blkio.throttle.io_service_bytes) count only the I/O of a
    // group with a throttle rule (measured: Total 0 even at the root without one), so the
    // container gets a rule far above anything it does.
    const script = "dd if=/dev/zero of=/tmp/d bs=1M count=4 oflag=direct && dd if=/tmp/d of=/dev/null bs=1M iflag=direct && echo ready && sleep 100";
    await box(env, ["run", "-d", "--name", "blk", "--device-write-bps", "/dev/vda:1gb", "--device-read-bps", "/dev/vda:1gb", "base", "sh", "-c", script]);
    for (let i = 0; i < 100 && !(await box(env, ["logs", "blk"])).stdout.includes("ready"); i++) await Bun.sleep(50);
    const [row] = await stats(env, "blk");
    const [read, written] = (row?.BlockIO ?? "").split(" / ");
    expect(written).toBe("4.19MB");
    expect(read).toMatch(/MB$/);
    expect(Number.parseFloat(read ?? "")).toBeGreaterThanOrEqual(4.19);
    await box(env, ["rm", "-f", "blk"]);
  });

  test("stats formats and selection: table, json, template, -a, named containers", async () => {
    await box(env, ["run", "-d", "--name", "three", "-m", "64m", "base", "sh", "-c", "sleep 100 & sleep 100 & wait"]);
    await box(env, ["create", "--name", "idle", "base", "true"]);
    const table = await box(env, ["stats", "--no-stream", "three"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
    expect(table.stdout.split("\n")[1]).toMatch(/^[0-9a-f]{12} +three +\d+\.\d\d% +[\d.]+KiB \/ 64MiB +\d+\.\d\d% +\S+ \/ \S+ +\S+ \/ \S+ +3$/);
    const [json] = await stats(env, "three");
    expect(Object.keys(json ?? {}).sort()).toEqual(["BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"]);
    const tpl = await box(env, ["stats", "--no-stream", "--format", "{{.Name}}: {{.PIDs}}", "three"]);
    expect(tpl.stdout).toBe("three: 3\n");
    // Without -a only what runs; with it, the rest too, with nothing to count.
    expect((await stats(env)).some((r) => r.Name === "idle")).toBe(false);
    const withAll = await box(env, ["stats", "--no-stream", "-a", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}"]);
    expect(withAll.stdout).toContain("idle 0.00% 0B / 0B 0\n");
    const named = await box(env, ["stats", "--no-stream", "--format", "{{.Name}}", "idle"]);
    expect(named.stdout).toBe("idle\n");
    const bad = await box(env, ["stats", "--no-stream", "--interval", "0", "three"]);
    expect(bad).toEqual({ code: 125, stdout: "", stderr: 'box: --interval: invalid value "0": expected a positive number of seconds\n' });
    // top: the container's processes with the pids the host sees.
    const pid = (await box(env, ["inspect", "--format", "{{.State.Pid}}", "three"])).stdout.trim();
    const lines = (await box(env, ["top", "three"])).stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^UID +PID +PPID +C +STIME +TTY +TIME +CMD$/);
    expect(lines.length).toBe(4);
    expect(lines[1]).toMatch(new RegExp(`^root +${pid} +\\d+ .*sh -c sleep 100 & sleep 100 & wait$`));
    await box(env, ["rm", "-f", "three", "idle"]);
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

  test("no delegation: an explicit limit is an error naming the controller and why; without one the container runs, and the user is told once", async () => {
    const why = "cgroup v2 is not delegated to user boxtest: /sys/fs/cgroup/unified, this session's group, belongs to root";
    const hint = "run as root, or delegate cgroup v2 controllers to this user (systemd: Delegate= for user@.service)";
    const r = await box(env, ["run", "--rm", "--network", "none", "--memory", "64m", "base", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`box: --memory: cannot limit a rootless container: ${why} (the memory controller is on a cgroup v1 hierarchy here, never delegated); ${hint}\n`);
    const pids = await box(env, ["run", "--rm", "--network", "none", "--pids-limit", "5", "base", "true"]);
    expect(pids.stderr).toStartWith(`box: --pids-limit: cannot limit a rootless container: ${why} (the pids controller`);
    expect((await box(env, ["ps", "-aq"])).stdout).toBe("");
    // Run anyway, as podman does. A script's stderr stays the container's own; a person at a
    // terminal is told which limits cannot apply, once, not on every run.
    const plain = await box(env, ["run", "--rm", "--network", "none", "base", "echo", "ran"]);
    expect(plain).toEqual({ code: 0, stdout: "ran\n", stderr: "" });
    const atTerminal = async () => {
      const cmd = commandFor(env, ["run", "--rm", "--network", "none", "base", "echo", "ran"]).map((a) => `'${a}'`).join(" ");
      const p = Bun.spawn(["script", "-qec", cmd, "/dev/null"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, BOX_DEBUG: "" } });
      const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
      return { code, out: out.replace(/\r\n/g, "\n") };
    };
    expect(await atTerminal()).toEqual({
      code: 0,
      out: `box: note: rootless containers run without resource limits here, as ${why}; asking for one (--memory, --cpus, --pids-limit, ...) is an error. To have them, ${hint}. This is said once.\nran\n`,
    });
    expect(await atTerminal()).toEqual({ code: 0, out: "ran\n" });
    const s = await box(env, ["stats", "--no-stream"]);
    expect(s.code).toBe(125);
    expect(s.stderr).toStartWith(`box: box stats: rootless containers have no cgroups of their own to read: ${why}; `);
  });
});

/**
 * A real delegated cgroup2 subtree: root makes a group under the unified hierarchy and gives it
 * to the test user (the directory, cgroup.procs, cgroup.subtree_control and cgroup.threads, as
 * the kernel's delegation model has it), then runs box as that user from a leaf inside it. On
 * this hybrid host the subtree can be given only what the unified hierarchy has (hugetlb):
 * memory, cpu, pids and io are bound to v1 hierarchies, and a second cgroup2 mount is the same
 * hierarchy, so no limit can be shown to apply; placement, CPU accounting (cpu.stat is in every
 * v2 group) and the refusal of a limit the subtree lacks can.
 */
const delegationPossible = can.root && can.rootlessUser && unifiedRoot !== undefined;
describe.skipIf(!delegationPossible)(`rootless with a delegated cgroup2 subtree${delegationPossible ? "" : " (skipped: needs root, the test user and a cgroup2 mount)"}`, () => {
  let env: BoxEnv;
  const top = `${unifiedRoot}/box-test-delegated-${process.pid}`;
  const leaf = `${top}/leaf`;
  const inLeaf = (args: string[]) => ["sh", "-c", `echo $$ > ${leaf}/cgroup.procs && exec "$@"`, "sh", ...commandFor(env, args)];
  const run = async (args: string[]) => {
    const p = Bun.spawn(inLeaf(args), { stdout: "pipe", stderr: "pipe", env: { ...process.env, BOX_DEBUG: "" } });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  };
  beforeAll(async () => {
    env = makeEnv("rootless");
    const user = env.user as { uid: number; gid: number };
    for (const d of [top, leaf]) {
      mkdirSync(d);
      for (const f of ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]) chownSync(`${d}/${f}`.replace(/\/$/, ""), user.uid, user.gid);
    }
    expect((await run(["pull", "-q", "base"])).code).toBe(0);
  });
  afterAll(async () => {
    const all = await run(["ps", "-aq", "--no-trunc"]);
    for (const id of all.stdout.split("\n").filter(Boolean)) await run(["rm", "-f", id]);
    for (const d of [`${top}/box`, leaf, top]) if (existsSync(d)) rmdirSync(d);
    env.dispose();
  });

  test("the container gets a group of its own there, exec joins it, stats reads its CPU time, a limit the subtree lacks is refused, rm removes the group", async () => {
    expect((await run(["run", "-d", "--name", "spin", "--network", "none", "base", "sh", "-c", "while :; do :; done"])).code).toBe(0);
    const id = (await run(["inspect", "--format", "{{.Id}}", "spin"])).stdout.trim();
    const pid = Number((await run(["inspect", "--format", "{{.State.Pid}}", "spin"])).stdout);
    const group = `${top.slice((unifiedRoot as string).length)}/box/${id}`;
    expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(`\n0::${group}\n`);
    await Bun.sleep(300);
    const c0 = cpuSeconds(pid);
    const t0 = performance.now();
    await Bun.sleep(500);
    const s = await run(["stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}"]);
    const got = ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
    expect(s.code).toBe(0);
    const [name, cpu] = s.stdout.trim().split(" ");
    expect(name).toBe("spin");
    expect(Math.abs(Number.parseFloat(cpu ?? "") - got)).toBeLessThan(35);
    // exec joins the container's group: the root of its cgroup namespace.
    expect((await run(["exec", "spin", "cat", "/proc/self/cgroup"])).stdout).toContain("0::/\n");
    const limited = await run(["run", "--rm", "--network", "none", "-m", "64m", "base", "true"]);
    expect(limited.code).toBe(125);
    expect(limited.stderr).toStartWith(`box: --memory: cannot limit a rootless container: the memory controller is not delegated to user boxtest: ${top} has only [${readFileSync(`${top}/cgroup.controllers`, "utf8").trim()}]`);
    expect((await run(["rm", "-f", "spin"])).code).toBe(0);
    expect(existsSync(`${top}/box/${id}`)).toBe(false);
  });
});
