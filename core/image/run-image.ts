/**
 * The image a `box run` starts from: the built-in `base`, a directory given with --rootfs, or
 * (once the image store exists) a stored image.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import type { RunnableImage } from "../runtime/run.ts";

const DIRECTORY_CONFIG: RunnableImage["config"] = {
  env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  cmd: [],
  entrypoint: [],
  workingDir: "/",
  user: "",
};

export function isBaseReference(ref: string): boolean {
  return ref === "base" || ref === "base:latest" || ref === "localhost/base" || ref === "localhost/base:latest";
}

export async function resolveRunImage(paths: BoxPaths, req: { ref: string; rootfs?: string | undefined }): Promise<RunnableImage> {
  if (req.rootfs !== undefined) {
    const dir = resolve(req.rootfs);
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      throw new BoxError("E_INVALID_INPUT", `--rootfs: \`${dir}\` does not exist`, { hint: "give the path of an unpacked root filesystem" });
    }
    if (!isDir) throw new BoxError("E_INVALID_INPUT", `--rootfs: \`${dir}\` is not a directory`, { hint: "give the path of an unpacked root filesystem" });
    return { name: dir, layers: [dir], config: DIRECTORY_CONFIG };
  }
  if (isBaseReference(req.ref)) {
    const { ensureBaseImage, BASE_CONFIG } = await import("./builtin.ts");
    const rootfs = await ensureBaseImage(paths);
    return { name: "base", layers: [rootfs], config: BASE_CONFIG };
  }
  throw new BoxError("E_NOT_FOUND", `image \`${req.ref}\` is not known locally`, {
    hint: "this build runs the built-in `base` image or a directory given with --rootfs",
  });
}
