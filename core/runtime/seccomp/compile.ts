/**
 * A seccomp profile compiled to a classic BPF program for x86_64 (and its i386 ABI), the program
 * the shim hands to the kernel. The dispatch on the syscall number is a binary search over
 * ranges of numbers that share one outcome (most allowed syscalls sit in long runs), so a filter
 * of docker's profile decides any syscall after about seven comparisons; syscalls with argument
 * conditions jump to a small handler of their own.
 */
import { BoxError } from "../../errors.ts";
import type { Action, ArgCondition, Profile, Rule, RuleFilter } from "./profile.ts";
import { I386_SYSCALLS, X86_64_SYSCALLS } from "./syscalls.ts";

/** What a rule's includes/excludes are matched against. */
export interface FilterContext {
  /** The container's capabilities, with or without the CAP_ prefix. */
  caps: Iterable<string>;
  /** The running kernel's release, e.g. "6.1.0-18-amd64". */
  kernel: string;
}

// Classic BPF opcodes (linux/filter.h) and seccomp's data layout (linux/seccomp.h).
const LD_W_ABS = 0x20;
const ALU_AND_K = 0x54;
const JMP_JA = 0x05;
const JMP_JEQ_K = 0x15;
const JMP_JGT_K = 0x25;
const JMP_JGE_K = 0x35;
const RET_K = 0x06;
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARGS = 16;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
/** Syscalls of the x32 ABI arrive with the x86_64 audit arch and this bit in the number. */
const X32_SYSCALL_BIT = 0x40000000;
/** The kernel's limit on a filter's length (BPF_MAXINSNS). */
const MAX_INSNS = 4096;
const ENOSYS = 38;

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export function actionValue(a: Action): number {
  switch (a.kind) {
    case "allow": return 0x7fff0000;
    case "errno": return (0x00050000 | (a.errno & 0xffff)) >>> 0;
    case "kill-thread": return 0;
    case "kill-process": return 0x80000000;
    case "trap": return 0x00030000;
    case "trace": return (0x7ff00000 | (a.data & 0xffff)) >>> 0;
    case "log": return 0x7ffc0000;
  }
}

export function kernelAtLeast(kernel: string, min: string): boolean {
  const have = (/^[\d.]+/.exec(kernel)?.[0] ?? "0").split(".").map(Number);
  const want = min.split(".").map(Number);
  for (let i = 0; i < Math.max(have.length, want.length); i++) {
    const h = have[i] ?? 0;
    const w = want[i] ?? 0;
    if (h !== w) return h > w;
  }
  return true;
}

const capName = (c: string) => c.toUpperCase().replace(/^CAP_/, "");

/** moby's rule: every included cap must be held, and an excluded cap held drops the rule.
 * `arches` are docker's Go names (amd64, x86) or libseccomp's; `abi` holds this section's. */
function applies(rule: Rule, caps: Set<string>, kernel: string, abi: ReadonlySet<string>): boolean {
  const inc: RuleFilter = rule.includes ?? {};
  const exc: RuleFilter = rule.excludes ?? {};
  if (inc.caps && !inc.caps.every((c) => caps.has(capName(c)))) return false;
  if (inc.arches && inc.arches.length > 0 && !inc.arches.some((a) => abi.has(a))) return false;
  if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) return false;
  if (exc.caps && exc.caps.some((c) => caps.has(capName(c)))) return false;
  if (exc.arches && exc.arches.some((a) => abi.has(a))) return false;
  if (exc.minKernel && kernelAtLeast(kernel, exc.minKernel)) return false;
  return true;
}

/** Conditions of one rule as alternatives of conjunctions. libseccomp refuses two conditions on
 * one argument, so runc reads them as alternatives; box does the same. */
function clauses(args: ArgCondition[]): ArgCondition[][] {
  if (args.length > 1 && args.every((a) => a.index === (args[0] as ArgCondition).index)) return args.map((a) => [a]);
  return [args];
}

interface SyscallRules {
  conditional: { clauses: ArgCondition[][]; action: number }[];
  unconditional?: number;
}

/** Instructions of one handler; jumps are local except ja's to a label, patched after layout. */
type Code = (Insn & { label?: number })[];

const insn = (code: number, k: number, jt = 0, jf = 0): Insn => ({ code, jt, jf, k: k >>> 0 });

/**
 * One 64-bit comparison as 32-bit halves (the argument's low word first in memory). `pass` and
 * `fail` are symbolic: the end of this condition and the end of the clause.
 */
type Jump = number | "pass" | "fail";
type SymInsn = { code: number; k: number; jt: Jump; jf: Jump };

