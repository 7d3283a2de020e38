/*
 * box-shim: the single-threaded stage between box (a multi-threaded Bun process) and the
 * container's first process. The kernel refuses unshare(CLONE_NEWUSER) and setns() into a mount
 * or user namespace from a multi-threaded process, and no JavaScript may run in a forked copy of
 * Bun, so everything from clone() to execve() happens here, in C, the way runc's nsexec does it.
 *
 * The shim holds no policy. box computes a plan (ffi/plan.ts writes it, core/runtime/plan.ts
 * decides it) and the shim interprets it: a header that configures the clone, then a list of
 * operations the child runs in order inside the new namespaces. An operation that fails reports
 * its index, errno and a message back to box over fd 3, so box can say which mount or which
 * exec failed instead of printing a bare exit status.
 *
 * Process layout:  box (Bun) -> shim (this file, outside the namespaces, the "monitor")
 *                                 -> child (cloned into the namespaces; PID 1 unless --init)
 *                                      -> with --init: the command, and the child reaps.
 * The monitor writes the id maps and cgroup membership, relays the TTY, forwards signals, and
 * exits with the container's status (128+N for a signal), which box passes on.
 *
 * Plan format: a sequence of NUL-terminated fields. Every record starts with an opcode field;
 * each opcode has a fixed number of argument fields (see OPS below). Numbers are decimal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <net/if.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* The few kernel ABI definitions the shim needs, spelled out so it builds against musl (small
 * and fast to exec) as well as glibc, without the kernel's uapi headers. */
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER 0x5441
#endif
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10
struct open_how {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
#define CAP_VERSION_3 0x20080522
struct cap_header {
  uint32_t version;
  int pid;
};
struct cap_data {
  uint32_t effective;
  uint32_t permitted;
  uint32_t inheritable;
};

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define STATUS_FD 3
#define MAX_PLAN (4 << 20)
#define MAX_ARGS 4096
#define MAX_CGROUPS 32

/* Exit codes follow docker: 125 the engine failed, 126 cannot execute, 127 not found. */
enum { EXIT_ENGINE = 125, EXIT_CANNOT_EXEC = 126, EXIT_NOT_FOUND = 127 };

static char plan[MAX_PLAN];
static size_t plan_len;

/* Header settings, read by the monitor before clone. */
static unsigned long clone_flags;
static int want_cgroupns;
static const char *uid_map, *gid_map, *setgroups_mode;
static const char *newuidmap_args, *newgidmap_args;
static const char *cgroup_procs[MAX_CGROUPS];
static int n_cgroups;
static int use_tty, tty_rows, tty_cols;
static int stdin_null;
static int own_pgrp;
/* Detached (-d): the shim outlives box, writes the container's output to a log file and its
 * exit status to a file, then runs an exit command (box's cleanup), as conmon does. */
static int detach;
static const char *log_path, *exit_path;
static char *exit_cmd[64];
static int exit_cmd_n;
static int out_pipe[2] = {-1, -1}, errout_pipe[2] = {-1, -1};
static int use_init;
/* exec: join the namespaces of a running container (its PID 1 is join_pid) instead of
 * creating new ones; the namespaces are listed by their /proc/PID/ns names. */
static long join_pid = -1;
/* hold: stop between the clone and the container's first instruction, report "created PID",
 * and wait for box's "G" message: the window in which box sets up what needs the process to
 * exist (a veth moved into its network namespace, cgroup limits), the OCI create/start split. */
static int hold;
static const char *join_list;
static int ns_fds[8];
static int ns_types[8];
static int n_ns;
static const char *ops_start;

/* Pipes between monitor and child. */
static int go_pipe[2] = {-1, -1};   /* monitor -> child: ids mapped, cgroups joined */
static int err_pipe[2] = {-1, -1};  /* child -> monitor: failure report; EOF on exec */
static int tty_sock[2] = {-1, -1};  /* child -> monitor: the pty master, by SCM_RIGHTS */

static int status_ok = 0;

static void status_write(const char *fmt, ...) {
  if (!status_ok) return;
  char buf[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
  ssize_t w;
  do w = write(STATUS_FD, buf, n); while (w < 0 && errno == EINTR);
}

/* ---- failure reporting from the child ------------------------------------------------ */

static int op_index = -1;

/* Report "<kind> <op-index> <errno> <message>" and exit; kind picks the exit code. */
__attribute__((noreturn)) static void child_fail(int code, int err, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char buf[4200];
  int n = snprintf(buf, sizeof buf, "%d %d %d %s", code, op_index, err, msg);
  if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
  if (err_pipe[1] >= 0) {
    ssize_t w;
    do w = write(err_pipe[1], buf, n); while (w < 0 && errno == EINTR);
  }
  _exit(code);
}

#define CHECK(expr, ...)                                   \
  do {                                                     \
    if ((expr) < 0) child_fail(EXIT_ENGINE, errno, __VA_ARGS__); \
  } while (0)

/* ---- plan parsing --------------------------------------------------------------------- */

static const char *cursor;

static const char *next_field(void) {
  if (cursor >= plan + plan_len) return NULL;
  const char *f = cursor;
  cursor += strlen(f) + 1;
  return f;
}

static const char *field(void) {
  const char *f = next_field();
  if (!f) child_fail(EXIT_ENGINE, EINVAL, "plan: truncated record");
  return f;
}

static long num(const char *s) { return strtol(s, NULL, 0); }

/*
 * box talks to the shim over fd 3 (a socket) in messages "<kind> <length>\n<payload>":
 *   C  cgroups to join now: pairs of NUL-terminated paths, "<container cgroup.procs>" then
 *      "<box's own cgroup.procs>" in the same hierarchy.
 *   P  the plan.
 * box starts the shim before it has finished preparing the container, so the shim's exec and
 * the kernel's slow first cgroup migration (an RCU grace period on cgroup v1, ~14 ms measured)
 * overlap with box's own work instead of adding to it.
 */
static char cgroup_msg[64 << 10];
static const char *cgroup_back[MAX_CGROUPS];

static int read_full(int fd, char *buf, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t r = read(fd, buf + off, n - off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      poll(&p, 1, -1);
      continue;
    }
    if (r <= 0) {
      if (r == 0) errno = EPIPE;
      return -1;
    }
    off += r;
  }
  return 0;
}

/* Read one message header; returns its kind, or 0 at end of input. */
static char read_message(size_t *len) {
  char line[32];
  size_t n = 0;
  while (n < sizeof line - 1) {
    if (read_full(STATUS_FD, line + n, 1) < 0) return 0;
    if (line[n] == '\n') break;
    n++;
  }
  line[n] = 0;
  if (n < 3 || line[1] != ' ') return 0;
  *len = strtoul(line + 2, NULL, 10);
  return line[0];
}

/* Move this process into the container's cgroups; the clone below is then born in them. */
static int join_cgroups(size_t len) {
  char pidtxt[16];
  snprintf(pidtxt, sizeof pidtxt, "%d", getpid());
  const char *p = cgroup_msg;
  while (p < cgroup_msg + len && n_cgroups < MAX_CGROUPS) {
    const char *target = p;
    p += strlen(p) + 1;
    if (p >= cgroup_msg + len) break;
    cgroup_back[n_cgroups] = p;
    cgroup_procs[n_cgroups++] = target;
    p += strlen(p) + 1;
    int fd = open(target, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pidtxt, strlen(pidtxt)) < 0) {
      int e = errno;
      if (fd >= 0) close(fd);
      errno = e;
      return -1;
    }
    close(fd);
  }
  return 0;
}

