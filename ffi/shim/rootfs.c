/* The container's root filesystem: mount targets resolved inside the root, mounts, pivot_root, masks. */
#include "shim.h"

/* ---- path resolution inside the root ---------------------------------------------------- */

/*
 * Mount targets inside the container's root are resolved with openat2(RESOLVE_IN_ROOT), and the
 * mount is made on /proc/self/fd/N: an image whose /dev is a symlink to / must not get box's
 * tmpfs mounted over the host's root (the class of runc CVE-2021-30465).
 */
int rootfd = -1;

int openat2_(int dirfd, const char *path, int flags, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Create the directories of `rel` inside the root (like mkdir -p) and return an O_PATH fd to it. */
int mkdir_in_root(const char *rel, mode_t mode) {
  char buf[4096];
  if (strlen(rel) >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(buf, rel);
  for (char *p = buf;; p++) {
    if (*p == '/' || *p == 0) {
      char saved = *p;
      *p = 0;
      if (buf[0]) {
        int fd = openat2_(rootfd, buf, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd < 0) {
          if (errno != ENOENT) return -1;
          /* Create the last component relative to its resolved parent. */
          char *slash = strrchr(buf, '/');
          int parent;
          const char *name;
          if (slash) {
            *slash = 0;
            parent = buf[0] ? openat2_(rootfd, buf, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
                            : dup(rootfd);
            *slash = '/';
            name = slash + 1;
          } else {
            parent = dup(rootfd);
            name = buf;
          }
          if (parent < 0) return -1;
          int r = mkdirat(parent, name, mode);
          close(parent);
          if (r < 0 && errno != EEXIST) return -1;
        } else {
          close(fd);
        }
      }
      *p = saved;
      if (saved == 0) break;
    }
  }
  return openat2_(rootfd, rel, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

/* Create an empty file at `rel` inside the root (a bind-mount target) and return an O_PATH fd. */
int mkfile_in_root(const char *rel) {
  int fd = openat2_(rootfd, rel, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return -1;
  char buf[4096];
  if (strlen(rel) >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(buf, rel);
  char *slash = strrchr(buf, '/');
  int parent;
  const char *name;
  if (slash) {
    *slash = 0;
    parent = mkdir_in_root(buf, 0755);
    name = slash + 1;
  } else {
    parent = dup(rootfd);
    name = buf;
  }
  if (parent < 0) return -1;
  int f = openat(parent, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  close(parent);
  if (f < 0 && errno != EEXIST) return -1;
  if (f >= 0) close(f);
  return openat2_(rootfd, rel, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

void fdpath(char *out, size_t n, int fd) { snprintf(out, n, "/proc/self/fd/%d", fd); }

/* ---- the child's operations --------------------------------------------------------------- */

/* Flags that a bind remount must keep, or the kernel refuses it inside a user namespace. */
unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  if (statvfs(path, &sv) < 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

void do_mount(const char *src, const char *rel, const char *fstype, unsigned long flags,
                     const char *data, const char *kind, int optional) {
  int fd = !strcmp(kind, "file") ? mkfile_in_root(rel) : mkdir_in_root(rel, 0755);
  if (fd < 0) {
    if (optional) return;
    child_fail(EXIT_ENGINE, errno, "create mount point `/%s`", rel);
  }
  char target[64];
  fdpath(target, sizeof target, fd);
  /* A bind mount ignores these flags on creation; they are applied by the remount below. */
  unsigned long base = (flags & MS_BIND) ? flags & ~(MS_REMOUNT | MS_RDONLY) : flags;
  if (mount(src, target, fstype, base, data[0] ? data : NULL) < 0) {
    int e = errno;
    close(fd);
    if (optional) return;
    child_fail(EXIT_ENGINE, e, "mount `%s` on `/%s`", src, rel);
  }
  /* A bind mount ignores MS_RDONLY and friends until it is remounted. */
  if ((flags & MS_BIND) && (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC))) {
    close(fd);
    fd = openat2_(rootfd, rel, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) child_fail(EXIT_ENGINE, errno, "open `/%s`", rel);
    fdpath(target, sizeof target, fd);
    unsigned long keep = locked_flags(target);
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | keep | (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REC)), NULL) < 0) {
      int e = errno;
      close(fd);
      if (optional) return;
      child_fail(EXIT_ENGINE, e, "remount `/%s` read-only", rel);
    }
  }
  close(fd);
}

/* Bring the loopback interface up in the fresh network namespace. */
void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(s, "socket for `lo`");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  CHECK(ioctl(s, SIOCGIFFLAGS, &ifr), "get flags of `lo`");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  CHECK(ioctl(s, SIOCSIFFLAGS, &ifr), "bring up `lo`");
  close(s);
}

/* pivot_root(".", ".") is valid and avoids a temporary directory (see runc's pivotRoot). */
void do_pivot(const char *newroot) {
  CHECK(chdir(newroot), "chdir `%s`", newroot);
  CHECK(syscall(SYS_pivot_root, ".", "."), "pivot_root `%s`", newroot);
  /* The old root is now stacked under the new one; make it private so that unmounting it
   * never propagates to the host, then detach it. */
  CHECK(mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL), "make old root private");
  CHECK(umount2(".", MNT_DETACH), "detach old root");
  CHECK(chdir("/"), "chdir `/`");
  if (rootfd >= 0) close(rootfd);
  rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  CHECK(rootfd, "open new root");
}

/* Hide a path: /dev/null over files, an empty read-only tmpfs over directories. */
void do_mask(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k") < 0)
      child_fail(EXIT_ENGINE, errno, "mask `%s`", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
    child_fail(EXIT_ENGINE, errno, "mask `%s`", path);
  }
}

void do_readonly(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return;
  CHECK(mount(path, path, NULL, MS_BIND | MS_REC, NULL), "bind `%s`", path);
  unsigned long keep = locked_flags(path);
  CHECK(mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL), "remount `%s` read-only", path);
}
