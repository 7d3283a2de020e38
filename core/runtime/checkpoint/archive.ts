/**
 * The exported checkpoint: one tar (gzip-compressed when the name ends in .gz or .tgz) in the
 * shape of podman's checkpoint archive —
 *   checkpoint.json    box's manifest (manifest.ts)
 *   config.dump        the container's configuration
 *   checkpoint/        criu's image files
 *   rootfs-diff.tar    the container's writable layer, whiteouts in OCI form
 * Reading it back accepts exactly these names, so an archive cannot write anywhere else.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import * as v from "valibot";
import { layerEntries } from "../../build/layer-writer.ts";
import { BoxError } from "../../errors.ts";
import { decompress } from "../../image/compression.ts";
import { readTar } from "../../image/tar.ts";
import { writeTar, type TarWriterEntry } from "../../image/tar-writer.ts";
import { ContainerConfigSchema, type ContainerConfig } from "../../schema/container.ts";
import type { ContainerRecord } from "../../state/containers.ts";
import { checkpointDirs } from "./layout.ts";
import { parseManifest, type CheckpointManifest } from "./manifest.ts";

export const MANIFEST_ENTRY = "checkpoint.json";
export const CONFIG_ENTRY = "config.dump";
export const ROOTFS_DIFF_ENTRY = "rootfs-diff.tar";
export const IMAGES_DIR = "checkpoint";

const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const MAX_JSON = 1 << 20;

function gzipped(file: string): boolean {
  return file.endsWith(".gz") || file.endsWith(".tgz");
}

function* archiveEntries(r: ContainerRecord, manifest: CheckpointManifest, rootfsDiff: string): Generator<TarWriterEntry> {
  const images = checkpointDirs(r.dirs).images;
  yield { name: MANIFEST_ENTRY, type: "file", mode: 0o600, body: JSON.stringify(manifest, null, 2) };
  yield { name: CONFIG_ENTRY, type: "file", mode: 0o600, body: JSON.stringify(r.config, null, 2) };
  yield { name: IMAGES_DIR, type: "directory", mode: 0o700 };
  for (const name of readdirSync(images).sort()) {
    const p = join(images, name);
    const st = statSync(p);
    if (!st.isFile()) continue;
    yield { name: `${IMAGES_DIR}/${name}`, type: "file", mode: 0o600, body: { size: st.size, stream: Bun.file(p).stream() } };
  }
  yield { name: ROOTFS_DIFF_ENTRY, type: "file", mode: 0o600, body: { size: statSync(rootfsDiff).size, stream: Bun.file(rootfsDiff).stream() } };
}

/** Checked before criu runs: a typo in --export must not cost the container its process. */
export function checkExportTarget(file: string): void {
  const dir = dirname(resolve(file));
  let ok = false;
  try {
    ok = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!ok) throw new BoxError("E_INVALID_INPUT", `--export: directory \`${dir}\` does not exist`, { hint: "create it first, or export to another path" });
  if (existsSync(file) && statSync(file).isDirectory()) {
    throw new BoxError("E_INVALID_INPUT", `--export: \`${file}\` is a directory`, { hint: "give the path of the archive file to write" });
  }
}

/** Write the archive to `file` through a temporary name: a failure never leaves half of one. */
export async function writeCheckpointArchive(file: string, r: ContainerRecord, manifest: CheckpointManifest): Promise<void> {
  const cp = checkpointDirs(r.dirs);
  // The layer tar's size must be known before its tar header is written: spool it first.
  const rootfsDiff = join(cp.root, ROOTFS_DIFF_ENTRY);
  const tmp = `${file}.tmp-${process.pid}`;
  checkExportTarget(file);
  try {
    await Bun.write(rootfsDiff, new Response(writeTar(layerEntries(r.dirs.upper, {}, { files: 0, bytes: 0 }))));
    let stream = writeTar(archiveEntries(r, manifest, rootfsDiff));
    if (gzipped(file)) stream = stream.pipeThrough(new CompressionStream("gzip") as ReadableWritablePair<Uint8Array, Uint8Array>);
    await Bun.write(tmp, new Response(stream));
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    if (e instanceof BoxError) throw e;
    throw new BoxError("E_SYSCALL", `write checkpoint archive \`${file}\`: ${(e as Error).message}`, { cause: e, hint: "check that the directory exists and has room" });
  } finally {
    rmSync(rootfsDiff, { force: true });
  }
}