/* After the clone the monitor returns to box's cgroups: it must not count against the
 * container's pids limit or memory. This write is cheap: it follows the first within the
 * kernel's grace-period window. */
static void leave_cgroups(void) {
  char pidtxt[16];
  snprintf(pidtxt, sizeof pidtxt, "%d", getpid());
  for (int i = 0; i < n_cgroups; i++) {
    int fd = open(cgroup_back[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t w = write(fd, pidtxt, strlen(pidtxt));
    (void)w;
    close(fd);
  }
}

static int receive_plan(void) {
  for (;;) {
    size_t len = 0;
    char kind = read_message(&len);
    if (kind == 'C') {
      if (len >= sizeof cgroup_msg || read_full(STATUS_FD, cgroup_msg, len) < 0) return -1;
      cgroup_msg[len] = 0;
      if (join_cgroups(len) < 0) {
        int e = errno;
        status_write("error %d -1 %d join cgroup `%s`\n", EXIT_ENGINE, e, cgroup_procs[n_cgroups - 1]);
        errno = e;
        return -2;
      }
    } else if (kind == 'P') {
      if (len >= MAX_PLAN || read_full(STATUS_FD, plan, len) < 0) return -1;
      plan[len] = 0;
      plan_len = len;
      return 0;
    } else {
      errno = EPIPE;
      return -1;
    }
  }
}

/* The header ends at the "ops" record; what follows is the child's program. */
static int parse_header(void) {
  cursor = plan;
  const char *op;
  while ((op = next_field())) {
    if (!strcmp(op, "clone")) clone_flags = strtoul(field(), NULL, 0);
    else if (!strcmp(op, "cgroupns")) want_cgroupns = 1;
    else if (!strcmp(op, "uidmap")) uid_map = field();
    else if (!strcmp(op, "gidmap")) gid_map = field();
    else if (!strcmp(op, "setgroups")) setgroups_mode = field();
    else if (!strcmp(op, "newuidmap")) newuidmap_args = field();
    else if (!strcmp(op, "newgidmap")) newgidmap_args = field();
    else if (!strcmp(op, "tty")) {
      use_tty = 1;
      tty_rows = num(field());
      tty_cols = num(field());
    } else if (!strcmp(op, "stdin-null")) stdin_null = 1;
    else if (!strcmp(op, "own-pgrp")) own_pgrp = 1;
    else if (!strcmp(op, "init")) use_init = 1;
    else if (!strcmp(op, "detach")) detach = 1;
    else if (!strcmp(op, "hold")) hold = 1;
    else if (!strcmp(op, "join")) {
      join_pid = num(field());
      join_list = field();
    }
    else if (!strcmp(op, "log")) log_path = field();
    else if (!strcmp(op, "exitfile")) exit_path = field();
    else if (!strcmp(op, "exitcmd")) {
      if (exit_cmd_n < 63) exit_cmd[exit_cmd_n++] = (char *)field();
    }
    else if (!strcmp(op, "ops")) {
      ops_start = cursor;
      return 0;
    } else {
      errno = EINVAL;
      return -1;
    }
  }
  errno = EINVAL;
  return -1;
}

/* ---- path resolution inside the root ---------------------------------------------------- */

/*
 * Mount targets inside the container's root are resolved with openat2(RESOLVE_IN_ROOT), and the
 * mount is made on /proc/self/fd/N: an image whose /dev is a symlink to / must not get box's
 * tmpfs mounted over the host's root (the class of runc CVE-2021-30465).
 */
static int rootfd = -1;

static int openat2_(int dirfd, const char *path, int flags, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Create the directories of `rel` inside the root (like mkdir -p) and return an O_PATH fd to it. */
static int mkdir_in_root(const char *rel, mode_t mode) {
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
static int mkfile_in_root(const char *rel) {
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

static void fdpath(char *out, size_t n, int fd) { snprintf(out, n, "/proc/self/fd/%d", fd); }

/* ---- the child's operations --------------------------------------------------------------- */

/* Flags that a bind remount must keep, or the kernel refuses it inside a user namespace. */
static unsigned long locked_flags(const char *path) {
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

static void do_mount(const char *src, const char *rel, const char *fstype, unsigned long flags,
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
static void loopback_up(void) {
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
static void do_pivot(const char *newroot) {
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
static void do_mask(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k") < 0)
      child_fail(EXIT_ENGINE, errno, "mask `%s`", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
    child_fail(EXIT_ENGINE, errno, "mask `%s`", path);
  }
}

static void do_readonly(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return;
  CHECK(mount(path, path, NULL, MS_BIND | MS_REC, NULL), "bind `%s`", path);
  unsigned long keep = locked_flags(path);
  CHECK(mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL), "remount `%s` read-only", path);
}

/* Create the pty inside the container's own devpts, so ttyname() works there, and hand the
 * master to the monitor by SCM_RIGHTS (the shape runc's console socket has). */
static void do_tty(void) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  CHECK(master, "open `/dev/ptmx`");
  int unlock = 0;
  CHECK(ioctl(master, TIOCSPTLCK, &unlock), "unlock pty");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  CHECK(slave, "open pty peer");
  /* The size box's terminal has now; stdio is still that terminal until the dup2s below. */
  struct winsize ws = {.ws_row = tty_rows, .ws_col = tty_cols};
  if ((tty_rows <= 0 || tty_cols <= 0) && ioctl(1, TIOCGWINSZ, &ws) < 0 && ioctl(0, TIOCGWINSZ, &ws) < 0) {
    ws.ws_row = 24;
    ws.ws_col = 80;
  }
  ioctl(slave, TIOCSWINSZ, &ws);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  char data = 'T';
  struct iovec iov = {.iov_base = &data, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  CHECK(sendmsg(tty_sock[1], &msg, 0), "send pty to monitor");
  close(master);
  close(tty_sock[1]);
  tty_sock[1] = -1;
  CHECK(ioctl(slave, TIOCSCTTY, 0), "set controlling terminal");
  for (int i = 0; i < 3; i++) CHECK(dup2(slave, i), "dup pty to fd %d", i);
  if (slave > 2) close(slave);
}

static uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
static int have_caps;

static void drop_bounding(void) {
  for (int c = 0; c <= 63; c++) {
    if (cap_bounding & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) <= 0) continue;
    CHECK(prctl(PR_CAPBSET_DROP, c, 0, 0, 0), "drop capability %d from the bounding set", c);
  }
}

static void apply_caps(void) {
  struct cap_header h = {.version = CAP_VERSION_3, .pid = 0};
  struct cap_data d[2];
  d[0].effective = (uint32_t)cap_effective;
  d[1].effective = (uint32_t)(cap_effective >> 32);
  d[0].permitted = (uint32_t)cap_permitted;
  d[1].permitted = (uint32_t)(cap_permitted >> 32);
  d[0].inheritable = (uint32_t)cap_inheritable;
  d[1].inheritable = (uint32_t)(cap_inheritable >> 32);
  CHECK(syscall(SYS_capset, &h, d), "capset");
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int c = 0; c <= 63; c++)
    if (cap_ambient & (1ULL << c)) CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0), "raise ambient capability %d", c);
}

static char *argv_buf[MAX_ARGS + 1];
static char *envp_buf[MAX_ARGS + 1];
static int argc_n, envc_n;

static const char *env_path(void) {
  for (int i = 0; i < envc_n; i++)
    if (!strncmp(envp_buf[i], "PATH=", 5)) return envp_buf[i] + 5;
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

static void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
}

/* execvpe with docker's messages and exit codes: 127 when nothing is found, 126 when found but
 * not executable. The search runs inside the container, with the container's PATH. */
__attribute__((noreturn)) static void do_exec(const char *file) {
  argv_buf[argc_n] = NULL;
  envp_buf[envc_n] = NULL;
  if (strchr(file, '/')) {
    execve(file, argv_buf, envp_buf);
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) child_fail(EXIT_NOT_FOUND, e, "exec `%s`: no such file or directory", file);
    child_fail(EXIT_CANNOT_EXEC, e, "exec `%s`", file);
  }
  const char *path = env_path();
  int saw_eacces = 0, last = ENOENT;
  char cand[4096];
  while (*path) {
    const char *end = strchr(path, ':');
    size_t len = end ? (size_t)(end - path) : strlen(path);
    if (len == 0) snprintf(cand, sizeof cand, "%s", file);
    else snprintf(cand, sizeof cand, "%.*s/%s", (int)len, path, file);
    execve(cand, argv_buf, envp_buf);
    if (errno == EACCES) saw_eacces = 1;
    else if (errno != ENOENT && errno != ENOTDIR) last = errno;
    path += len;
    if (*path == ':') path++;
  }
  if (saw_eacces) child_fail(EXIT_CANNOT_EXEC, EACCES, "exec `%s`", file);
  if (last != ENOENT) child_fail(EXIT_CANNOT_EXEC, last, "exec `%s`", file);
  child_fail(EXIT_NOT_FOUND, ENOENT, "exec `%s`: executable file not found in $PATH", file);
}

/* --init: stay as PID 1, run the command as our child, forward signals to it and reap every
 * orphan, then exit with the command's status (what tini and docker-init do). */
__attribute__((noreturn)) static void run_as_init(const char *file) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t pid = fork();
  if (pid < 0) child_fail(EXIT_ENGINE, errno, "fork for --init");
  if (pid == 0) {
    setpgid(0, 0);
    if (use_tty) ioctl(0, TIOCSPGRP, &(pid_t){getpid()});
    reset_signals();
    do_exec(file);
  }
  /* The failure pipe now belongs to the command; the init only waits. */
  close(err_pipe[1]);
  err_pipe[1] = -1;
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(pid, sig);
      continue;
    }
    int status;
    pid_t r;
    while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
      if (r == pid) {
        if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
        _exit(128 + WTERMSIG(status));
      }
    }
  }
}

