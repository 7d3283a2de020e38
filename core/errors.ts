/**
 * The one error type the engine throws. `code` is a closed set that callers branch on (never the
 * message text), and each code maps to one process exit code, following docker's convention:
 * 125 for the engine's own failures, 126 when the command cannot be executed, 127 when it is not
 * found.
 */
export type ErrorCode =
  | "E_NOT_FOUND"
  | "E_EXISTS"
  | "E_INVALID_INPUT"
  | "E_BAD_STATE"
  | "E_PERMISSION"
  | "E_UNSUPPORTED"
  | "E_REGISTRY"
  | "E_DIGEST_MISMATCH"
  | "E_SYSCALL"
  | "E_CANNOT_EXECUTE"
  | "E_COMMAND_NOT_FOUND"
  | "E_INTERNAL";

const EXIT_CODES: Record<ErrorCode, number> = {
  E_NOT_FOUND: 125,
  E_EXISTS: 125,
  E_INVALID_INPUT: 125,
  E_BAD_STATE: 125,
  E_PERMISSION: 125,
  E_UNSUPPORTED: 125,
  E_REGISTRY: 125,
  E_DIGEST_MISMATCH: 125,
  E_SYSCALL: 125,
  E_CANNOT_EXECUTE: 126,
  E_COMMAND_NOT_FOUND: 127,
  E_INTERNAL: 125,
};

export interface BoxErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class BoxError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  /** Failures met while undoing a half-done operation; they never replace the first error. */
  cleanupErrors: unknown[] = [];

  constructor(code: ErrorCode, message: string, options: BoxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BoxError";
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/** errno values the engine names in messages; the rest print as their number. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 7: "E2BIG", 8: "ENOEXEC", 9: "EBADF",
  10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST",
  18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 24: "EMFILE", 26: "ETXTBSY",
  28: "ENOSPC", 30: "EROFS", 32: "EPIPE", 36: "ENAMETOOLONG", 38: "ENOSYS", 39: "ENOTEMPTY",
  40: "ELOOP", 95: "EOPNOTSUPP", 110: "ETIMEDOUT",
};

const ERRNO_TEXT: Record<string, string> = {
  EPERM: "operation not permitted", ENOENT: "no such file or directory", EACCES: "permission denied",
  EINVAL: "invalid argument", EEXIST: "file exists", ENOTDIR: "not a directory", EISDIR: "is a directory",
  EROFS: "read-only file system", ENOEXEC: "exec format error", EBUSY: "device or resource busy",
  ELOOP: "too many levels of symbolic links", ENOSPC: "no space left on device", ENOMEM: "out of memory",
  ENOSYS: "function not implemented", EOPNOTSUPP: "operation not supported", E2BIG: "argument list too long",
  ETXTBSY: "text file busy", ENAMETOOLONG: "file name too long", ENODEV: "no such device",
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

export function errnoText(errno: number): string {
  return ERRNO_TEXT[errnoName(errno)] ?? errnoName(errno);
}

/**
 * A failed system call, rendered the way crun and runc do: the operation, its object in
 * backquotes, then the errno (``mount `proc` on `/proc`: EPERM (operation not permitted)``).
 */
export class SyscallError extends BoxError {
  readonly op: string;
  readonly errno: number;

  constructor(op: string, errno: number, options: BoxErrorOptions = {}) {
    super(errno === 13 || errno === 1 ? "E_PERMISSION" : "E_SYSCALL", `${op}: ${errnoName(errno)} (${errnoText(errno)})`, options);
    this.name = "SyscallError";
    this.op = op;
    this.errno = errno;
  }

  get errnoName(): string {
    return errnoName(this.errno);
  }
}

/** Wrap an error with what was being done, like Go's `%w`: the renderer joins the chain with ": ". */
export function withContext(code: ErrorCode, message: string, cause: unknown): BoxError {
  return new BoxError(code, message, { cause });
}

/** The message chain of an error and its causes, joined the way the CLI prints them. */
export function describe(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    if (cur instanceof Error) {
      parts.push(cur.message);
      cur = cur.cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(": ");
}
