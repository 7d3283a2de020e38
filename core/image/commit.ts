/**
 * `box commit`: a container's writable layer becomes one more layer over its image's.
 *
 * The overlay upper directory is already a layer in overlay form; build's layer writer turns it
 * into an OCI tar (whiteouts as `.wh.` entries), and the import path stores that tar as a blob and
 * unpacks it as a new lower layer, in one pass. The upper directory itself is only read: the
 * container keeps running, or can be started again, on it.
 *
 * Left out of the layer is what the runtime, not the container, put there: the mount points of
 * /etc/hostname, /etc/hosts and /etc/resolv.conf (their content lives on the host and is
 * generated again at each start), and the empty mount points of volumes and tmpfs mounts.
 *
 * The config is docker's: the image's config with the container's own settings (its command,
 * entrypoint, -e variables, working directory, user, --expose ports) and then --change applied,
 * and a history entry whose created_by is the container's command.
 */
import { readdirSync, type Stats } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { commitImage, storedTag } from "../build/commit.ts";
import { exposedPorts, type History, type RunConfig } from "../build/image-config.ts";
import { layerEntries, type WalkSummary } from "../build/layer-writer.ts";
import { ownerMaps } from "../build/rootfs.ts";
import { pauseContainer, unpauseContainer } from "../runtime/freezer.ts";
import { isRunning } from "../runtime/lifecycle.ts";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from "../runtime/mounts.ts";
import { mergeEnv, parseEnvFlag, readEnvFile } from "../runtime/options.ts";
import { parseImageConfig } from "../schema/oci.ts";
import type { ContainerRecord } from "../state/containers.ts";
import { applyChanges, validateChanges } from "./changes.ts";
import { storeLayerStream } from "./import.ts";
import { loadRegistriesConfig } from "./registries-config.ts";
import { readBlob } from "./store/blobs.ts";
import { asWriter } from "./store/gc.ts";
import { type ImageRecord, readIndex } from "./store/images.ts";
import { layerRoot } from "./store/layers.ts";
import { prepareStore, storeLayout, type StoreLayout } from "./store/layout.ts";
import { findImage } from "./store/lookup.ts";
import { writeTar } from "./tar-writer.ts";

export interface CommitOptions {
  changes: string[];
  message?: string | undefined;
  author?: string | undefined;
  /** Freeze a running container while its layer is read (docker's default). */
  pause: boolean;
  tag?: string | undefined;
}

/** Files the runtime bind-mounts over the container's own: their mount points are not its changes. */
const ENGINE_FILES = new Set(["etc/hostname", "etc/hosts", "etc/resolv.conf"]);

/** The unpacked layer directories of an image as the container lists them (topmost first). */
function layerDirs(layout: StoreLayout, image: ImageRecord): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const { diffId } of [...image.layers].reverse()) {
    if (seen.has(diffId)) continue;
    seen.add(diffId);
    out.push(layerRoot(layout, diffId));
  }
  return out;
}

/**
 * The image the container was created from. Its ID is recorded at creation; older containers
 * are matched by name, then by their exact layer stack (an untagged image still in use).
 */
function parentImage(paths: BoxPaths, layout: StoreLayout, r: ContainerRecord): ImageRecord {
  const c = r.config;
  if (c.layers.length === 1 && c.layers[0] === c.image) {
    throw new BoxError("E_UNSUPPORTED", `container ${c.name} runs from the directory ${c.image} (--rootfs), not from an image`, {
      hint: "commit works on containers created from an image; export the container instead (box export)",
    });
  }
  const index = readIndex(layout);
  const sameLayers = (img: ImageRecord): boolean => {
    const dirs = layerDirs(layout, img);
    return dirs.length === c.layers.length && dirs.every((d, i) => d === c.layers[i]);
  };
  const byId = c.imageId === undefined ? undefined : index.images.find((i) => i.id === c.imageId);
  if (byId !== undefined && sameLayers(byId)) return byId;
  let byName: ImageRecord | undefined;
  try {
    byName = findImage(index, c.image, loadRegistriesConfig(paths).search);
  } catch {
    // An ambiguous or malformed name: the layer match below decides.
  }
  if (byName !== undefined && sameLayers(byName)) return byName;
  const byLayers = index.images.find(sameLayers);
  if (byLayers !== undefined) return byLayers;
  throw new BoxError("E_NOT_FOUND", `the image of container ${c.name} (${c.image}) is no longer in the store`, {
    hint: "pull or load that image again, or use box export and box import to keep the container's whole file system",
  });
}

