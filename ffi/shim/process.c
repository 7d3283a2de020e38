/* The container process's terminal, privileges and exec (with the optional reaping init). */
#include "shim.h"

/* Create the pty inside the container's own devpts, so ttyname() works there, and hand the
 * master to the monitor by SCM_RIGHTS (the shape runc's console socket has). */
void do_tty(void) {
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

uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
int have_caps;

void drop_bounding(void) {
  for (int c = 0; c <= 63; c++) {
    if (cap_bounding & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) <= 0) continue;
    CHECK(prctl(PR_CAPBSET_DROP, c, 0, 0, 0), "drop capability %d from the bounding set", c);
  }
}

void apply_caps(void) {
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

char *argv_buf[MAX_ARGS + 1];
char *envp_buf[MAX_ARGS + 1];
int argc_n, envc_n;

const char *env_path(void) {
  for (int i = 0; i < envc_n; i++)
    if (!strncmp(envp_buf[i], "PATH=", 5)) return envp_buf[i] + 5;
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
}

/* In a helper child about to exec (criu, the exit command): no blocked signals inherited from
 * the monitor, and /dev/null as stdio so it holds none of the container's streams. */
void helper_child_stdio(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }
}

/* execvpe with docker's messages and exit codes: 127 when nothing is found, 126 when found but
 * not executable. The search runs inside the container, with the container's PATH. */
__attribute__((noreturn)) void do_exec(const char *file) {
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
__attribute__((noreturn)) void run_as_init(const char *file) {
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
