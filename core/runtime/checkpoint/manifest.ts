/**
 * checkpoint.json: what a restore needs that criu's images do not hold — where the container's
 * stdio pointed (criu must be handed new pipes for the old ones), which mounts were binds from
 * the host (criu records them as external and must be told their new sources), the /etc files
 * box generated, and the image layers the root filesystem was made of.
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { BoxError } from "../../errors.ts";

export const CHECKPOINT_FORMAT = 1;

export const CheckpointManifestSchema = v.object({
  format: v.literal(CHECKPOINT_FORMAT),
  created: v.string(),
  /** readlink of the container process's fds 0, 1 and 2 at dump time ("pipe:[123]", "/dev/null"). */
  descriptors: v.pipe(v.array(v.string()), v.length(3, "descriptors must list fds 0, 1 and 2")),
  /** Mount points (in the container) of bind mounts from the host, criu's external mount keys. */
  externalMounts: v.array(v.pipe(v.string(), v.startsWith("/", "external mounts are absolute container paths"))),
  etc: v.object({ hostname: v.string(), hosts: v.string(), resolvConf: v.string() }),
  /** Names of the image's layer directories, topmost first: the image must match on restore. */
  layerIds: v.array(v.string()),
  tcpEstablished: v.boolean(),
});

export type CheckpointManifest = v.InferOutput<typeof CheckpointManifestSchema>;

/** A layer's name in the store: its directory, the parent of the unpacked `diff/`. */
export function layerIdOf(layerPath: string): string {
  return layerPath.split("/").slice(-2, -1)[0] ?? layerPath;
}

export function parseManifest(data: unknown, where: string): CheckpointManifest {
  const r = v.safeParse(CheckpointManifestSchema, data);
  if (!r.success) {
    throw new BoxError("E_INVALID_INPUT", `${where} is invalid: ${v.summarize(r.issues).replace(/\n/g, "; ")}`, {
      hint: "it was not written by box container checkpoint, or it is damaged",
    });
  }
  return r.output;
}

export function readManifest(path: string): CheckpointManifest {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new BoxError("E_BAD_STATE", `checkpoint manifest \`${path}\` is missing or not JSON`, { cause: e, hint: "checkpoint the container again" });
  }
  return parseManifest(data, `checkpoint manifest \`${path}\``);
}