function condition(c: ArgCondition): SymInsn[] {
  const lo = OFF_ARGS + 8 * c.index;
  const hi = lo + 4;
  const half = (x: number) => [Math.floor(x / 0x100000000) >>> 0, x >>> 0] as const;
  const [vHi, vLo] = half(c.value);
  const ld = (off: number): SymInsn => ({ code: LD_W_ABS, k: off, jt: 0, jf: 0 });
  const j = (code: number, k: number, jt: Jump, jf: Jump): SymInsn => ({ code, k, jt, jf });
  switch (c.op) {
    case "eq":
      return [ld(hi), j(JMP_JEQ_K, vHi, 0, "fail"), ld(lo), j(JMP_JEQ_K, vLo, 0, "fail")];
    case "ne":
      return [ld(hi), j(JMP_JEQ_K, vHi, 0, "pass"), ld(lo), j(JMP_JEQ_K, vLo, "fail", 0)];
    case "masked-eq": {
      const [mHi, mLo] = half(c.value);
      const [wHi, wLo] = half(c.valueTwo);
      return [
        ld(hi), { code: ALU_AND_K, k: mHi, jt: 0, jf: 0 }, j(JMP_JEQ_K, wHi, 0, "fail"),
        ld(lo), { code: ALU_AND_K, k: mLo, jt: 0, jf: 0 }, j(JMP_JEQ_K, wLo, 0, "fail"),
      ];
    }
    case "gt":
    case "ge":
      return [ld(hi), j(JMP_JGT_K, vHi, "pass", 0), j(JMP_JEQ_K, vHi, 0, "fail"), ld(lo), j(c.op === "gt" ? JMP_JGT_K : JMP_JGE_K, vLo, 0, "fail")];
    case "lt":
    case "le":
      return [ld(hi), j(JMP_JGT_K, vHi, "fail", 0), j(JMP_JEQ_K, vHi, 0, "pass"), ld(lo), j(c.op === "le" ? JMP_JGT_K : JMP_JGE_K, vLo, "fail", 0)];
  }
}

function resolveJump(j: Jump, at: number, passAt: number, failAt: number): number {
  const target = j === "pass" ? passAt : j === "fail" ? failAt : at + 1 + j;
  const off = target - at - 1;
  if (off < 0 || off > 255) throw new BoxError("E_INVALID_INPUT", "seccomp profile: a syscall's argument conditions are too long to compile");
  return off;
}

/** A syscall's rules in order: the first clause that holds decides, else the fallback. */
function handler(rules: SyscallRules, fallback: number): Code {
  const out: Code = [];
  for (const r of rules.conditional) {
    for (const clause of r.clauses) {
      const sym: { s: SymInsn; passAt: number }[] = [];
      for (const c of clause) {
        const code = condition(c);
        const end = sym.length + code.length;
        for (const s of code) sym.push({ s, passAt: end });
      }
      // The clause's return follows its conditions; failing jumps past it.
      const failAt = sym.length + 1;
      sym.forEach(({ s, passAt }, i) => out.push(insn(s.code, s.k, resolveJump(s.jt, i, passAt, failAt), resolveJump(s.jf, i, passAt, failAt))));
      out.push(insn(RET_K, r.action));
    }
  }
  out.push(insn(RET_K, rules.unconditional ?? fallback));
  return out;
}

interface Range {
  start: number;
  /** A return value, or the syscall number whose handler decides. */
  outcome: { ret: number } | { handler: number };
}

/** The size of dispatch()'s code for ranges[lo..hi], to know a jump's length before emitting. */
function dispatchSize(lo: number, hi: number): number {
  if (lo === hi) return 1;
  const mid = (lo + hi + 1) >> 1;
  const left = dispatchSize(lo, mid - 1);
  return (left <= 255 ? 1 : 2) + left + dispatchSize(mid, hi);
}

/** Binary search over ranges that cover every number; a leaf needs no comparison of its own. */
function dispatch(out: Code, ranges: Range[], lo: number, hi: number): void {
  if (lo === hi) {
    const o = (ranges[lo] as Range).outcome;
    out.push("ret" in o ? insn(RET_K, o.ret) : { ...insn(JMP_JA, 0), label: o.handler });
    return;
  }
  const mid = (lo + hi + 1) >> 1;
  const boundary = (ranges[mid] as Range).start;
  const left = dispatchSize(lo, mid - 1);
  if (left <= 255) out.push(insn(JMP_JGE_K, boundary, left, 0));
  // Conditional jumps reach 255 instructions; a ja reaches any.
  else out.push(insn(JMP_JGE_K, boundary, 0, 1), insn(JMP_JA, left));
  dispatch(out, ranges, lo, mid - 1);
  dispatch(out, ranges, mid, hi);
}

/** One ABI the filter knows: its audit arch, its numbers, and its names in rules' `arches`. */
interface Abi {
  arch: number;
  table: ReadonlyMap<string, number>;
  names: ReadonlySet<string>;
  /** x86_64 shares its audit arch with x32, whose numbers carry X32_SYSCALL_BIT. */
  x32Range: boolean;
}

const ABIS: Abi[] = [
  { arch: AUDIT_ARCH_X86_64, table: X86_64_SYSCALLS, names: new Set(["amd64", "x86_64", "SCMP_ARCH_X86_64"]), x32Range: true },
  { arch: AUDIT_ARCH_I386, table: I386_SYSCALLS, names: new Set(["x86", "386", "i386", "SCMP_ARCH_X86"]), x32Range: false },
];

