/**
 * The mount plan as data: the order and flags of every operation, checked without root. The same
 * behaviour is proven against the kernel in test/e2e/run.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { CLONE_NEWNET, CLONE_NEWUSER, MS_BIND, MS_RDONLY } from "../../../ffi/constants.ts";
import { encodeCgroups, encodePlan, frame, parseStatusLine, type ShimOp } from "../../../ffi/shim-protocol.ts";
import { buildPlan, MASKED_PATHS, overlayData } from "../../../core/runtime/plan.ts";
import type { ContainerSpec } from "../../../core/runtime/spec.ts";
import { cgroupfsLayout } from "../../../core/runtime/cgroups/cgroupfs.ts";

function spec(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    id: "a".repeat(64),
    name: "t",
    rootfs: { lower: ["/l/top", "/l/base"], upper: "/c/upper", work: "/c/work", merged: "/c/merged", volatile: false },
    readonly: false,
    mounts: [],
    etc: { hostname: "/s/hostname", hosts: "/s/hosts", resolvConf: "/s/resolv.conf" },
    hostname: "h",
    network: "none",
    privileged: false,
    cgroupns: true,
    process: {
      args: ["/bin/sh", "-c", "echo"],
      env: ["PATH=/bin"],
      cwd: "/",
      uid: 0,
      gid: 0,
      groups: [0],
      caps: { bounding: 1n, effective: 1n, permitted: 1n, inheritable: 0n, ambient: 0n },
      noNewPrivileges: false,
      seccomp: { kind: "default" },
      interactive: false,
      init: false,
    },
    ...over,
  };
}

const ops = (s: ContainerSpec) => buildPlan(s).ops;
const index = (list: ShimOp[], pred: (o: ShimOp) => boolean) => list.findIndex(pred);

describe("container plan", () => {
  test("overlay options: layers topmost first, userxattr only in a user namespace, volatile for --rm", () => {
    expect(overlayData(spec())).toBe("lowerdir=/l/top:/l/base,upperdir=/c/upper,workdir=/c/work");
    const rootless = spec({ userns: { kind: "single", uidRanges: [{ inside: 0, outside: 1000, count: 1 }], gidRanges: [{ inside: 0, outside: 1000, count: 1 }] } });
    expect(overlayData(rootless)).toEndWith(",userxattr");
    expect(overlayData(spec({ rootfs: { ...spec().rootfs, volatile: true } }))).toEndWith(",volatile");
    expect(overlayData(spec({ rootfs: { ...spec().rootfs, lower: ["/a,b:c"] } }))).toStartWith("lowerdir=/a\\,b\\:c,");
  });

  test("the order that makes it work: private, rootfs, mounts, read-only, pivot, masks, identity, exec", () => {
    const list = ops(spec({ readonly: true }));
    expect(list[0]).toEqual({ op: "mount-private" });
    expect(list[1]?.op).toBe("mount-host");
    const pivot = index(list, (o) => o.op === "pivot");
    const ro = index(list, (o) => o.op === "remount-ro");
    const proc = index(list, (o) => o.op === "mount" && o.target === "proc");
    const mask = index(list, (o) => o.op === "mask");
    expect(proc).toBeLessThan(ro);
    expect(ro).toBeLessThan(pivot);
    expect(pivot).toBeLessThan(mask);
    expect(list.at(-1)).toEqual({ op: "exec", file: "/bin/sh" });
    expect(list.filter((o) => o.op === "arg").map((o) => (o as { value: string }).value)).toEqual(["/bin/sh", "-c", "echo"]);
  });

  test("the default seccomp filter is in the plan; --privileged and seccomp=unconfined run without one", () => {
    const filter = ops(spec()).find((o) => o.op === "seccomp");
    expect(filter?.op === "seccomp" && filter.program.length % 8).toBe(0);
    expect(filter?.op === "seccomp" && filter.program.length).toBeGreaterThan(64);
    expect(ops(spec({ privileged: true })).some((o) => o.op === "seccomp")).toBe(false);
    const unconfined = spec();
    unconfined.process.seccomp = { kind: "unconfined" };
    expect(ops(unconfined).some((o) => o.op === "seccomp")).toBe(false);
  });

  test("every masked path is masked unless privileged; /sys is read-only unless privileged", () => {
    const masked = ops(spec()).filter((o) => o.op === "mask").map((o) => (o as { path: string }).path);
    expect(masked).toEqual(MASKED_PATHS);
    const sys = ops(spec()).find((o) => o.op === "mount" && o.target === "sys") as { flags: number };
    expect(sys.flags & MS_RDONLY).toBe(MS_RDONLY);
    const priv = ops(spec({ privileged: true }));
    expect(priv.some((o) => o.op === "mask")).toBe(false);
    expect(((priv.find((o) => o.op === "mount" && o.target === "sys") as { flags: number }).flags & MS_RDONLY)).toBe(0);
  });

  test("devices are created with mknod as root and bind-mounted in a user namespace", () => {
    expect(ops(spec()).filter((o) => o.op === "mknod").length).toBe(6);
    const rootless = ops(spec({ userns: { kind: "single", uidRanges: [{ inside: 0, outside: 1000, count: 1 }], gidRanges: [{ inside: 0, outside: 1000, count: 1 }] } }));
    expect(rootless.some((o) => o.op === "mknod")).toBe(false);
    const nullDev = rootless.find((o) => o.op === "mount" && o.target === "dev/null") as { flags: number; source: string; kind: string };
    expect(nullDev).toMatchObject({ source: "/dev/null", kind: "file" });
    expect(nullDev.flags & MS_BIND).toBe(MS_BIND);
    // gid 5 (tty) is not mapped by a single-id map, so devpts must not ask for it.
    const pts = rootless.find((o) => o.op === "mount" && o.target === "dev/pts") as { data: string };
    expect(pts.data).not.toContain("gid=5");
  });

  test("user mounts are ordered parents first", () => {
    const list = ops(spec({
      mounts: [
        { type: "bind", source: "/h/sub", target: "/data/sub", readonly: false, file: false, data: "", exec: true },
        { type: "bind", source: "/h", target: "/data", readonly: true, file: false, data: "", exec: true },
      ],
    }));
    const targets = list.filter((o) => o.op === "mount" && o.target.startsWith("data")).map((o) => (o as { target: string }).target);
    expect(targets).toEqual(["data", "data/sub"]);
  });

  test("clone flags: a network namespace unless --network host; a user namespace only rootless", () => {
    expect(buildPlan(spec()).header.cloneFlags & CLONE_NEWNET).toBe(CLONE_NEWNET);
    expect(buildPlan(spec({ network: "host" })).header.cloneFlags & CLONE_NEWNET).toBe(0);
    expect(buildPlan(spec()).header.cloneFlags & CLONE_NEWUSER).toBe(0);
    const sub = buildPlan(spec({ userns: { kind: "subid", uidRanges: [{ inside: 0, outside: 1000, count: 1 }, { inside: 1, outside: 100000, count: 65536 }], gidRanges: [{ inside: 0, outside: 1000, count: 1 }] } }));
    expect(sub.header.newuidmap).toBe("0 1000 1 1 100000 65536");
    expect(sub.header.cloneFlags & CLONE_NEWUSER).toBe(CLONE_NEWUSER);
  });
});

describe("shim protocol", () => {
  test("the plan encodes as NUL-terminated fields in the order the C reader expects", () => {
    const bytes = encodePlan({
      header: { cloneFlags: 0x20000, cgroupns: false, stdinNull: true, ownProcessGroup: false, init: false },
      ops: [{ op: "hostname", name: "h" }, { op: "caps", bounding: 255n, effective: 1n, permitted: 1n, inheritable: 0n, ambient: 0n }, { op: "exec", file: "sh" }],
    });
    expect(new TextDecoder().decode(bytes).split("\0")).toEqual([
      "clone", "131072", "stdin-null", "ops", "hostname", "h", "caps", "0xff", "0x1", "0x1", "0x0", "0x0", "exec", "sh", "",
    ]);
  });

  test("a NUL inside a field is refused rather than silently splitting it", () => {
    expect(() => encodePlan({
      header: { cloneFlags: 0, cgroupns: false, stdinNull: false, ownProcessGroup: false, init: false },
      ops: [{ op: "env", value: "A=\0B" }],
    })).toThrow("env argument contains a NUL byte");
  });

  test("messages are framed with their kind and length", () => {
    const f = frame("C", encodeCgroups([{ container: "/a/procs", own: "/b/procs" }]));
    expect(new TextDecoder().decode(f)).toBe("C 18\n/a/procs\0/b/procs\0");
  });

  test("status lines", () => {
    expect(parseStatusLine("pid 42")).toEqual({ kind: "pid", pid: 42 });
    expect(parseStatusLine("exit 137")).toEqual({ kind: "exit", code: 137 });
    expect(parseStatusLine("error 127 40 2 exec `x`: no such file or directory")).toEqual({
      kind: "error", exitCode: 127, opIndex: 40, errno: 2, message: "exec `x`: no such file or directory",
    });
    expect(parseStatusLine("garbage")).toBeUndefined();
  });
});

describe("/sys/fs/cgroup in the plan", () => {
  const hybrid = cgroupfsLayout([
    { mountpoint: "/sys/fs/cgroup/cpu,cpuacct", controllers: "cpu,cpuacct" },
    { mountpoint: "/sys/fs/cgroup/systemd", controllers: "xattr,name=systemd" },
    { mountpoint: "/sys/fs/cgroup/unified", controllers: "cgroup2" },
    // The same hierarchy mounted elsewhere is not part of the layout.
    { mountpoint: "/var/lib/x/rootfs/sys/fs/cgroup/memory", controllers: "memory" },
    { mountpoint: "/sys/fs/cgroup/cpu,cpuacct", controllers: "cpu,cpuacct" },
  ], () => [{ name: "cpu", target: "cpu,cpuacct" }, { name: "cpuacct", target: "cpu,cpuacct" }, { name: "gone", target: "net_cls" }]);

  test("the layout keeps each hierarchy once, by its name under /sys/fs/cgroup; a pure cgroup2 host is one mount", () => {
    expect(hybrid).toEqual({
      unified: false,
      mounts: [
        { name: "cpu,cpuacct", fstype: "cgroup", data: "cpu,cpuacct" },
        { name: "systemd", fstype: "cgroup", data: "xattr,name=systemd" },
        { name: "unified", fstype: "cgroup2", data: "" },
      ],
      links: [{ name: "cpu", target: "cpu,cpuacct" }, { name: "cpuacct", target: "cpu,cpuacct" }],
    });
    expect(cgroupfsLayout([{ mountpoint: "/sys/fs/cgroup", controllers: "cgroup2" }]).unified).toBe(true);
  });

  test("root: a tmpfs, each hierarchy read-only on it, the tmpfs made read-only after the pivot; privileged leaves both writable", () => {
    const list = ops(spec({ cgroupfs: hybrid }));
    const tmpfs = index(list, (o) => o.op === "mount" && o.target === "sys/fs/cgroup");
    const cpu = list.find((o) => o.op === "mount" && o.target === "sys/fs/cgroup/cpu,cpuacct");
    expect(tmpfs).toBeGreaterThan(index(list, (o) => o.op === "mount" && o.target === "sys"));
    expect(cpu).toMatchObject({ fstype: "cgroup", data: "cpu,cpuacct" });
    expect(cpu?.op === "mount" && (cpu.flags & MS_RDONLY)).toBe(MS_RDONLY);
    expect(list).toContainEqual({ op: "symlink", target: "cpu,cpuacct", path: "sys/fs/cgroup/cpu" });
    const ro = index(list, (o) => o.op === "remount-ro" && o.path === "/sys/fs/cgroup");
    expect(ro).toBeGreaterThan(index(list, (o) => o.op === "pivot"));

    const privileged = ops(spec({ privileged: true, cgroupfs: hybrid }));
    const pcpu = privileged.find((o) => o.op === "mount" && o.target === "sys/fs/cgroup/cpu,cpuacct");
    expect(pcpu?.op === "mount" && (pcpu.flags & MS_RDONLY)).toBe(0);
    expect(index(privileged, (o) => o.op === "remount-ro")).toBe(-1);
  });

  test("rootless binds the host's tree (v1 cannot be mounted in a user namespace), and nothing with the host's /sys", () => {
    const userns = { kind: "single" as const, uidRanges: [{ inside: 0, outside: 1000, count: 1 }], gidRanges: [{ inside: 0, outside: 1000, count: 1 }] };
    const list = ops(spec({ userns, cgroupfs: hybrid }));
    const bind = list.filter((o) => o.op === "mount" && o.target.startsWith("sys/fs/cgroup"));
    expect(bind).toHaveLength(1);
    expect(bind[0]).toMatchObject({ source: "/sys/fs/cgroup", fstype: "", optional: true });
    expect(bind[0]?.op === "mount" && (bind[0].flags & MS_BIND)).toBe(MS_BIND);
    const host = ops(spec({ userns, network: "host", cgroupfs: hybrid }));
    expect(host.filter((o) => o.op === "mount" && o.target.startsWith("sys/fs/cgroup"))).toHaveLength(0);
  });
});
