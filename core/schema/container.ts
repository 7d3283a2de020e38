/**
 * The files box keeps per container, as valibot schemas: read back by every command, so a file
 * damaged by hand or by an older box is reported, never trusted.
 */
import * as v from "valibot";

const strings = v.array(v.string());

/** A block device's throttle as given (`--device-read-bps PATH:RATE`); its major:minor is looked up when applied. */
const DeviceRateSchema = v.object({ path: v.string(), rate: v.number() });

/** Resource limits in docker's units: bytes, CPUs ×1e9 (docker's NanoCpus), relative weights. */
export const ResourcesSchema = v.object({
  memory: v.optional(v.number()),
  /** memory + swap, in bytes; -1 for unlimited swap (docker's --memory-swap). */
  memorySwap: v.optional(v.number()),
  memoryReservation: v.optional(v.number()),
  nanoCpus: v.optional(v.number()),
  cpuShares: v.optional(v.number()),
  cpusetCpus: v.optional(v.string()),
  /** 0 or -1: unlimited. */
  pidsLimit: v.optional(v.number()),
  blkioWeight: v.optional(v.number()),
  deviceReadBps: v.optional(v.array(DeviceRateSchema)),
  deviceWriteBps: v.optional(v.array(DeviceRateSchema)),
});

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
  restart: v.optional(v.object({ name: v.picklist(["no", "on-failure", "always", "unless-stopped"]), maxRetries: v.number() })),
  resources: v.optional(ResourcesSchema),
  publish: v.optional(strings),
  publishAll: v.optional(v.boolean()),
  expose: v.optional(strings),
  addHosts: v.optional(strings),
  ip: v.optional(v.string()),
  ip6: v.optional(v.string()),
});

export const ImageRunConfigSchema = v.object({
  env: strings,
  cmd: strings,
  entrypoint: strings,
  workingDir: v.string(),
  user: v.string(),
  exposedPorts: v.optional(strings),
});

/** Written once at creation; lives with the writable layer so it survives a reboot. */
export const ContainerConfigSchema = v.object({
  id: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, "id must be 64 hex digits")),
  name: v.string(),
  created: v.string(),
  image: v.string(),
  /** The stored image's ID, so image removal knows the image is in use whatever it is named now. */
  imageId: v.optional(v.string()),
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
  /** The memory cgroup recorded an OOM kill while the container ran. */
  oomKilled: v.optional(v.boolean()),
  /** Restarts made by the restart policy since the user last started it. */
  restartCount: v.optional(v.number()),
  /** Set by stop/kill from the user: the restart policy leaves such a container stopped. */
  stoppedByUser: v.optional(v.boolean()),
  /** CRIU images of the process are kept in the container's checkpoint directory. */
  checkpointed: v.optional(v.boolean()),
  checkpointedAt: v.optional(v.string()),
  /** The running process came from `box container restore`, not from a fresh start. */
  restoredAt: v.optional(v.string()),
});

export type ContainerConfig = v.InferOutput<typeof ContainerConfigSchema>;
export type ContainerState = v.InferOutput<typeof ContainerStateSchema>;
export type Resources = v.InferOutput<typeof ResourcesSchema>;
export type DeviceRate = v.InferOutput<typeof DeviceRateSchema>;
export type RunOptionsRecord = v.InferOutput<typeof RunOptionsSchema>;
