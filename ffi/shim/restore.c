/*
 * Restoring a checkpointed container. Instead of cloning a new process, the monitor runs
 * `criu restore --restore-detached --restore-sibling`: criu recreates the process tree with
 * CLONE_PARENT, so the restored init becomes the monitor's own child, exactly as a container the
 * monitor cloned itself (the shape runc and crun get from libcriu's restore_child). From then on
 * the monitor does what it does for any detached container: log, exit file, exit command.
 *
 * criu needs the container's root filesystem mounted to restore into (its --root). The monitor
 * mounts the overlay in a private mount namespace of its own, so the host's mount table never
 * holds it; criu builds the container's mount namespace from there.
 *
 * The container's stdout and stderr were pipes to the old monitor. box recorded their inodes at
 * checkpoint time and passes `--inherit-fd fd[N]:pipe:[INODE]` for RESTORE_STDOUT_FD and
 * RESTORE_STDERR_FD (ffi/shim-protocol.ts), where this file puts the write ends of new pipes.
 */
#include "shim.h"

#define RESTORE_STDOUT_FD 100
#define RESTORE_STDERR_FD 101
#define MAX_CRIU_ARGS 256

int restore_mode;
static const char *criu_path, *criu_pidfile;
static const char *rootfs_target, *rootfs_overlay;
static char *criu_argv[MAX_CRIU_ARGS + 2];
static int criu_argc;

/* Header records of a restore plan; returns 1 when `op` was one of them. */
int restore_header_field(const char *op) {
  if (!strcmp(op, "restore")) {
    restore_mode = 1;
    criu_path = field();
    criu_pidfile = field();
    return 1;
  }
  if (!strcmp(op, "restore-rootfs")) {
    rootfs_target = field();
    rootfs_overlay = field();
    return 1;
  }
  if (!strcmp(op, "criuarg")) {
    const char *a = field();
    if (criu_argc < MAX_CRIU_ARGS) criu_argv[1 + criu_argc++] = (char *)a;
    return 1;
  }
  return 0;
}

static void restore_error(int err, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  status_write("error %d -1 %d %s\n", EXIT_ENGINE, err, msg);
}

static pid_t read_pidfile(const char *path) {
  char buf[32];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  long pid = strtol(buf, NULL, 10);
  return pid > 0 ? (pid_t)pid : -1;
}

static void drain(int fd, const char *stream) {
  static char buf[65536];
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) return;
    ssize_t m = read(fd, buf, sizeof buf);
    if (m <= 0) return;
    log_chunk(stream, buf, m);
  }
}

/* The detached monitor's loop for a restored container: its output into the log, signals
 * forwarded, and at its exit the exit file and the exit command. */
static int watch_restored(pid_t pid, const sigset_t *all) {
  int sfd = signalfd(-1, all, SFD_CLOEXEC);
  if (sfd < 0) {
    kill(pid, SIGKILL);
    return EXIT_ENGINE;
  }
  struct {
    int fd;
    const char *stream;
  } sources[2] = {{out_pipe[0], "stdout"}, {errout_pipe[0], "stderr"}};
  int nsources = 2;
  static char buf[65536];
  for (;;) {
    struct pollfd fds[3];
    fds[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
    for (int i = 0; i < nsources; i++) fds[1 + i] = (struct pollfd){.fd = sources[i].fd, .events = POLLIN};
    if (poll(fds, 1 + nsources, -1) < 0) {
      if (errno == EINTR) continue;
      kill(pid, SIGKILL);
    }
    for (int i = 0; i < nsources; i++) {
      if (!fds[1 + i].revents) continue;
      ssize_t r = read(sources[i].fd, buf, sizeof buf);
      if (r > 0) log_chunk(sources[i].stream, buf, r);
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        sources[i] = sources[--nsources];
        break;
      }
    }
    if (!(fds[0].revents & POLLIN)) continue;
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != sizeof si) continue;
    if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGPIPE && si.ssi_signo != SIGWINCH) kill(pid, si.ssi_signo);
    int status;
    if (waitpid(pid, &status, WNOHANG) != pid) continue;
    for (int i = 0; i < nsources; i++) drain(sources[i].fd, sources[i].stream);
    int code = exit_code_of(status);
    write_exit_file(code);
    run_exit_command();
    return code;
  }
}

/* Run after the detached set-up in main(): log open, output pipes made, out of box's session. */
int restore_main(void) {
  if (!detach || !criu_path || !criu_pidfile || !rootfs_target || !rootfs_overlay || out_pipe[1] < 0) {
    restore_error(EINVAL, "restore plan is incomplete");
    return EXIT_ENGINE;
  }
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);

  if (unshare(CLONE_NEWNS) < 0) {
    restore_error(errno, "unshare a mount namespace for criu");
    return EXIT_ENGINE;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
    restore_error(errno, "make `/` private");
    return EXIT_ENGINE;
  }
  if (mount("overlay", rootfs_target, "overlay", 0, rootfs_overlay) < 0) {
    restore_error(errno, "mount `overlay` on `%s`", rootfs_target);
    return EXIT_ENGINE;
  }
  if (dup2(out_pipe[1], RESTORE_STDOUT_FD) < 0 || dup2(errout_pipe[1], RESTORE_STDERR_FD) < 0) {
    restore_error(errno, "pass the output pipes to criu");
    return EXIT_ENGINE;
  }
  unlink(criu_pidfile);

  criu_argv[0] = (char *)criu_path;
  criu_argv[1 + criu_argc] = NULL;
  pid_t criu = fork();
  if (criu < 0) {
    restore_error(errno, "fork for criu");
    return EXIT_ENGINE;
  }
  if (criu == 0) {
    helper_child_stdio();
    /* box's status socket is for the monitor; criu and the restored tree must not hold it. */
    close(STATUS_FD);
    execv(criu_path, criu_argv);
    _exit(127);
  }
  close(RESTORE_STDOUT_FD);
  close(RESTORE_STDERR_FD);
  close(out_pipe[1]);
  close(errout_pipe[1]);
  int st;
  while (waitpid(criu, &st, 0) < 0 && errno == EINTR) {}
  leave_cgroups();
  /* The restored container holds its own copy of the mount; this one would only keep the
   * overlay busy for the exit command (which removes a --rm container's files). */
  umount2(rootfs_target, MNT_DETACH);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    restore_error(0, "criu restore exited with status %d", exit_code_of(st));
    return EXIT_ENGINE;
  }
  pid_t pid = read_pidfile(criu_pidfile);
  if (pid <= 0) {
    restore_error(errno ? errno : EINVAL, "read criu's pidfile `%s`", criu_pidfile);
    return EXIT_ENGINE;
  }
  /* --restore-sibling must have made the tree our child; otherwise we could not wait for it. */
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    restore_error(e, "the restored process %d is not the monitor's child", pid);
    return EXIT_ENGINE;
  }
  child_pid = pid;
  status_write("pid %d\n", pid);
  status_ok = 0;
  return watch_restored(pid, &all);
}
