/* Reading the plan and the messages box sends on fd 3; joining and leaving cgroups. */
#include "shim.h"

/* ---- plan parsing --------------------------------------------------------------------- */

const char *cursor;

const char *next_field(void) {
  if (cursor >= plan + plan_len) return NULL;
  const char *f = cursor;
  cursor += strlen(f) + 1;
  return f;
}

const char *field(void) {
  const char *f = next_field();
  if (!f) child_fail(EXIT_ENGINE, EINVAL, "plan: truncated record");
  return f;
}

long num(const char *s) { return strtol(s, NULL, 0); }

/*
 * box talks to the shim over fd 3 (a socket) in messages "<kind> <length>\n<payload>":
 *   C  cgroups to join now: pairs of NUL-terminated paths, "<container cgroup.procs>" then
 *      "<box's own cgroup.procs>" in the same hierarchy.
 *   P  the plan.
 * box starts the shim before it has finished preparing the container, so the shim's exec and
 * the kernel's slow first cgroup migration (an RCU grace period on cgroup v1, ~14 ms measured)
 * overlap with box's own work instead of adding to it.
 */
char cgroup_msg[64 << 10];
const char *cgroup_back[MAX_CGROUPS];

int read_full(int fd, char *buf, size_t n) {
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
char read_message(size_t *len) {
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
int join_cgroups(size_t len) {
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
void leave_cgroups(void) {
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

int receive_plan(void) {
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
int parse_header(void) {
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
    else if (restore_header_field(op)) continue;
    else if (attach_header_field(op)) continue;
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