/** The code for one ABI, from its syscall-number load on: self-contained, so it links alone. */
function section(profile: Profile, abi: Abi, caps: Set<string>, kernel: string): Code {
  const defaultRet = actionValue(profile.defaultAction);
  const bySyscall = new Map<number, SyscallRules>();
  // Indexed loops: this runs once per container start, before the JIT has warmed up to anything.
  for (let r = 0; r < profile.rules.length; r++) {
    const rule = profile.rules[r] as Rule;
    if (!applies(rule, caps, kernel, abi.names)) continue;
    const action = actionValue(rule.action);
    for (let i = 0; i < rule.names.length; i++) {
      const nr = abi.table.get(rule.names[i] as string);
      if (nr === undefined) continue; // another architecture's syscall
      let s = bySyscall.get(nr);
      if (!s) bySyscall.set(nr, (s = { conditional: [] }));
      if (rule.args.length === 0) s.unconditional ??= action;
      else s.conditional.push({ clauses: clauses(rule.args), action });
    }
  }

  // Syscalls newer than any the profile names get ENOSYS, so a libc falls back to an older call
  // (glibc's fchmodat2 -> fchmodat) instead of failing on EPERM: runc's rule, for the same reason.
  let newest = -1;
  for (const n of bySyscall.keys()) if (n > newest) newest = n;
  const unknownRet = newest >= 0 && profile.defaultAction.kind === "errno" ? actionValue({ kind: "errno", errno: ENOSYS }) : defaultRet;

  // Each number's verdict: a return value, or -1 where a handler decides.
  const verdict: number[] = new Array<number>(newest + 1).fill(defaultRet);
  const handlers = new Map<number, Code>();
  for (const [n, s] of bySyscall) {
    const plain = s.unconditional ?? defaultRet;
    if (s.conditional.length === 0 || s.conditional.every((c) => c.action === plain)) verdict[n] = plain;
    else {
      verdict[n] = -1;
      handlers.set(n, handler(s, defaultRet));
    }
  }
  const ranges: Range[] = [];
  let last = -2;
  for (let n = 0; n <= newest; n++) {
    const v = verdict[n] as number;
    if (v !== -1 && v === last) continue;
    ranges.push({ start: n, outcome: v === -1 ? { handler: n } : { ret: v } });
    last = v;
  }
  ranges.push({ start: newest + 1, outcome: { ret: unknownRet } });
  // The x32 ABI is not allowed anything (Debian's kernels do not even enable it): its numbers
  // fall to the default action.
  if (abi.x32Range) ranges.push({ start: X32_SYSCALL_BIT, outcome: { ret: defaultRet } });

  const code: Code = [insn(LD_W_ABS, OFF_NR)];
  dispatch(code, ranges, 0, ranges.length - 1);
  const handlerAt = new Map<number, number>();
  for (const [nr, h] of handlers) {
    handlerAt.set(nr, code.length);
    for (let i = 0; i < h.length; i++) code.push(h[i] as Insn);
  }
  for (let i = 0; i < code.length; i++) {
    const ins = code[i] as Insn & { label?: number };
    if (ins.label !== undefined) ins.k = (handlerAt.get(ins.label) as number) - i - 1;
  }
  return code;
}

/**
 * Compile `profile` for a container holding `ctx.caps` on kernel `ctx.kernel`: docker's archMap
 * for x86_64, one section for 64-bit programs and one for 32-bit ones (i386), each with its own
 * numbers. Any other audit arch is an ABI the filter does not know, and a way around it: such a
 * process is killed (libseccomp's bad-arch default).
 */
export function compileProfile(profile: Profile, ctx: FilterContext): Insn[] {
  const caps = new Set<string>();
  for (const c of ctx.caps) caps.add(capName(c));
  const sections = ABIS.map((abi) => section(profile, abi, caps, ctx.kernel));
  // Per ABI: `jeq arch` falls through to a `ja` into its section, else skips over it.
  const program: Code = [insn(LD_W_ABS, OFF_ARCH)];
  const head = ABIS.length * 2 + 2;
  let at = head;
  ABIS.forEach((abi, i) => {
    program.push(insn(JMP_JEQ_K, abi.arch, 0, 1), insn(JMP_JA, at - (program.length + 2)));
    at += (sections[i] as Code).length;
  });
  program.push(insn(RET_K, actionValue({ kind: "kill-process" })));
  for (const s of sections) for (let i = 0; i < s.length; i++) program.push(s[i] as Insn);
  if (program.length > MAX_INSNS) {
    throw new BoxError("E_INVALID_INPUT", `seccomp profile compiles to ${program.length} instructions, more than the kernel's ${MAX_INSNS}`);
  }
  return program.map(({ code, jt, jf, k }) => ({ code, jt, jf, k }));
}

/** struct sock_filter[] as the kernel reads it: u16 code, u8 jt, u8 jf, u32 k, little-endian. */
export function encodeProgram(program: Insn[]): Uint8Array {
  const out = new Uint8Array(program.length * 8);
  const view = new DataView(out.buffer);
  program.forEach((p, i) => {
    view.setUint16(i * 8, p.code, true);
    view.setUint8(i * 8 + 2, p.jt);
    view.setUint8(i * 8 + 3, p.jf);
    view.setUint32(i * 8 + 4, p.k, true);
  });
  return out;
}
