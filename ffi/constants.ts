/** Kernel constants box passes to the shim, with names for messages. */
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_REMOUNT = 32;
export const MS_NOATIME = 1024;
export const MS_BIND = 4096;
export const MS_REC = 16384;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_STRICTATIME = 1 << 24;

const MOUNT_FLAG_NAMES: [number, string][] = [
  [MS_RDONLY, "MS_RDONLY"], [MS_NOSUID, "MS_NOSUID"], [MS_NODEV, "MS_NODEV"], [MS_NOEXEC, "MS_NOEXEC"],
  [MS_REMOUNT, "MS_REMOUNT"], [MS_NOATIME, "MS_NOATIME"], [MS_BIND, "MS_BIND"], [MS_REC, "MS_REC"],
  [MS_PRIVATE, "MS_PRIVATE"], [MS_SLAVE, "MS_SLAVE"], [MS_STRICTATIME, "MS_STRICTATIME"],
];

export function mountFlagNames(flags: number): string {
  const names = MOUNT_FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);
  return names.join("|") || "0";
}

export const S_IFCHR = 0o020000;
