/**
 * A container's fully resolved configuration: every name looked up, every path on the host
 * decided. The plan (plan.ts) turns it into shim operations; nothing after this point reads
 * user input.
 */
import type { ProcessCaps } from "./caps.ts";
import type { UserNamespaceMaps } from "./idmap.ts";
import type { SeccompChoice } from "./seccomp/index.ts";
import type { CgroupfsLayout } from "./cgroups/cgroupfs.ts";

export type NetworkMode = "none" | "host";

export interface ResolvedMount {
  type: "bind" | "tmpfs";
  /** Host path for binds; "tmpfs" for tmpfs. */
  source: string;
  /** Absolute path in the container. */
  target: string;
  readonly: boolean;
  /** Whether the bind source is a file (the mount point must be a file too). */
  file: boolean;
  /** tmpfs mount data, e.g. "mode=1777,size=64m". */
  data: string;
  exec: boolean;
}

export interface RootfsLayout {
  /** Read-only image layers, topmost first (overlay's lowerdir order). */
  lower: string[];
  upper: string;
  work: string;
  merged: string;
  /** Skip overlayfs' syncs: for containers whose layer is discarded at exit (--rm). */
  volatile: boolean;
}

export interface ContainerSpec {
  id: string;
  name: string;
  rootfs: RootfsLayout;
  readonly: boolean;
  mounts: ResolvedMount[];
  /** Host files bind-mounted over /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etc: { hostname: string; hosts: string; resolvConf: string };
  hostname: string;
  network: NetworkMode;
  /** Present for rootless runs: the user namespace and its maps. */
  userns?: UserNamespaceMaps;
  privileged: boolean;
  cgroupns: boolean;
  /** The host's cgroup hierarchies to show at /sys/fs/cgroup; none mounted when absent. */
  cgroupfs?: CgroupfsLayout;
  process: {
    args: string[];
    env: string[];
    cwd: string;
    uid: number;
    gid: number;
    groups: number[];
    caps: ProcessCaps;
    noNewPrivileges: boolean;
    /** The syscall filter, docker's default when absent; --privileged runs unconfined whatever
     * this says, as with docker. */
    seccomp?: SeccompChoice;
    tty?: { rows: number; cols: number };
    /** Keep stdin attached (-i); otherwise the container reads /dev/null. */
    interactive: boolean;
    init: boolean;
  };
}
