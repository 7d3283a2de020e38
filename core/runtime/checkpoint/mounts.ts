/**
 * The container's bind mounts from the host, which criu cannot dump (their sources are outside
 * the container) and records as external, keyed by their mount point: the three /etc files box
 * generates and the user's -v/--mount binds. On restore each key is given its new host source.
 */
import type { BoxPaths } from "../../paths.ts";
import type { ContainerDirs } from "../container-dirs.ts";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from "../mounts.ts";
import { resolveMounts } from "../options.ts";
import type { ContainerConfig } from "../../schema/container.ts";

const ETC = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] as const;

function userMounts(config: ContainerConfig) {
  const o = config.options;
  return [...o.volumes.map(parseVolumeFlag), ...o.tmpfs.map(parseTmpfsFlag), ...o.mounts.map(parseMountFlag)];
}

/** Mount points of the binds criu must treat as external (dump side). */
export function externalMountPoints(config: ContainerConfig): string[] {
  const binds = userMounts(config).filter((m) => m.type !== "tmpfs").map((m) => m.target);
  return [...ETC, ...binds];
}

/** Mount point -> host source for this container now (restore side); creates named volumes. */
export function externalMountSources(paths: BoxPaths, config: ContainerConfig, dirs: ContainerDirs): Map<string, string> {
  const o = config.options;
  const out = new Map<string, string>([
    ["/etc/hostname", dirs.hostname],
    ["/etc/hosts", dirs.hosts],
    ["/etc/resolv.conf", dirs.resolvConf],
  ]);
  for (const m of resolveMounts(paths, userMounts(config), o.readOnly, o.readOnlyTmpfs)) {
    if (m.type === "bind") out.set(m.target, m.source);
  }
  return out;
}
