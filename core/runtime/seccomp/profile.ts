/**
 * Seccomp profiles: box's model of one, and the JSON format docker and the OCI runtime spec share
 * (`--security-opt seccomp=PATH`). A profile file crosses a trust boundary, so every field is
 * checked here and every name is known before anything reaches the compiler.
 */
import * as v from "valibot";
import { BoxError } from "../../errors.ts";
import { FOREIGN_SYSCALLS, I386_SYSCALLS, X86_64_SYSCALLS } from "./syscalls.ts";

export type Action =
  | { kind: "allow" }
  | { kind: "errno"; errno: number }
  | { kind: "kill-thread" }
  | { kind: "kill-process" }
  | { kind: "trap" }
  | { kind: "trace"; data: number }
  | { kind: "log" };

export type CompareOp = "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "masked-eq";

/**
 * One condition on a syscall argument; `masked-eq` means (arg & value) == valueTwo. Values are
 * plain numbers: JSON carries no more than 2^53 exactly, and the compiler splits them in halves.
 */
export interface ArgCondition {
  index: number;
  op: CompareOp;
  value: number;
  valueTwo: number;
}

/** Which containers a rule applies to: by their capabilities, architecture or kernel. */
export interface RuleFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface Rule {
  names: string[];
  action: Action;
  /** All must hold, except that several conditions on one argument are alternatives (runc's rule). */
  args: ArgCondition[];
  includes?: RuleFilter;
  excludes?: RuleFilter;
}

export interface Profile {
  defaultAction: Action;
  rules: Rule[];
}

const ACTIONS = [
  "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG",
] as const;

const OPS: Record<string, CompareOp> = {
  SCMP_CMP_EQ: "eq", SCMP_CMP_NE: "ne", SCMP_CMP_LT: "lt", SCMP_CMP_LE: "le", SCMP_CMP_GT: "gt",
  SCMP_CMP_GE: "ge", SCMP_CMP_MASKED_EQ: "masked-eq",
};

const ARCHES = [
  "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
] as const;

/** Argument values are unsigned 64-bit; JSON numbers above 2^53 are not exact, so they are refused. */
const U64 = v.pipe(v.number(), v.integer("must be an integer"), v.minValue(0, "must not be negative"), v.maxValue(Number.MAX_SAFE_INTEGER, "is too large to be exact in JSON"));
const ERRNO = v.pipe(v.number(), v.integer("must be an integer"), v.minValue(0, "must not be negative"), v.maxValue(4095, "must be below 4096"));

const Filter = v.object({
  caps: v.optional(v.nullable(v.array(v.string()))),
  arches: v.optional(v.nullable(v.array(v.string()))),
  minKernel: v.optional(v.nullable(v.pipe(v.string(), v.regex(/^\d+(\.\d+)*$/, "must be a kernel version like 4.8")))),
});

const SyscallEntry = v.object({
  names: v.optional(v.nullable(v.array(v.pipe(v.string(), v.minLength(1, "must not be empty"))))),
  name: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  action: v.picklist(ACTIONS, "must be one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG"),
  errnoRet: v.optional(v.nullable(ERRNO)),
  args: v.optional(v.nullable(v.array(v.object({
    index: v.pipe(v.number(), v.integer(), v.minValue(0, "must be 0-5"), v.maxValue(5, "must be 0-5")),
    value: U64,
    valueTwo: v.optional(U64),
    op: v.picklist(Object.keys(OPS), `must be one of ${Object.keys(OPS).join(", ")}`),
  })))),
  comment: v.optional(v.nullable(v.string())),
  includes: v.optional(v.nullable(Filter)),
  excludes: v.optional(v.nullable(Filter)),
});

/** docker's profile format, which is also the OCI runtime spec's `linux.seccomp`. */
const ProfileFile = v.object({
  defaultAction: v.picklist(ACTIONS, "must be one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG"),
  defaultErrnoRet: v.optional(v.nullable(ERRNO)),
  architectures: v.optional(v.nullable(v.array(v.picklist(ARCHES, "is not a known SCMP_ARCH_ name")))),
  archMap: v.optional(v.nullable(v.array(v.object({
    architecture: v.picklist(ARCHES, "is not a known SCMP_ARCH_ name"),
    subArchitectures: v.optional(v.nullable(v.array(v.picklist(ARCHES, "is not a known SCMP_ARCH_ name")))),
  })))),
  flags: v.optional(v.nullable(v.array(v.string()))),
  syscalls: v.optional(v.nullable(v.array(SyscallEntry))),
});

type FileAction = (typeof ACTIONS)[number];

function action(name: FileAction, errnoRet: number | null | undefined, fallbackErrno: number): Action {
  switch (name) {
    case "SCMP_ACT_ALLOW": return { kind: "allow" };
    // libseccomp and runc return EPERM when a profile names no errno.
    case "SCMP_ACT_ERRNO": return { kind: "errno", errno: errnoRet ?? fallbackErrno };
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD": return { kind: "kill-thread" };
    case "SCMP_ACT_KILL_PROCESS": return { kind: "kill-process" };
    case "SCMP_ACT_TRAP": return { kind: "trap" };
    case "SCMP_ACT_TRACE": return { kind: "trace", data: errnoRet ?? 0 };
    case "SCMP_ACT_LOG": return { kind: "log" };
  }
}

function filter(f: v.InferOutput<typeof Filter> | null | undefined): RuleFilter | undefined {
  if (!f) return undefined;
  const out: RuleFilter = {};
  if (f.caps) out.caps = f.caps;
  if (f.arches) out.arches = f.arches;
  if (f.minKernel) out.minKernel = f.minKernel;
  return out;
}

/** Parse and check a profile's JSON text; `source` names it in errors. */
export function parseProfile(text: string, source: string): Profile {
  const hint = "see https://docs.docker.com/engine/security/seccomp/ for the format";
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BoxError("E_INVALID_INPUT", `seccomp profile ${source}: not valid JSON: ${(e as Error).message}`, { hint });
  }
  const parsed = v.safeParse(ProfileFile, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const at = v.getDotPath(issue) ?? "(top level)";
    throw new BoxError("E_INVALID_INPUT", `seccomp profile ${source}: ${at} ${issue.message}`, { hint });
  }
  const p = parsed.output;
  const rules: Rule[] = [];
  for (const [i, s] of (p.syscalls ?? []).entries()) {
    const names = [...(s.names ?? []), ...(s.name !== undefined ? [s.name] : [])];
    if (names.length === 0) throw new BoxError("E_INVALID_INPUT", `seccomp profile ${source}: syscalls.${i} names no syscall`, { hint });
    for (const n of names) {
      if (!X86_64_SYSCALLS.has(n) && !I386_SYSCALLS.has(n) && !FOREIGN_SYSCALLS.has(n)) {
        throw new BoxError("E_INVALID_INPUT", `seccomp profile ${source}: syscalls.${i}: unknown syscall \`${n}\``, {
          hint: "syscall names are the kernel's, as in syscalls(2): mkdir, openat, clone3...",
        });
      }
    }
    const rule: Rule = {
      names,
      action: action(s.action, s.errnoRet, 1),
      args: (s.args ?? []).map((a) => ({ index: a.index, op: OPS[a.op] as CompareOp, value: a.value, valueTwo: a.valueTwo ?? 0 })),
    };
    const inc = filter(s.includes);
    const exc = filter(s.excludes);
    if (inc) rule.includes = inc;
    if (exc) rule.excludes = exc;
    rules.push(rule);
  }
  return { defaultAction: action(p.defaultAction, p.defaultErrnoRet, 1), rules };
}