export interface ImportedCheckpoint {
  manifest: CheckpointManifest;
  config: ContainerConfig;
  /** criu's images, extracted. */
  images: string;
  rootfsDiff: string;
}

class ArchiveContentError extends BoxError {}

function parseConfig(bytes: Uint8Array, file: string): ContainerConfig {
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ArchiveContentError("E_INVALID_INPUT", `checkpoint archive \`${file}\`: ${CONFIG_ENTRY} is not JSON`);
  }
  const r = v.safeParse(ContainerConfigSchema, data);
  if (!r.success) {
    throw new ArchiveContentError("E_INVALID_INPUT", `checkpoint archive \`${file}\`: ${CONFIG_ENTRY} is invalid: ${v.summarize(r.issues).replace(/\n/g, "; ")}`);
  }
  return r.output;
}

/** Extract and validate `file` into `dest` (which must not exist yet). */
export async function readCheckpointArchive(file: string, dest: string): Promise<ImportedCheckpoint> {
  if (!existsSync(file)) {
    throw new BoxError("E_NOT_FOUND", `checkpoint archive \`${file}\` does not exist`, { hint: "give the file written by box container checkpoint --export" });
  }
  const images = join(dest, IMAGES_DIR);
  const rootfsDiff = join(dest, ROOTFS_DIFF_ENTRY);
  mkdirSync(images, { recursive: true, mode: 0o700 });
  let manifest: CheckpointManifest | undefined;
  let config: ContainerConfig | undefined;
  let haveDiff = false;
  let imageFiles = 0;
  try {
    const { stream } = await decompress(Bun.file(file).stream());
    for await (const e of readTar(stream)) {
      const name = e.header.name.replace(/^\.\//, "").replace(/\/$/, "");
      if (e.header.type === "directory" && (name === IMAGES_DIR || name === "" || name === ".")) continue;
      const image = name.startsWith(`${IMAGES_DIR}/`) ? name.slice(IMAGES_DIR.length + 1) : undefined;
      const known = name === MANIFEST_ENTRY || name === CONFIG_ENTRY || name === ROOTFS_DIFF_ENTRY || (image !== undefined && IMAGE_NAME.test(image));
      if (!known || e.header.type !== "file") {
        throw new ArchiveContentError("E_INVALID_INPUT", `checkpoint archive \`${file}\` holds an unexpected entry \`${e.header.name}\``, {
          hint: "only archives written by box container checkpoint --export can be restored",
        });
      }
      if (name === MANIFEST_ENTRY || name === CONFIG_ENTRY) {
        if (e.header.size > MAX_JSON) throw new ArchiveContentError("E_INVALID_INPUT", `checkpoint archive \`${file}\`: ${name} is too large`);
        const bytes = await e.bytes();
        if (name === CONFIG_ENTRY) config = parseConfig(bytes, file);
        else {
          let data: unknown;
          try {
            data = JSON.parse(new TextDecoder().decode(bytes));
          } catch {
            throw new ArchiveContentError("E_INVALID_INPUT", `checkpoint archive \`${file}\`: ${MANIFEST_ENTRY} is not JSON`);
          }
          manifest = parseManifest(data, `checkpoint archive \`${file}\`: ${MANIFEST_ENTRY}`);
        }
        continue;
      }
      const target = image !== undefined ? join(images, image) : rootfsDiff;
      const fd = openSync(target, "wx", 0o600);
      try {
        for await (const chunk of e.body()) writeSync(fd, chunk);
      } finally {
        closeSync(fd);
      }
      if (image !== undefined) imageFiles++;
      else haveDiff = true;
    }
  } catch (e) {
    if (e instanceof ArchiveContentError) throw e;
    // The cause (the tar or gzip reader's own message) is rendered after this line's text.
    throw new BoxError("E_INVALID_INPUT", `checkpoint archive \`${file}\` is damaged`, { cause: e, hint: "export the checkpoint again" });
  }
  const missing = [!manifest && MANIFEST_ENTRY, !config && CONFIG_ENTRY, !haveDiff && ROOTFS_DIFF_ENTRY, imageFiles === 0 && `${IMAGES_DIR}/`].filter(Boolean);
  if (!manifest || !config || missing.length > 0) {
    throw new BoxError("E_INVALID_INPUT", `checkpoint archive \`${file}\` is incomplete: it has no ${missing.join(", ")}`, {
      hint: "only archives written by box container checkpoint --export can be restored",
    });
  }
  return { manifest, config, images, rootfsDiff };
}