static gid_t groups_buf[256];
static int n_groups = -1;
static long target_uid = -1, target_gid = -1;

__attribute__((noreturn)) static void child_main(void) {
  close(go_pipe[1]);
  close(err_pipe[0]);
  if (tty_sock[0] >= 0) close(tty_sock[0]);
  /* Wait until the monitor has written our id maps and cgroup membership. */
  char c;
  ssize_t r;
  do r = read(go_pipe[0], &c, 1); while (r < 0 && errno == EINTR);
  if (r != 1) _exit(EXIT_ENGINE);
  close(go_pipe[0]);

  /* The monitor joined the user and pid namespaces already (open_namespaces). */
  for (int i = 0; i < n_ns; i++) {
    if (setns(ns_fds[i], ns_types[i]) < 0) child_fail(EXIT_ENGINE, errno, "join the container's namespaces (setns 0x%x)", ns_types[i]);
    close(ns_fds[i]);
  }
  if (want_cgroupns) CHECK(unshare(CLONE_NEWCGROUP), "unshare cgroup namespace");
  /* A session of its own: the container never receives the terminal's signals meant for box,
   * and can take its pty as controlling terminal. */
  setsid();
  if (out_pipe[1] >= 0) {
    dup2(out_pipe[1], 1);
    dup2(errout_pipe[1], 2);
    close(out_pipe[0]);
    close(errout_pipe[0]);
  }
  if (stdin_null) {
    int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (n >= 0) {
      dup2(n, 0);
      close(n);
    }
  }

  cursor = ops_start;
  const char *op;
  const char *exec_file = NULL;
  int idx = 0;
  while ((op = next_field())) {
    op_index = idx++;
    if (!strcmp(op, "mount-private")) {
      CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make `/` private");
    } else if (!strcmp(op, "root")) {
      /* Open the future root; every later target is resolved inside it. */
      const char *p = field();
      if (rootfd >= 0) close(rootfd);
      rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
      CHECK(rootfd, "open root `%s`", p);
    } else if (!strcmp(op, "mount-host")) {
      /* A mount whose target is a host path (the rootfs itself), before any root is open. */
      const char *src = field(), *tgt = field(), *fs = field();
      unsigned long fl = strtoul(field(), NULL, 0);
      const char *data = field();
      CHECK(mount(src, tgt, fs, fl, data[0] ? data : NULL), "mount `%s` on `%s`", src, tgt);
    } else if (!strcmp(op, "mount")) {
      const char *src = field(), *rel = field(), *fs = field();
      unsigned long fl = strtoul(field(), NULL, 0);
      const char *data = field(), *kind = field();
      int optional = num(field());
      do_mount(src, rel, fs, fl, data, kind, optional);
    } else if (!strcmp(op, "symlink")) {
      const char *target = field(), *rel = field();
      const char *slash = strrchr(rel, '/');
      int parent = rootfd;
      char dir[4096];
      const char *name = rel;
      if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - rel), rel);
        parent = mkdir_in_root(dir, 0755);
        CHECK(parent, "create `/%s`", dir);
        name = slash + 1;
      }
      if (symlinkat(target, parent, name) < 0 && errno != EEXIST)
        child_fail(EXIT_ENGINE, errno, "symlink `/%s` -> `%s`", rel, target);
      if (parent != rootfd) close(parent);
    } else if (!strcmp(op, "mknod")) {
      const char *rel = field();
      mode_t mode = strtoul(field(), NULL, 0);
      unsigned maj = num(field()), min = num(field());
      char dir[4096];
      const char *slash = strrchr(rel, '/');
      int parent = rootfd;
      const char *name = rel;
      if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - rel), rel);
        parent = mkdir_in_root(dir, 0755);
        CHECK(parent, "create `/%s`", dir);
        name = slash + 1;
      }
      if (mknodat(parent, name, mode, makedev(maj, min)) < 0 && errno != EEXIST)
        child_fail(EXIT_ENGINE, errno, "mknod `/%s`", rel);
      /* mknod honours the umask; devices need their exact mode. */
      fchmodat(parent, name, mode & 07777, 0);
      if (parent != rootfd) close(parent);
    } else if (!strcmp(op, "remount-ro")) {
      const char *p = field();
      unsigned long keep = locked_flags(p);
      CHECK(mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL), "remount `%s` read-only", p);
    } else if (!strcmp(op, "pivot")) {
      do_pivot(field());
    } else if (!strcmp(op, "mask")) {
      do_mask(field());
    } else if (!strcmp(op, "readonly")) {
      do_readonly(field());
    } else if (!strcmp(op, "hostname")) {
      const char *h = field();
      CHECK(sethostname(h, strlen(h)), "sethostname `%s`", h);
    } else if (!strcmp(op, "lo")) {
      loopback_up();
    } else if (!strcmp(op, "pty")) {
      do_tty();
    } else if (!strcmp(op, "chdir")) {
      const char *p = field();
      if (chdir(p) < 0) {
        int e = errno;
        /* docker creates a missing working directory; so do we, unless the root is read-only. */
        if (e == ENOENT && mkdir_in_root(p[0] == '/' ? p + 1 : p, 0755) >= 0 && chdir(p) == 0) continue;
        child_fail(EXIT_ENGINE, e, "chdir to working directory `%s`", p);
      }
    } else if (!strcmp(op, "caps")) {
      cap_bounding = strtoull(field(), NULL, 0);
      cap_effective = strtoull(field(), NULL, 0);
      cap_permitted = strtoull(field(), NULL, 0);
      cap_inheritable = strtoull(field(), NULL, 0);
      cap_ambient = strtoull(field(), NULL, 0);
      have_caps = 1;
    } else if (!strcmp(op, "user")) {
      target_uid = num(field());
      target_gid = num(field());
    } else if (!strcmp(op, "groups")) {
      const char *list = field();
      n_groups = 0;
      for (const char *p = list; *p && n_groups < 256;) {
        groups_buf[n_groups++] = strtoul(p, (char **)&p, 10);
        if (*p == ',') p++;
      }
    } else if (!strcmp(op, "nnp")) {
      CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs");
    } else if (!strcmp(op, "arg")) {
      if (argc_n < MAX_ARGS) argv_buf[argc_n++] = (char *)field();
    } else if (!strcmp(op, "env")) {
      if (envc_n < MAX_ARGS) envp_buf[envc_n++] = (char *)field();
    } else if (!strcmp(op, "exec")) {
      exec_file = field();
      break;
    } else {
      child_fail(EXIT_ENGINE, EINVAL, "plan: unknown operation `%s`", op);
    }
  }
  if (!exec_file) child_fail(EXIT_ENGINE, EINVAL, "plan: no exec operation");
  op_index = -1;

  /* Identity and privileges, in the only order that works: the bounding set needs
   * CAP_SETPCAP, so it shrinks first; KEEPCAPS lets setuid keep what capset trims next. */
  if (have_caps) {
    drop_bounding();
    CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keep capabilities across setuid");
  }
  if (n_groups >= 0) CHECK(setgroups(n_groups, groups_buf), "setgroups");
  if (target_gid >= 0) CHECK(setresgid(target_gid, target_gid, target_gid), "setgid %ld", target_gid);
  if (target_uid >= 0) CHECK(setresuid(target_uid, target_uid, target_uid), "setuid %ld", target_uid);
  if (have_caps) {
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    apply_caps();
  }

  /* CVE-2024-21626: no fd box did not mean to pass may reach the container. Mark them all
   * close-on-exec; the failure pipe is among them, so a successful exec reads as EOF. */
  syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  if (use_init) run_as_init(exec_file);
  reset_signals();
  do_exec(exec_file);
}

