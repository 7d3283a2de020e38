/**
 * The seccomp compiler, checked by running its programs: a small classic-BPF interpreter (written
 * for this test, from the kernel's filter semantics) evaluates each program on seccomp_data
 * records. The kernel's own verdicts are in test/e2e/seccomp.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { actionValue, compileProfile, encodeProgram, type Insn } from "../../../core/runtime/seccomp/compile.ts";
import { DEFAULT_PROFILE } from "../../../core/runtime/seccomp/default.ts";
import { parseSeccompOption, seccompFilter } from "../../../core/runtime/seccomp/index.ts";
import { parseProfile, type Profile } from "../../../core/runtime/seccomp/profile.ts";
import { I386_SYSCALLS, X86_64_SYSCALLS } from "../../../core/runtime/seccomp/syscalls.ts";
import { DEFAULT_CAPABILITIES } from "../../../core/runtime/caps.ts";
import { inlineSecurityOpts, parseSecurityOpts } from "../../../core/runtime/options.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const ENOSYS = 0x00050026;
const KILL_PROCESS = 0x80000000;

/** Run a filter on one syscall the way the kernel does: 32-bit loads from struct seccomp_data. */
function run(program: Insn[], nr: number, args: bigint[] = [], arch = AUDIT_ARCH_X86_64): number {
  const data = new DataView(new ArrayBuffer(64));
  data.setUint32(0, nr >>> 0, true);
  data.setUint32(4, arch, true);
  args.forEach((a, i) => data.setBigUint64(16 + 8 * i, a, true));
  let acc = 0;
  for (let pc = 0, steps = 0; pc < program.length && steps < 10_000; steps++) {
    const { code, jt, jf, k } = program[pc] as Insn;
    switch (code) {
      case 0x20: acc = data.getUint32(k, true); pc++; break;
      case 0x54: acc = (acc & k) >>> 0; pc++; break;
      case 0x05: pc += 1 + k; break;
      case 0x15: pc += 1 + (acc === k ? jt : jf); break;
      case 0x25: pc += 1 + (acc > k ? jt : jf); break;
      case 0x35: pc += 1 + (acc >= k ? jt : jf); break;
      case 0x06: return k;
      default: throw new Error(`unknown opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error("the program ran off its end");
}

const nr = (name: string) => X86_64_SYSCALLS.get(name) as number;
const KERNEL = "6.1.0-18-amd64";
const defaults = compileProfile(DEFAULT_PROFILE, { caps: DEFAULT_CAPABILITIES, kernel: KERNEL });

describe("docker's default profile, compiled", () => {
  test("stays short: a range dispatch per ABI, not one comparison per syscall", () => {
    expect(defaults.length).toBeLessThan(500);
    expect(encodeProgram(defaults).length).toBe(defaults.length * 8);
  });

  test("allows what ordinary programs use and refuses the rest with EPERM", () => {
    for (const name of ["read", "write", "openat", "execve", "mkdir", "clock_gettime", "exit_group", "rt_sigreturn", "io_uring_setup", "ptrace"]) {
      expect([name, run(defaults, nr(name))]).toEqual([name, ALLOW]);
    }
    for (const name of ["mount", "unshare", "setns", "swapon", "keyctl", "add_key", "kexec_load", "reboot", "open_by_handle_at", "init_module"]) {
      expect([name, run(defaults, nr(name))]).toEqual([name, EPERM]);
    }
  });

  test("clone: a thread or a fork is allowed, a new namespace is not; clone3 answers ENOSYS", () => {
    const CLONE_THREAD_FLAGS = 0x3d0f00n;
    expect(run(defaults, nr("clone"), [CLONE_THREAD_FLAGS])).toBe(ALLOW);
    expect(run(defaults, nr("clone"), [0x11n])).toBe(ALLOW); // SIGCHLD: fork
    expect(run(defaults, nr("clone"), [0x10000000n | 0x11n])).toBe(EPERM); // CLONE_NEWUSER
    expect(run(defaults, nr("clone"), [0x20000n])).toBe(EPERM); // CLONE_NEWNS
    expect(run(defaults, nr("clone3"))).toBe(ENOSYS);
  });

  test("argument conditions: personality's harmless values, socket without AF_VSOCK", () => {
    expect(run(defaults, nr("personality"), [0n])).toBe(ALLOW);
    expect(run(defaults, nr("personality"), [0xffffffffn])).toBe(ALLOW);
    expect(run(defaults, nr("personality"), [0x0040000n])).toBe(EPERM); // ADDR_NO_RANDOMIZE
    // The upper half counts: a value that only matches in its low word is not the same value.
    expect(run(defaults, nr("personality"), [0x1_00000000n])).toBe(EPERM);
    expect(run(defaults, nr("socket"), [2n, 1n, 0n])).toBe(ALLOW);
    expect(run(defaults, nr("socket"), [40n, 1n, 0n])).toBe(EPERM);
  });

  test("capabilities open what docker's profile ties to them", () => {
    const admin = compileProfile(DEFAULT_PROFILE, { caps: [...DEFAULT_CAPABILITIES, "SYS_ADMIN"], kernel: KERNEL });
    for (const name of ["mount", "umount2", "unshare", "setns", "clone3"]) expect([name, run(admin, nr(name))]).toEqual([name, ALLOW]);
    expect(run(admin, nr("clone"), [0x10000000n])).toBe(ALLOW);
    expect(run(admin, nr("reboot"))).toBe(EPERM);
    const time = compileProfile(DEFAULT_PROFILE, { caps: ["CAP_SYS_TIME"], kernel: KERNEL });
    expect(run(time, nr("settimeofday"))).toBe(ALLOW);
    expect(run(defaults, nr("settimeofday"))).toBe(EPERM);
    // Dropping a default capability closes its syscalls: chroot without SYS_CHROOT.
    expect(run(defaults, nr("chroot"))).toBe(ALLOW);
    expect(run(compileProfile(DEFAULT_PROFILE, { caps: ["CHOWN"], kernel: KERNEL }), nr("chroot"))).toBe(EPERM);
  });

  test("the filter the bundler precompiles is the one a start would compile, and only used when it fits", () => {
    const kernel = require("node:fs").readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
    const fresh = (caps: string[]) => encodeProgram(compileProfile(DEFAULT_PROFILE, { caps, kernel }));
    expect(seccompFilter({ kind: "default" }, DEFAULT_CAPABILITIES)).toEqual(fresh(DEFAULT_CAPABILITIES));
    // Capabilities no rule names do not matter; one that a rule names does.
    expect(seccompFilter({ kind: "default" }, [...DEFAULT_CAPABILITIES, "NET_ADMIN"])).toEqual(fresh(DEFAULT_CAPABILITIES));
    const admin = [...DEFAULT_CAPABILITIES, "SYS_ADMIN"];
    expect(seccompFilter({ kind: "default" }, admin)).toEqual(fresh(admin));
    expect(fresh(admin)).not.toEqual(fresh(DEFAULT_CAPABILITIES));
    const none = seccompFilter({ kind: "default" }, []);
    expect(none).toEqual(fresh([]));
  });

  test("minKernel: ptrace only on kernels that re-check the filter after a tracer (4.8)", () => {
    expect(run(compileProfile(DEFAULT_PROFILE, { caps: [], kernel: "4.4.0" }), nr("ptrace"))).toBe(EPERM);
    expect(run(compileProfile(DEFAULT_PROFILE, { caps: [], kernel: "4.8.0" }), nr("ptrace"))).toBe(ALLOW);
  });

  test("syscalls newer than the profile get ENOSYS; x32 is refused, unknown ABIs killed", () => {
    expect(run(defaults, nr("fchmodat2"))).toBe(ENOSYS);
    expect(run(defaults, 1000)).toBe(ENOSYS);
    expect(run(defaults, 0x40000000 + nr("mkdir"))).toBe(EPERM); // x32
    expect(run(defaults, 0xffffffff)).toBe(EPERM); // syscall(-1)
    expect(run(defaults, 5, [], 0xc00000b7)).toBe(KILL_PROCESS); // aarch64
  });

  test("32-bit programs (i386) get the same rules under their own numbers, as docker's archMap", () => {
    const i386 = (name: string, args: bigint[] = []) => run(defaults, I386_SYSCALLS.get(name) as number, args, AUDIT_ARCH_I386);
    for (const name of ["read", "write", "mkdir", "socketcall", "mmap2", "fstat64", "setuid32", "modify_ldt"]) expect([name, i386(name)]).toEqual([name, ALLOW]);
    for (const name of ["mount", "unshare", "swapon", "keyctl", "arch_prctl"]) expect([name, i386(name)]).toEqual([name, EPERM]);
    expect(i386("clone", [0x10000000n])).toBe(EPERM);
    expect(i386("clone", [0x11n])).toBe(ALLOW);
    expect(i386("clone3")).toBe(ENOSYS);
    // The same number means different calls: 21 is mount on i386, access on x86_64.
    expect(run(defaults, 21, [], AUDIT_ARCH_I386)).toBe(EPERM);
    expect(run(defaults, 21)).toBe(ALLOW);
  });

  test("every syscall number gets the verdict the rules give it", () => {
    const allowed = new Set([
      ...(DEFAULT_PROFILE.rules[0]?.names ?? []), "process_vm_readv", "process_vm_writev", "ptrace", "arch_prctl", "modify_ldt",
      "chroot", // SYS_CHROOT is a default capability
      "clone", "personality", "socket", // allowed for the argument 0 probed here
    ]);
    const newest = Math.max(...[...allowed].map((n) => X86_64_SYSCALLS.get(n) ?? -1));
    for (const [name, n] of X86_64_SYSCALLS) {
      const want = name === "clone3" ? ENOSYS : allowed.has(name) ? ALLOW : n > newest ? ENOSYS : EPERM;
      expect([name, run(defaults, n, [0n])]).toEqual([name, want]);
    }
  });
});

describe("custom profiles", () => {
  const compile = (p: Profile) => compileProfile(p, { caps: [], kernel: KERNEL });

  test("a profile that blocks mkdir returns the errno it names", () => {
    const p = parseProfile(JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }] }), "t");
    const prog = compile(p);
    expect(run(prog, nr("mkdir"))).toBe(0x0005000d);
    expect(run(prog, nr("mkdirat"))).toBe(0x0005000d);
    expect(run(prog, nr("read"))).toBe(ALLOW);
    // An allow-by-default profile has nothing "newer": unknown numbers are allowed too.
    expect(run(prog, 1000)).toBe(ALLOW);
  });

  test("every comparison, on both halves of a 64-bit argument", () => {
    const cases: [string, number, bigint, (x: bigint) => boolean][] = [
      ["SCMP_CMP_EQ", 1, 0x1_00000005n, (x) => x === 0x1_00000005n],
      ["SCMP_CMP_NE", 1, 0x1_00000005n, (x) => x !== 0x1_00000005n],
      ["SCMP_CMP_GT", 2, 0x1_00000005n, (x) => x > 0x1_00000005n],
      ["SCMP_CMP_GE", 3, 0x1_00000005n, (x) => x >= 0x1_00000005n],
      ["SCMP_CMP_LT", 4, 0x1_00000005n, (x) => x < 0x1_00000005n],
      ["SCMP_CMP_LE", 5, 0x1_00000005n, (x) => x <= 0x1_00000005n],
    ];
    const probes = [0n, 4n, 5n, 6n, 0x1_00000004n, 0x1_00000005n, 0x1_00000006n, 0x2_00000000n, 0xffffffff_ffffffffn];
    for (const [op, index, value, holds] of cases) {
      const prog = compile(parseProfile(JSON.stringify({
        defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["ioctl"], action: "SCMP_ACT_ALLOW", args: [{ index, value: Number(value), op }] }],
      }), "t"));
      for (const x of probes) {
        const args = [0n, 0n, 0n, 0n, 0n, 0n];
        args[index] = x;
        expect([op, x, run(prog, nr("ioctl"), args)]).toEqual([op, x, holds(x) ? ALLOW : EPERM]);
      }
    }
    const masked = compile(parseProfile(JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["ioctl"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 0xf0, valueTwo: 0x30, op: "SCMP_CMP_MASKED_EQ" }] }],
    }), "t"));
    expect(run(masked, nr("ioctl"), [0x3fn])).toBe(ALLOW);
    expect(run(masked, nr("ioctl"), [0x4fn])).toBe(EPERM);
  });

  test("conditions on two arguments must both hold; on one argument either may (runc's reading)", () => {
    const both = compile(parseProfile(JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }, { index: 1, value: 2, op: "SCMP_CMP_EQ" }] }],
    }), "t"));
    expect(run(both, nr("socket"), [1n, 2n])).toBe(ALLOW);
    expect(run(both, nr("socket"), [1n, 1n])).toBe(EPERM);
    const either = compile(parseProfile(JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }, { index: 0, value: 2, op: "SCMP_CMP_EQ" }] }],
    }), "t"));
    expect(run(either, nr("socket"), [1n])).toBe(ALLOW);
    expect(run(either, nr("socket"), [2n])).toBe(ALLOW);
    expect(run(either, nr("socket"), [3n])).toBe(EPERM);
  });

  test("alternating verdicts over every syscall still compile within the jump limits", () => {
    const names = [...X86_64_SYSCALLS].filter(([, n]) => n % 2 === 0).map(([name]) => name);
    const prog = compile({ defaultAction: { kind: "errno", errno: 1 }, rules: [{ names, action: { kind: "allow" }, args: [] }] });
    for (const [name, n] of X86_64_SYSCALLS) {
      if (n > 468) continue;
      expect([name, run(prog, n)]).toEqual([name, n % 2 === 0 ? ALLOW : EPERM]);
    }
  });

  test("actions map to the kernel's return values", () => {
    expect(actionValue({ kind: "kill-process" })).toBe(KILL_PROCESS);
    expect(actionValue({ kind: "kill-thread" })).toBe(0);
    expect(actionValue({ kind: "trap" })).toBe(0x00030000);
    expect(actionValue({ kind: "log" })).toBe(0x7ffc0000);
  });

  test("bad profiles are refused with the field that is wrong", () => {
    const bad = (o: unknown) => () => parseProfile(JSON.stringify(o), "`p.json`");
    expect(() => parseProfile("{", "`p.json`")).toThrow("seccomp profile `p.json`: not valid JSON");
    expect(bad({ defaultAction: "ALLOW" })).toThrow("defaultAction must be one of SCMP_ACT_ALLOW");
    expect(bad({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdri"], action: "SCMP_ACT_ERRNO" }] })).toThrow("unknown syscall `mkdri`");
    expect(bad({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOPE" }] })).toThrow("syscalls.0.action must be one of");
    expect(bad({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ALLOW", args: [{ index: 6, value: 1, op: "SCMP_CMP_EQ" }] }] })).toThrow("syscalls.0.args.0.index must be 0-5");
    expect(bad({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ action: "SCMP_ACT_ALLOW" }] })).toThrow("syscalls.0 names no syscall");
    // Another architecture's syscall is known, and skipped on x86_64.
    expect(bad({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["s390_runtime_instr"], action: "SCMP_ACT_ERRNO" }] })).not.toThrow();
  });

  test("--security-opt: seccomp=unconfined, a path, inline JSON; a value containing ':' stays whole", () => {
    expect(parseSecurityOpts([]).seccomp).toEqual({ kind: "default" });
    expect(parseSecurityOpts(["seccomp=unconfined"]).seccomp).toEqual({ kind: "unconfined" });
    expect(parseSecurityOpts(["seccomp:unconfined", "no-new-privileges"])).toEqual({ noNewPrivileges: true, seccomp: { kind: "unconfined" } });
    expect(parseSeccompOption('{"defaultAction":"SCMP_ACT_LOG"}').kind).toBe("custom");
    expect(() => parseSecurityOpts(["seccomp=/no/such:file.json"])).toThrow("cannot read `/no/such:file.json`");
    expect(() => parseSecurityOpts(["apparmor=x"])).toThrow("unsupported option `apparmor=x`");
  });

  test("a profile's path is replaced by its checked, compacted content, as docker's CLI sends it", () => {
    const dir = mkdtempSync(join(tmpdir(), "box-seccomp-unit-"));
    try {
      const path = join(dir, "p.json");
      writeFileSync(path, '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n');
      expect(inlineSecurityOpts(["no-new-privileges", `seccomp=${path}`, "seccomp=unconfined"])).toEqual([
        "no-new-privileges", 'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}', "seccomp=unconfined",
      ]);
      expect(parseSecurityOpts(inlineSecurityOpts([`seccomp=${path}`])).seccomp.kind).toBe("custom");
      writeFileSync(path, '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdri"],"action":"SCMP_ACT_ERRNO"}]}');
      expect(() => inlineSecurityOpts([`seccomp=${path}`])).toThrow(`seccomp profile \`${path}\`: syscalls.0: unknown syscall \`mkdri\``);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
