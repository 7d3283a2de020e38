/**
 * `box update`: merge new limits into a container's, write them to its groups while it runs (the
 * same files `box run` writes), and keep them in its configuration for its next start.
 */
import type { BoxPaths } from "../paths.ts";
import type { Resources } from "../schema/container.ts";
import { saveConfig, type ContainerRecord } from "../state/containers.ts";
import { cgroupDirsOf } from "./cgroups.ts";
import { isRunning } from "./lifecycle.ts";
import { applyResources, refuseLimits, validateResources } from "./resources.ts";

export function updateResources(paths: BoxPaths, rec: ContainerRecord, changes: Resources): Resources {
  const o = rec.config.options;
  if (paths.rootless) refuseLimits(changes, "rootless");
  if (o.cgroups === "disabled") refuseLimits(changes, "disabled");
  // A --memory-swap never given stays unset and so keeps following --memory (docker's default
  // of as much swap as memory): a raised --memory never collides with an implied total.
  const merged: Resources = { ...o.resources, ...changes };
  validateResources(merged);
  if (isRunning(rec)) applyResources(cgroupDirsOf(rec.config.id), merged);
  saveConfig(rec.dirs, { ...rec.config, options: { ...o, resources: merged } });
  return merged;
}
