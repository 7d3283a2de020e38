/*
 * box-shim: the single-threaded stage between box (a multi-threaded Bun process) and the
 * container's first process. The kernel refuses unshare(CLONE_NEWUSER) and setns() into a mount
 * or user namespace from a multi-threaded process, and no JavaScript may run in a forked copy of
 * Bun, so everything from clone() to execve() happens here, in C, the way runc's nsexec does it.
 *
 * The shim holds no policy. box computes a plan (core/runtime/plan.ts decides it,
 * ffi/shim-protocol.ts encodes it) and the shim interprets it: a header that configures the clone, then a list of
 * operations the child runs in order inside the new namespaces. An operation that fails reports
 * its index, errno and a message back to box over fd 3, so box can say which mount or which
 * exec failed instead of printing a bare exit status.
 *
 * Process layout:  box (Bun) -> shim (monitor.c, outside the namespaces, the "monitor")
 *                                 -> child (cloned into the namespaces; PID 1 unless --init)
 *                                      -> with --init: the command, and the child reaps.
 * The monitor writes the id maps and cgroup membership, relays the TTY, forwards signals, and
 * exits with the container's status (128+N for a signal), which box passes on.
 *
 * Files: plan.c reads the plan and box's messages, child.c runs the plan's operations,
 * rootfs.c and process.c are those operations, state.c holds the settings, and this file is
 * the monitor. Plan format: a sequence of NUL-terminated fields; every record starts with an
 * opcode field followed by that opcode's fixed number of argument fields.
 */
#include "shim.h"

/* ---- the monitor ---------------------------------------------------------------------------- */

int write_file(const char *path, const char *data) {
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
int run_idmap_helper(const char *prog, pid_t pid, const char *args) {
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

pid_t child_pid;

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_ENGINE;
}

/* Report a monitor-side failure in the same shape the child uses. */
__attribute__((noreturn)) void monitor_fail(int err, const char *what) {
  status_write("error %d -1 %d %s\n", EXIT_ENGINE, err, what);
  if (child_pid > 0) {
    kill(child_pid, SIGKILL);
    waitpid(child_pid, NULL, 0);
  }
  _exit(EXIT_ENGINE);
}

int recv_fd(int sock) {
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

struct termios saved_termios;
int termios_saved;

void restore_terminal(void) {
  if (termios_saved) tcsetattr(0, TCSADRAIN, &saved_termios);
}

/* Raw mode on box's terminal: every key, Ctrl-C included, goes to the container's pty, whose
 * own line discipline turns it into a signal for the container's foreground process. */
void raw_terminal(void) {
  if (!isatty(0) || tcgetattr(0, &saved_termios) < 0) return;
  termios_saved = 1;
  struct termios t = saved_termios;
  cfmakeraw(&t);
  tcsetattr(0, TCSADRAIN, &t);
}

void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) == 0 || ioctl(1, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

int write_all(int fd, const char *buf, ssize_t n) {
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

int log_fd = -1;

void log_chunk(const char *stream, const char *buf, ssize_t n) {
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
void write_exit_file(int code) {
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

void run_exit_command(void) {
  if (exit_cmd_n == 0) return;
  exit_cmd[exit_cmd_n] = NULL;
  pid_t p = fork();
  if (p == 0) {
    helper_child_stdio();
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
int open_namespaces(void) {
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
  /* Started from a memfd, the kernel names this process after the fd number; give it a name
   * that `ps` and `box top` users recognise. */
  prctl(PR_SET_NAME, "box-shim", 0, 0, 0);
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
  if (restore_mode) return restore_main();
  if (detach && attach_setup() < 0) return EXIT_ENGINE;

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
  if (attach_after_clone() < 0) monitor_fail(errno, "open the container's stdin");
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
    if (detach) attach_set_master(master);
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
    attach_exit(-1);
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

  struct pollfd fds[5 + ATTACH_MAX_POLL];
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
    int ai = n;
    if (detach) n += attach_poll_fds(fds + n);
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      monitor_fail(errno, "poll");
    }
    /* Clients first: one that connected before the container's output arrives receives it. */
    if (detach) attach_poll_events(fds + ai, n - ai);
    for (int i = 0; i < nsources; i++) {
      if (!fds[first_source + i].revents) continue;
      ssize_t r = read(sources[i].fd, buf, sizeof buf);
      if (r > 0) {
        if (detach) {
          log_chunk(sources[i].stream, buf, r);
          attach_output(sources[i].stream, buf, r);
        } else write_all(1, buf, r);
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
            if (detach) {
              log_chunk(sources[i].stream, buf, m);
              attach_output(sources[i].stream, buf, m);
            } else write_all(1, buf, m);
          }
        }
        int code = exit_code_of(status);
        write_exit_file(code);
        if (detach) attach_exit(code);
        status_write("exit %d\n", code);
        restore_terminal();
        termios_saved = 0;
        run_exit_command();
        return code;
      }
    }
  }
}