/* ---- the monitor ---------------------------------------------------------------------------- */

static int write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(data);
  ssize_t w = write(fd, data, len);
  int e = errno;
  close(fd);
  errno = e;
  return w == (ssize_t)len ? 0 : -1;
}

/* Run newuidmap/newgidmap PID ARGS...: the setuid helpers that grant /etc/subuid ranges. */
static int run_idmap_helper(const char *prog, pid_t pid, const char *args) {
  char *argv[64];
  char pidbuf[16], copy[1024];
  snprintf(pidbuf, sizeof pidbuf, "%d", pid);
  snprintf(copy, sizeof copy, "%s", args);
  int n = 0;
  argv[n++] = (char *)prog;
  argv[n++] = pidbuf;
  for (char *tok = strtok(copy, " "); tok && n < 62; tok = strtok(NULL, " ")) argv[n++] = tok;
  argv[n] = NULL;
  pid_t h = fork();
  if (h < 0) return -1;
  if (h == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) dup2(devnull, 1);
    execv(prog, argv);
    _exit(127);
  }
  int st;
  while (waitpid(h, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  errno = EPERM;
  return -1;
}

static pid_t child_pid;

static int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_ENGINE;
}

/* Report a monitor-side failure in the same shape the child uses. */
__attribute__((noreturn)) static void monitor_fail(int err, const char *what) {
  status_write("error %d -1 %d %s\n", EXIT_ENGINE, err, what);
  if (child_pid > 0) {
    kill(child_pid, SIGKILL);
    waitpid(child_pid, NULL, 0);
  }
  _exit(EXIT_ENGINE);
}

