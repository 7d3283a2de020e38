/**
 * The container's setup as an ordered list of shim operations. All policy lives here (what is
 * mounted where, with which flags, what is masked), so it can be read and unit-tested as data;
 * ffi/shim/ only carries it out.
 */
import {
  CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS,
  MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_STRICTATIME, S_IFCHR,
} from "../../ffi/constants.ts";
import type { ShimOp, ShimPlan } from "../../ffi/shim-protocol.ts";
import { capNames } from "./caps.ts";
import { helperArgs, isMapped, mapText } from "./idmap.ts";
import { seccompFilter } from "./seccomp/index.ts";
import { mark } from "../trace.ts";
import type { ContainerSpec, ResolvedMount } from "./spec.ts";
import { CGROUP_ROOT } from "./cgroups/cgroupfs.ts";

/** What docker and podman hide from /proc and /sys (moby's oci/defaults.go). */
export const MASKED_PATHS = [
  "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

const DEVICES: { name: string; major: number; minor: number }[] = [
  { name: "null", major: 1, minor: 3 },
  { name: "zero", major: 1, minor: 5 },
  { name: "full", major: 1, minor: 7 },
  { name: "random", major: 1, minor: 8 },
  { name: "urandom", major: 1, minor: 9 },
  { name: "tty", major: 5, minor: 0 },
];

/** Relative form for RESOLVE_IN_ROOT targets. */
function rel(p: string): string {
  return p.replace(/^\/+/, "");
}

/** Overlay lowerdir with the characters overlayfs treats specially escaped. */
function overlayPath(p: string): string {
  return p.replace(/\\/g, "\\\\").replace(/,/g, "\\,").replace(/:/g, "\\:");
}

export function overlayData(spec: ContainerSpec): string {
  const r = spec.rootfs;
  const opts = [
    `lowerdir=${r.lower.map(overlayPath).join(":")}`,
    `upperdir=${overlayPath(r.upper)}`,
    `workdir=${overlayPath(r.work)}`,
  ];
  // Inside a user namespace overlayfs may not use trusted.* xattrs; userxattr switches it to
  // user.overlay.* (kernel >= 5.11).
  if (spec.userns) opts.push("userxattr");
  // A container removed at exit never needs its writes on disk: without `volatile` the unmount
  // at exit syncs the whole upper file system, measured at 20-400 ms on this ext4.
  if (spec.rootfs.volatile) opts.push("volatile");
  return opts.join(",");
}

function devOps(spec: ContainerSpec): ShimOp[] {
  const ops: ShimOp[] = [
    { op: "mount", source: "tmpfs", target: "dev", fstype: "tmpfs", flags: MS_NOSUID | MS_STRICTATIME, data: "mode=755,size=65536k", kind: "dir", optional: false },
  ];
  for (const d of DEVICES) {
    if (spec.userns) {
      // mknod is refused in a user namespace; bind the host's node instead, as podman does.
      ops.push({ op: "mount", source: `/dev/${d.name}`, target: `dev/${d.name}`, fstype: "", flags: MS_BIND, data: "", kind: "file", optional: false });
    } else {
      ops.push({ op: "mknod", path: `dev/${d.name}`, mode: S_IFCHR | 0o666, major: d.major, minor: d.minor });
    }
  }
  // The tty group (gid 5) can own pts devices only when it exists in the namespace.
  const ttyGid = !spec.userns || isMapped(spec.userns.gidRanges, 5) ? ",gid=5" : "";
  ops.push(
    { op: "mount", source: "devpts", target: "dev/pts", fstype: "devpts", flags: MS_NOSUID | MS_NOEXEC, data: `newinstance,ptmxmode=0666,mode=0620${ttyGid}`, kind: "dir", optional: false },
    { op: "symlink", target: "pts/ptmx", path: "dev/ptmx" },
    { op: "mount", source: "shm", target: "dev/shm", fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: "mode=1777,size=65536k", kind: "dir", optional: false },
    { op: "mount", source: "mqueue", target: "dev/mqueue", fstype: "mqueue", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: "", kind: "dir", optional: false },
    { op: "symlink", target: "/proc/self/fd", path: "dev/fd" },
    { op: "symlink", target: "/proc/self/fd/0", path: "dev/stdin" },
    { op: "symlink", target: "/proc/self/fd/1", path: "dev/stdout" },
    { op: "symlink", target: "/proc/self/fd/2", path: "dev/stderr" },
    { op: "symlink", target: "/proc/kcore", path: "dev/core" },
  );
  return ops;
}

function sysOp(spec: ContainerSpec): ShimOp {
  const flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (spec.privileged ? 0 : MS_RDONLY);
  // sysfs can be mounted only by the owner of the network namespace; a rootless container on
  // the host's network binds the host's /sys instead (podman does the same).
  if (spec.userns && spec.network === "host") {
    return { op: "mount", source: "/sys", target: "sys", fstype: "", flags: MS_BIND | MS_REC | flags, data: "", kind: "dir", optional: false };
  }
  return { op: "mount", source: "sysfs", target: "sys", fstype: "sysfs", flags, data: "", kind: "dir", optional: false };
}

/**
 * /sys/fs/cgroup as docker lays it out: each hierarchy mounted anew, read-only unless privileged,
 * inside the container's cgroup namespace (so its own group is the root it sees), on a tmpfs made
 * read-only after the pivot (cgroupTmpfsReadonly). v1 hierarchies cannot be mounted from a user namespace: a rootless
 * container binds the host's tree instead, as podman's do.
 */
function cgroupOps(spec: ContainerSpec): ShimOp[] {
  const layout = spec.cgroupfs;
  if (!layout) return [];
  const rel = CGROUP_ROOT.slice(1);
  const flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (spec.privileged ? 0 : MS_RDONLY);
  if (spec.userns) {
    // With the host's network, /sys itself is the host's, cgroups included (sysOp).
    if (spec.network === "host") return [];
    return [{ op: "mount", source: CGROUP_ROOT, target: rel, fstype: "", flags: MS_BIND | MS_REC | flags, data: "", kind: "dir", optional: true }];
  }
  if (layout.unified) return [{ op: "mount", source: "cgroup2", target: rel, fstype: "cgroup2", flags, data: "", kind: "dir", optional: false }];
  if (layout.mounts.length === 0) return [];
  const ops: ShimOp[] = [
    { op: "mount", source: "tmpfs", target: rel, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: "mode=755,size=64k", kind: "dir", optional: false },
  ];
  for (const m of layout.mounts) ops.push({ op: "mount", source: "cgroup", target: `${rel}/${m.name}`, fstype: m.fstype, flags, data: m.data, kind: "dir", optional: false });
  for (const l of layout.links) ops.push({ op: "symlink", target: l.target, path: `${rel}/${l.name}` });
  return ops;
}

function cgroupTmpfsReadonly(spec: ContainerSpec): boolean {
  const layout = spec.cgroupfs;
  return !spec.privileged && !spec.userns && layout !== undefined && !layout.unified && layout.mounts.length > 0;
}

function userMountOp(m: ResolvedMount): ShimOp {
  if (m.type === "tmpfs") {
    const flags = MS_NOSUID | MS_NODEV | (m.exec ? 0 : MS_NOEXEC) | (m.readonly ? MS_RDONLY : 0);
    return { op: "mount", source: "tmpfs", target: rel(m.target), fstype: "tmpfs", flags, data: m.data, kind: "dir", optional: false };
  }
  return {
    op: "mount", source: m.source, target: rel(m.target), fstype: "", flags: MS_BIND | MS_REC | (m.readonly ? MS_RDONLY : 0),
    data: "", kind: m.file ? "file" : "dir", optional: false,
  };
}

export function buildPlan(spec: ContainerSpec): ShimPlan {
  let cloneFlags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (spec.network !== "host") cloneFlags |= CLONE_NEWNET;
  if (spec.userns) cloneFlags |= CLONE_NEWUSER;

  const header: ShimPlan["header"] = {
    cloneFlags,
    cgroupns: spec.cgroupns,
    stdinNull: !spec.process.interactive,
    // With a terminal on stdin the shim must stay in the foreground process group to read it;
    // otherwise it leaves box's group so a Ctrl-C reaches the container once, through box.
    ownProcessGroup: !spec.process.tty && !spec.process.interactive,
    init: spec.process.init,
  };
  if (spec.process.tty) header.tty = spec.process.tty;
  if (spec.userns) {
    if (spec.userns.kind === "subid") {
      header.newuidmap = helperArgs(spec.userns.uidRanges);
      header.newgidmap = helperArgs(spec.userns.gidRanges);
    } else {
      header.uidMap = mapText(spec.userns.uidRanges);
      header.setgroups = "deny";
      header.gidMap = mapText(spec.userns.gidRanges);
    }
  }

  const root = spec.rootfs.merged;
  const ops: ShimOp[] = [
    // Nothing done below may propagate back to the host's mount table.
    { op: "mount-private" },
    { op: "mount-host", source: "overlay", target: root, fstype: "overlay", flags: 0, data: overlayData(spec) },
    { op: "root", path: root },
    { op: "mount", source: "proc", target: "proc", fstype: "proc", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: "", kind: "dir", optional: false },
    sysOp(spec),
    ...cgroupOps(spec),
    ...devOps(spec),
    { op: "mount", source: spec.etc.hostname, target: "etc/hostname", fstype: "", flags: MS_BIND, data: "", kind: "file", optional: false },
    { op: "mount", source: spec.etc.hosts, target: "etc/hosts", fstype: "", flags: MS_BIND, data: "", kind: "file", optional: false },
    { op: "mount", source: spec.etc.resolvConf, target: "etc/resolv.conf", fstype: "", flags: MS_BIND, data: "", kind: "file", optional: false },
  ];
  // Parents before children, so /data/sub is not hidden by a later mount of /data.
  const userMounts = [...spec.mounts].sort((a, b) => a.target.split("/").length - b.target.split("/").length);
  for (const m of userMounts) ops.push(userMountOp(m));
  if (spec.readonly) ops.push({ op: "remount-ro", path: root });
  ops.push({ op: "pivot", path: root });
  // Resolved in the container's root now, whatever its /sys leads to.
  if (cgroupTmpfsReadonly(spec)) ops.push({ op: "remount-ro", path: CGROUP_ROOT });
  if (!spec.privileged) {
    for (const p of MASKED_PATHS) ops.push({ op: "mask", path: p });
    for (const p of READONLY_PATHS) ops.push({ op: "readonly", path: p });
  }
  ops.push({ op: "hostname", name: spec.hostname });
  if (spec.network !== "host") ops.push({ op: "lo" });
  if (spec.process.tty) ops.push({ op: "pty" });
  ops.push({ op: "chdir", path: spec.process.cwd });
  const p = spec.process;
  ops.push(
    { op: "caps", ...p.caps },
    { op: "groups", gids: p.groups },
    { op: "user", uid: p.uid, gid: p.gid },
  );
  if (p.noNewPrivileges) ops.push({ op: "nnp" });
  // Compiled for the capabilities the container keeps: docker's profile opens mount, unshare,
  // ptrace... to a container granted the capability that governs them.
  mark("plan: compiling the seccomp filter");
  const filter = spec.privileged ? undefined : seccompFilter(p.seccomp ?? { kind: "default" }, capNames(p.caps.bounding));
  mark("plan: seccomp filter compiled");
  if (filter) ops.push({ op: "seccomp", program: filter });
  for (const a of p.args) ops.push({ op: "arg", value: a });
  for (const e of p.env) ops.push({ op: "env", value: e });
  ops.push({ op: "exec", file: p.args[0] as string });
  return { header, ops };
}