/** What of the upper directory is the runtime's doing rather than the container's. */
function runtimeLeftovers(r: ContainerRecord): (rel: string, st: Stats) => boolean {
  const o = r.config.options;
  const targets = new Set<string>();
  for (const [specs, parse] of [[o.volumes, parseVolumeFlag], [o.tmpfs, parseTmpfsFlag], [o.mounts, parseMountFlag]] as const) {
    for (const spec of specs) {
      try {
        targets.add(parse(spec).target.replace(/^\/+/, ""));
      } catch {
        // The container could not have started with it: no mount point was made.
      }
    }
  }
  // /dev, /proc and /sys are created by the runtime when an image lacks them, and mounted over.
  for (const d of ["dev", "proc", "sys"]) targets.add(d);
  return (rel, st) => {
    if (ENGINE_FILES.has(rel)) return true;
    if (!targets.has(rel)) return false;
    // Only an empty mount point is the runtime's; anything with content the container made.
    return (st.isFile() && st.size === 0) || (st.isDirectory() && isEmptyDir(join(r.dirs.upper, rel)));
  };
}

function isEmptyDir(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

/** The command part docker records as the commit's created_by (its Cmd, without the entrypoint). */
function containerCmd(r: ContainerRecord): string[] {
  const o = r.config.options;
  if (o.command.length > 0) return o.command;
  return o.entrypoint !== undefined ? [] : r.config.imageConfig.cmd;
}

/** The image's config with what the container was run with, as docker's commit records it. */
function containerConfig(parent: RunConfig, r: ContainerRecord): RunConfig {
  const o = r.config.options;
  const config: RunConfig = { ...parent };
  if (o.entrypoint !== undefined) {
    config.Entrypoint = o.entrypoint === "" ? [] : [o.entrypoint];
    config.Cmd = o.command;
  } else if (o.command.length > 0) config.Cmd = o.command;
  // `-e NAME` took its value from box's environment at start, which is not recorded: left out.
  const flags = o.env.map((e) => parseEnvFlag(e, {})).filter((e): e is string => e !== undefined);
  const files = o.envFiles.flatMap((f) => {
    try {
      return readEnvFile(f);
    } catch {
      // Gone since the container started: its variables cannot be recovered.
      return [];
    }
  });
  if (flags.length + files.length > 0) config.Env = mergeEnv(parent.Env ?? [], files, flags);
  if (o.workdir !== undefined && o.workdir !== "") config.WorkingDir = o.workdir;
  if (o.user !== undefined && o.user !== "") config.User = o.user;
  if (o.expose !== undefined && o.expose.length > 0) {
    const ports = { ...(parent.ExposedPorts ?? {}) };
    for (const p of exposedPorts(o.expose)) ports[p] = {};
    config.ExposedPorts = ports;
  }
  return config;
}

async function withPause<T>(r: ContainerRecord, pause: boolean, fn: () => Promise<T>): Promise<T> {
  if (!pause || !isRunning(r) || r.state.status === "paused") return fn();
  try {
    await pauseContainer(r);
  } catch (err) {
    // Without a freezer (rootless here: no cgroup delegation) the layer is read live, as podman
    // does by default; a container that cannot be paused is no reason to refuse the commit.
    if (err instanceof BoxError && err.code === "E_UNSUPPORTED") return fn();
    throw err;
  }
  try {
    return await fn();
  } finally {
    await unpauseContainer({ ...r, state: { ...r.state, status: "paused" } });
  }
}

export async function commitContainer(paths: BoxPaths, r: ContainerRecord, opts: CommitOptions): Promise<ImageRecord> {
  validateChanges(opts.changes);
  const names = opts.tag === undefined ? [] : [storedTag(opts.tag)];
  const layout = storeLayout(paths.storage);
  const parent = parentImage(paths, layout, r);
  const parentConfig = parseImageConfig(readBlob(layout, parent.id));
  const config = applyChanges(containerConfig((parentConfig.config ?? {}) as RunConfig, r), opts.changes);
  prepareStore(layout);
  return asWriter(layout, async () => {
    const summary: WalkSummary = { files: 0, bytes: 0 };
    const layer = await withPause(r, opts.pause, () => {
      const tar = writeTar(layerEntries(r.dirs.upper, { owners: ownerMaps(paths.rootless && paths.inUserNamespace !== true).toImage, skip: runtimeLeftovers(r) }, summary));
      return storeLayerStream(layout, tar, `commit container ${r.config.name}`, paths.rootless);
    });
    const created = new Date().toISOString();
    const entry: History = {
      created,
      created_by: containerCmd(r).join(" "),
      ...(opts.author !== undefined ? { author: opts.author } : {}),
      ...(opts.message !== undefined ? { comment: opts.message } : {}),
    };
    const history = [...((parentConfig.history ?? []) as History[]), entry];
    return commitImage(layout, {
      key: "",
      layers: [...parent.layers, layer],
      config,
      history,
      ...(opts.author !== undefined ? { author: opts.author } : {}),
      architecture: parentConfig.architecture,
      os: parentConfig.os,
      ...(parentConfig.variant === undefined ? {} : { variant: parentConfig.variant }),
    }, names, {});
  });
}
