/**
 * The build context and the Dockerfile: a directory, or a tar (plain or compressed) read from
 * stdin (`box build -`), or with `-` a Dockerfile alone on stdin and an empty context (docker's
 * rules). The ignore file is `<Dockerfile>.dockerignore` beside the -f file when it exists,
 * else `.dockerignore` at the context root.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { BoxError } from "../errors.ts";
import { applyLayer } from "../image/layer.ts";
import { isTarHeader } from "../image/tar-header.ts";
import { IgnoreMatcher } from "./ignore.ts";

export interface BuildContext {
  /** The context root on disk (a temporary directory for a context from stdin). */
  dir: string;
  ignore: IgnoreMatcher;
  dockerfile: { text: string; name: string };
}

export interface ContextRequest {
  /** A directory, or "-" for stdin. */
  context: string;
  /** -f: a path, "-" for stdin, or undefined for <context>/Dockerfile. */
  file?: string | undefined;
  /** Where a context from stdin is unpacked (under the store's tmp/). */
  scratch: () => string;
  readStdin: () => Promise<Uint8Array>;
  rootless: boolean;
}

function isArchive(bytes: Uint8Array): boolean {
  const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const zstd = bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd;
  return gzip || zstd || (bytes.length >= 512 && isTarHeader(bytes.subarray(0, 512)));
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BoxError("E_NOT_FOUND", `${what} \`${path}\`: ${code === "ENOENT" ? "no such file or directory" : code === "EISDIR" ? "is a directory" : String(code)}`, {
      hint: what === "Dockerfile" ? "give the Dockerfile's path with -f, or add a Dockerfile to the context" : undefined,
    });
  }
}

export async function loadContext(req: ContextRequest): Promise<BuildContext> {
  let dir: string;
  let stdinDockerfile: string | undefined;
  if (req.context === "-") {
    if (req.file === "-") throw new BoxError("E_INVALID_INPUT", "cannot read both the context and the Dockerfile from stdin", { hint: "give a context directory, or -f FILE" });
    const bytes = await req.readStdin();
    dir = req.scratch();
    mkdirSync(dir, { recursive: true });
    if (isArchive(bytes)) {
      await applyLayer(new Blob([bytes]).stream(), dir, { mode: "flat", rootless: req.rootless });
    } else {
      stdinDockerfile = new TextDecoder().decode(bytes);
    }
  } else {
    dir = resolve(req.context);
    let st;
    try {
      st = statSync(dir);
    } catch {
      throw new BoxError("E_NOT_FOUND", `build context \`${req.context}\`: no such file or directory`, { hint: "give the context directory as the last argument, or - for a tar on stdin" });
    }
    if (!st.isDirectory()) throw new BoxError("E_INVALID_INPUT", `build context \`${req.context}\` is not a directory`, { hint: "give a directory, or - to read a tar from stdin" });
  }

  let dockerfile: { text: string; name: string };
  let ignoreBeside: string | undefined;
  if (stdinDockerfile !== undefined) dockerfile = { text: stdinDockerfile, name: "Dockerfile" };
  else if (req.file === "-") dockerfile = { text: new TextDecoder().decode(await req.readStdin()), name: "Dockerfile" };
  else {
    // docker resolves -f against the current directory, and a bare context/Dockerfile otherwise.
    const path = req.file !== undefined ? resolve(req.file) : join(dir, "Dockerfile");
    dockerfile = { text: readText(path, "Dockerfile"), name: req.file ?? "Dockerfile" };
    ignoreBeside = join(dirname(path), `${basename(path)}.dockerignore`);
  }
  let ignoreText = "";
  if (ignoreBeside !== undefined && existsSync(ignoreBeside)) ignoreText = readText(ignoreBeside, ".dockerignore");
  else if (existsSync(join(dir, ".dockerignore"))) ignoreText = readText(join(dir, ".dockerignore"), ".dockerignore");
  return { dir, ignore: IgnoreMatcher.parse(ignoreText), dockerfile };
}