static int recv_fd(int sock) {
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  char data;
  struct iovec iov = {.iov_base = &data, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
  if (r <= 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static struct termios saved_termios;
static int termios_saved;

static void restore_terminal(void) {
  if (termios_saved) tcsetattr(0, TCSADRAIN, &saved_termios);
}

/* Raw mode on box's terminal: every key, Ctrl-C included, goes to the container's pty, whose
 * own line discipline turns it into a signal for the container's foreground process. */
static void raw_terminal(void) {
  if (!isatty(0) || tcgetattr(0, &saved_termios) < 0) return;
  termios_saved = 1;
  struct termios t = saved_termios;
  cfmakeraw(&t);
  tcsetattr(0, TCSADRAIN, &t);
}

static void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) == 0 || ioctl(1, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

static int write_all(int fd, const char *buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, -1);
        continue;
      }
      return -1;
    }
    buf += w;
    n -= w;
  }
  return 0;
}


/* ---- the log of a detached container -------------------------------------------------------
 * One line per record in the format podman calls k8s-file (the CRI log format):
 *   <RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <text>
 * F ends a line the container wrote; P marks a piece of a longer line that continues. */

static int log_fd = -1;

static void log_chunk(const char *stream, const char *buf, ssize_t n) {
  if (log_fd < 0) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[64];
  size_t sl = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(stamp + sl, sizeof stamp - sl, ".%09ldZ", ts.tv_nsec);
  static char out[65536 + 256];
  ssize_t i = 0;
  while (i < n) {
    ssize_t j = i;
    while (j < n && buf[j] != '\n') j++;
    int full = j < n;
    int hl = snprintf(out, 256, "%s %s %c ", stamp, stream, full ? 'F' : 'P');
    memcpy(out + hl, buf + i, j - i);
    out[hl + (j - i)] = '\n';
    write_all(log_fd, out, hl + (j - i) + 1);
    i = full ? j + 1 : j;
  }
}

