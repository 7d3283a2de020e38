/**
 * The files box keeps per container, as valibot schemas: read back by every command, so a file
 * damaged by hand or by an older box is reported, never trusted.
 */
import * as v from "valibot";

const strings = v.array(v.string());

export const RunOptionsSchema = v.object({
  command: strings,
  entrypoint: v.optional(v.string()),
  name: v.optional(v.string()),
  hostname: v.optional(v.string()),
  env: strings,
  envFiles: strings,
  workdir: v.optional(v.string()),
  user: v.optional(v.string()),
  readOnly: v.boolean(),
  readOnlyTmpfs: v.boolean(),
  volumes: strings,
  tmpfs: strings,
  mounts: strings,
  network: v.string(),
  dns: strings,
  cgroups: v.optional(v.string()),
  rm: v.boolean(),
  interactive: v.boolean(),
  tty: v.optional(v.object({ rows: v.number(), cols: v.number() })),
  init: v.boolean(),
  privileged: v.boolean(),
  capAdd: strings,
  capDrop: strings,
  securityOpt: strings,
  detach: v.optional(v.boolean()),
});

export const ImageRunConfigSchema = v.object({
  env: strings,
  cmd: strings,
  entrypoint: strings,
  workingDir: v.string(),
  user: v.string(),
});

/** Written once at creation; lives with the writable layer so it survives a reboot. */
export const ContainerConfigSchema = v.object({
  id: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "id must be 64 hex digits")),
  name: v.string(),
  created: v.string(),
  image: v.string(),
  layers: strings,
  imageConfig: ImageRunConfigSchema,
  options: RunOptionsSchema,
});

export const ContainerStatus = v.picklist(["created", "running", "paused", "exited"]);

/** Volatile: under the state root, rewritten at each transition. */
export const ContainerStateSchema = v.object({
  status: ContainerStatus,
  pid: v.optional(v.number()),
  /** Field 22 of /proc/PID/stat: tells our process from a later one with the same pid. */
  pidStartTime: v.optional(v.string()),
  shimPid: v.optional(v.number()),
  startedAt: v.optional(v.string()),
  finishedAt: v.optional(v.string()),
  exitCode: v.optional(v.number()),
});

export type ContainerConfig = v.InferOutput<typeof ContainerConfigSchema>;
export type ContainerState = v.InferOutput<typeof ContainerStateSchema>;
export type RunOptionsRecord = v.InferOutput<typeof RunOptionsSchema>;
