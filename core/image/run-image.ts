/**
 * The image a `box run` starts from: a directory given with --rootfs, or a stored image found by
 * any name, ID or digest, pulled first when it is not local (as `docker run` does). The built-in
 * `base` is imported into the store on first use.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { BoxError } from "../errors.ts";
import type { PullOptions } from "./copy/pull.ts";
import type { BoxPaths } from "../paths.ts";
import type { RunnableImage } from "../runtime/run.ts";
import { parseImageConfig } from "../schema/oci.ts";
import { BASE_ENV, installedBase, isBaseReference } from "./base-config.ts";
import { loadRegistriesConfig } from "./registries-config.ts";
import { readBlob } from "./store/blobs.ts";
import { type ImageRecord, readIndex } from "./store/images.ts";
import { hasLayer, layerRoot } from "./store/layers.ts";
import { storeLayout, type StoreLayout } from "./store/layout.ts";
import { findImage } from "./store/lookup.ts";

const DIRECTORY_CONFIG: RunnableImage["config"] = { env: BASE_ENV, cmd: [], entrypoint: [], workingDir: "/", user: "" };

function directoryImage(path: string): RunnableImage {
  const dir = resolve(path);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new BoxError("E_INVALID_INPUT", `--rootfs: \`${dir}\` does not exist`, { hint: "give the path of an unpacked root filesystem" });
  }
  if (!isDir) throw new BoxError("E_INVALID_INPUT", `--rootfs: \`${dir}\` is not a directory`, { hint: "give the path of an unpacked root filesystem" });
  return { name: dir, layers: [dir], config: DIRECTORY_CONFIG };
}

/** A stored image as the runtime wants it: unpacked layer directories, topmost first, and its config. */
export function runnableImage(layout: StoreLayout, image: ImageRecord, name: string): RunnableImage {
  const seen = new Set<string>();
  const layers: string[] = [];
  // Topmost first; a layer listed twice keeps its upper place (overlayfs refuses a repeated lowerdir).
  for (const { diffId } of [...image.layers].reverse()) {
    if (seen.has(diffId)) continue;
    seen.add(diffId);
    if (!hasLayer(layout, diffId)) {
      throw new BoxError("E_BAD_STATE", `image \`${name}\` is incomplete: layer ${diffId} is missing from the store`, {
        hint: `pull the image again, or remove it with box rmi ${image.id.slice(7, 19)}`,
      });
    }
    layers.push(layerRoot(layout, diffId));
  }
  const c = parseImageConfig(readBlob(layout, image.id)).config ?? {};
  const env = c.Env ?? [];
  return {
    name,
    id: image.id,
    layers,
    config: {
      env: env.some((e) => e.startsWith("PATH=")) ? env : [...BASE_ENV, ...env],
      cmd: c.Cmd ?? [],
      entrypoint: c.Entrypoint ?? [],
      workingDir: c.WorkingDir || "/",
      user: c.User ?? "",
      ...(c.ExposedPorts ? { exposedPorts: Object.keys(c.ExposedPorts) } : {}),
    },
  };
}

export interface RunImagePull extends PullOptions {
  /** Called once before a pull starts, so the caller can say why (docker: "Unable to find image"). */
  announce?: (ref: string) => void;
}

/** docker run --pull: when to ask the registry. */
export type PullPolicy = "missing" | "always" | "never";

export function parsePullPolicy(value: string): PullPolicy {
  if (value === "missing" || value === "always" || value === "never") return value;
  throw new BoxError("E_INVALID_INPUT", `--pull: invalid pull policy \`${value}\``, { hint: "use missing (the default), always or never" });
}

export async function resolveRunImage(
  paths: BoxPaths,
  req: { ref: string; rootfs?: string | undefined; pull?: RunImagePull; policy?: PullPolicy },
): Promise<RunnableImage> {
  if (req.rootfs !== undefined) return directoryImage(req.rootfs);
  const layout = storeLayout(paths.storage);
  if (isBaseReference(req.ref)) {
    const base = installedBase(layout) ?? (await (await import("./builtin.ts")).importBaseImage(layout, paths.rootless));
    return runnableImage(layout, base, "base");
  }
  const found = findImage(readIndex(layout), req.ref, loadRegistriesConfig(paths).search);
  if (found !== undefined && req.policy !== "always") return runnableImage(layout, found, req.ref);
  if (found === undefined && req.policy === "never") {
    throw new BoxError("E_NOT_FOUND", `image \`${req.ref}\` is not known locally and --pull=never forbids pulling it`, { hint: `pull it first with box pull ${req.ref}` });
  }
  // Loaded only now: a run of a local image never pays for the registry client.
  const { pullImage } = await import("./copy/pull.ts");
  if (found === undefined) req.pull?.announce?.(req.ref);
  const pulled = await pullImage(paths, req.ref, req.pull);
  return runnableImage(layout, pulled.image, req.ref);
}
