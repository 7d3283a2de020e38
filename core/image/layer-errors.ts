/**
 * How layer unpacking reports failure: every message starts with the layer ("layer sha256:…")
 * and, where one is to blame, the entry; node:fs errors become SyscallErrors in crun's
 * "op `path`: ERRNO" form. The cause chain is kept, so the CLI prints the whole story.
 */
import { BoxError, errnoName, SyscallError } from "../errors.ts";

/**
 * An error that already names its layer (and entry): applyLayer passes these through as they are
 * and wraps everything else with that context.
 */
export class LayerError extends BoxError {
  override readonly name = "LayerError";
}

/** The errno name of a node:fs error or a SyscallError ("EEXIST"), if it is one. */
export function errnoOf(err: unknown): string | undefined {
  if (err instanceof SyscallError) return errnoName(err.errno);
  if (err instanceof BoxError) return undefined;
  if (err instanceof Error && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

/** node:fs errors carry syscall, path and a negative errno: render them the crun way. */
function toSyscallError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof BoxError) return err;
  const e = err as Error & { errno?: number; syscall?: string; path?: string };
  if (typeof e.errno !== "number" || typeof e.syscall !== "string") return err;
  const op = e.path === undefined ? e.syscall : `${e.syscall} \`${e.path}\``;
  return new SyscallError(op, Math.abs(e.errno), { cause: err });
}

/** Give an error its layer and entry context, unless it already names them. */
export function withLayerContext(err: unknown, label: string, entry: string | undefined): unknown {
  if (err instanceof LayerError) return err;
  const e = toSyscallError(err);
  const where = entry === undefined ? label : `${label}: entry \`${entry}\``;
  const code = e instanceof BoxError ? e.code : "E_INTERNAL";
  return new LayerError(code, where, { cause: e });
}
