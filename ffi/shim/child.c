/* The child: failure reporting and the interpreter of the plan's operations. */
#include "shim.h"
#include "seccomp.h"

/* ---- failure reporting from the child ------------------------------------------------ */

int op_index = -1;

/* Report "<kind> <op-index> <errno> <message>" and exit; kind picks the exit code. */
__attribute__((noreturn)) void child_fail(int code, int err, const char *fmt, ...) {
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


gid_t groups_buf[256];
int n_groups = -1;
long target_uid = -1, target_gid = -1;

__attribute__((noreturn)) void child_main(void) {
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
    } else if (!strcmp(op, "seccomp")) {
      seccomp_load(field());
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
  seccomp_before_privileges();
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
  seccomp_before_exec();
  if (use_init) run_as_init(exec_file);
  reset_signals();
  do_exec(exec_file);
}