/* The exit status for box to read later: "<code> <finished, ns since the epoch>\n", renamed
 * into place so a reader never sees half of it. */
static void write_exit_file(int code) {
  if (!exit_path) return;
  char tmp[4200], body[64];
  snprintf(tmp, sizeof tmp, "%s.tmp", exit_path);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = snprintf(body, sizeof body, "%d %lld%09ld\n", code, (long long)ts.tv_sec, ts.tv_nsec);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, body, n);
  close(fd);
  rename(tmp, exit_path);
}

static void run_exit_command(void) {
  if (exit_cmd_n == 0) return;
  exit_cmd[exit_cmd_n] = NULL;
  pid_t p = fork();
  if (p == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    execv(exit_cmd[0], exit_cmd);
    _exit(127);
  }
  /* Not waited for: the monitor exits and the command is reparented, as with conmon. */
}

/* Open the namespaces of the container to join. The monitor itself joins the user namespace
 * (rootless: that is where its capabilities over the others come from; setns into a pid
 * namespace also demands CAP_SYS_ADMIN in the caller's own user namespace) and the pid
 * namespace, which applies to children only, so the clone below is born inside it. The child
 * joins the rest. */
static int open_namespaces(void) {
  static const struct {
    const char *name;
    int type;
  } kinds[] = {{"user", CLONE_NEWUSER}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}, {"uts", CLONE_NEWUTS},
               {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}};
  int own[2] = {-1, -1};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    if (!strstr(join_list, kinds[k].name)) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/ns/%s", join_pid, kinds[k].name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (k < 2) own[k] = fd;
    else if (n_ns < 8) {
      ns_fds[n_ns] = fd;
      ns_types[n_ns++] = kinds[k].type;
    }
  }
  for (int k = 0; k < 2; k++) {
    if (own[k] < 0) continue;
    if (setns(own[k], kinds[k].type) < 0) return -1;
    close(own[k]);
  }
  return 0;
}

int main(int argc, char **argv) {
  struct stat st;
  status_ok = fstat(STATUS_FD, &st) == 0 && S_ISSOCK(st.st_mode);
  if (!status_ok) {
    fprintf(stderr, "box-shim: this program is started by box, not by hand\n");
    return EXIT_ENGINE;
  }
  int r = receive_plan();
  if (r == -2) return EXIT_ENGINE;
  /* box went away before sending a plan (it failed, or was interrupted): nothing to do. */
  if (r < 0) return EXIT_ENGINE;
  if (parse_header() < 0) {
    status_write("error %d -1 %d plan header is invalid\n", EXIT_ENGINE, EINVAL);
    return EXIT_ENGINE;
  }
  if (detach) {
    /* Out of box's session: box exits now, and a hangup of its terminal must not reach us. */
    setsid();
    /* box reads our status until the container starts, then leaves: a write to its closed
     * socket must fail with EPIPE, not kill the monitor. */
    signal(SIGPIPE, SIG_IGN);
    if (log_path) {
      log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
      if (log_fd < 0) {
        status_write("error %d -1 %d open log `%s`\n", EXIT_ENGINE, errno, log_path);
        return EXIT_ENGINE;
      }
    }
    if (!use_tty && (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(errout_pipe, O_CLOEXEC) < 0)) {
      status_write("error %d -1 %d create output pipes\n", EXIT_ENGINE, errno);
      return EXIT_ENGINE;
    }
  } else if (own_pgrp) setpgid(0, 0);

  /* Signals are handled through a signalfd; block them before clone so none is lost between
   * clone and the loop. The child unblocks all of them just before exec. */
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);

  if (pipe2(go_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) monitor_fail(errno, "create sync pipes");
  if (use_tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tty_sock) < 0) monitor_fail(errno, "create pty socket");

  /* A raw clone behaves like fork here (no new stack), with the namespaces applied to the
   * child only: this process is single-threaded, so that is safe, and the child is the
   * first process of its new PID namespace. */
  if (join_pid > 0 && open_namespaces() < 0) monitor_fail(errno, "open the container's namespaces (is it running?)");
  pid_t pid = syscall(SYS_clone, clone_flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) {
    int e = errno;
    char what[128];
    snprintf(what, sizeof what, "clone with namespace flags 0x%lx", clone_flags);
    monitor_fail(e, what);
  }
  if (pid == 0) child_main();
  child_pid = pid;
  close(go_pipe[0]);
  close(err_pipe[1]);
  if (out_pipe[1] >= 0) {
    close(out_pipe[1]);
    close(errout_pipe[1]);
  }
  if (tty_sock[1] >= 0) close(tty_sock[1]);

  char path[64];
  if (newuidmap_args) {
    if (run_idmap_helper("/usr/bin/newuidmap", pid, newuidmap_args) < 0) monitor_fail(errno, "newuidmap (check /etc/subuid)");
  } else if (uid_map) {
    snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
    if (write_file(path, uid_map) < 0) monitor_fail(errno, "write uid_map");
  }
  if (setgroups_mode) {
    snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
    if (write_file(path, setgroups_mode) < 0) monitor_fail(errno, "write setgroups");
  }
  if (newgidmap_args) {
    if (run_idmap_helper("/usr/bin/newgidmap", pid, newgidmap_args) < 0) monitor_fail(errno, "newgidmap (check /etc/subgid)");
  } else if (gid_map) {
    snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
    if (write_file(path, gid_map) < 0) monitor_fail(errno, "write gid_map");
  }
  leave_cgroups();
  if (hold) {
    status_write("created %d\n", pid);
    size_t len = 0;
    char kind = read_message(&len);
    if (kind != 'G') monitor_fail(EPIPE, "box went away before starting the container");
  }
  if (write(go_pipe[1], "g", 1) != 1) monitor_fail(errno, "signal the container process");
  close(go_pipe[1]);

  int master = -1;
  if (use_tty) {
    master = recv_fd(tty_sock[0]);
    close(tty_sock[0]);
  }

  /* EOF on the failure pipe means execve succeeded (the pipe is close-on-exec). */
  char ebuf[4200];
  size_t elen = 0;
  for (;;) {
    ssize_t r = read(err_pipe[0], ebuf + elen, sizeof ebuf - 1 - elen);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    elen += r;
    if (elen >= sizeof ebuf - 1) break;
  }
  close(err_pipe[0]);
  ebuf[elen] = 0;
  if (elen > 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    int code = 0;
    sscanf(ebuf, "%d", &code);
    status_write("error %s\n", ebuf);
    return code ? code : EXIT_ENGINE;
  }
  status_write("pid %d\n", pid);
  /* A detached monitor's box has gone once it has the pid; nothing more is reported. */
  if (detach) status_ok = 0;

  int sfd = signalfd(-1, &all, SFD_CLOEXEC);
  if (sfd < 0) monitor_fail(errno, "signalfd");
  if (master >= 0 && !detach) {
    raw_terminal();
    atexit(restore_terminal);
    copy_winsize(master);
  }

  /* Where the container's output goes: box's own stdout, or the log when detached. */
  struct source {
    int fd;
    const char *stream;
  } sources[3];
  int nsources = 0;
  if (master >= 0) sources[nsources++] = (struct source){master, "stdout"};
  if (out_pipe[0] >= 0) {
    sources[nsources++] = (struct source){out_pipe[0], "stdout"};
    sources[nsources++] = (struct source){errout_pipe[0], "stderr"};
  }

  struct pollfd fds[5];
  int stdin_open = master >= 0 && !detach;
  static char buf[65536];
  for (;;) {
    int n = 0;
    fds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    int first_source = n;
    for (int i = 0; i < nsources; i++) fds[n++] = (struct pollfd){.fd = sources[i].fd, .events = POLLIN};
    int ii = -1;
    if (stdin_open) {
      ii = n;
      fds[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
    }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      monitor_fail(errno, "poll");
    }
    for (int i = 0; i < nsources; i++) {
      if (!fds[first_source + i].revents) continue;
      ssize_t r = read(sources[i].fd, buf, sizeof buf);
      if (r > 0) {
        if (detach) log_chunk(sources[i].stream, buf, r);
        else write_all(1, buf, r);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        /* Closed (a pty reads EIO once the container side is gone): stop polling it. */
        sources[i] = sources[--nsources];
        i--;
        break;
      }
    }
    if (ii >= 0 && fds[ii].revents) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r > 0) write_all(master, buf, r);
      /* End of box's input: send the terminal's EOF character, as docker attach does. */
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        stdin_open = 0;
        write_all(master, "\x04", 1);
      }
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != sizeof si) continue;
      if (si.ssi_signo == SIGWINCH) {
        if (master >= 0 && !detach) copy_winsize(master);
      } else if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGPIPE) {
        kill(pid, si.ssi_signo);
      }
      int status;
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        /* Drain what the container wrote before it exited. */
        for (int i = 0; i < nsources; i++) {
          for (;;) {
            struct pollfd p = {.fd = sources[i].fd, .events = POLLIN};
            if (poll(&p, 1, 0) <= 0) break;
            ssize_t m = read(sources[i].fd, buf, sizeof buf);
            if (m <= 0) break;
            if (detach) log_chunk(sources[i].stream, buf, m);
            else write_all(1, buf, m);
          }
        }
        int code = exit_code_of(status);
        write_exit_file(code);
        status_write("exit %d\n", code);
        restore_terminal();
        termios_saved = 0;
        run_exit_command();
        return code;
      }
    }
  }
}
