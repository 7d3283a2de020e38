/* Settings read from the plan, and the channel back to box. */
#include "shim.h"

char plan[MAX_PLAN];
size_t plan_len;

/* Header settings, read by the monitor before clone. */
unsigned long clone_flags;
int want_cgroupns;
const char *uid_map, *gid_map, *setgroups_mode;
const char *newuidmap_args, *newgidmap_args;
const char *cgroup_procs[MAX_CGROUPS];
int n_cgroups;
int use_tty, tty_rows, tty_cols;
int stdin_null;
int own_pgrp;
/* Detached (-d): the shim outlives box, writes the container's output to a log file and its
 * exit status to a file, then runs an exit command (box's cleanup), as conmon does. */
int detach;
const char *log_path, *exit_path;
char *exit_cmd[64];
int exit_cmd_n;
int out_pipe[2] = {-1, -1}, errout_pipe[2] = {-1, -1};
int use_init;
/* exec: join the namespaces of a running container (its PID 1 is join_pid) instead of
 * creating new ones; the namespaces are listed by their /proc/PID/ns names. */
long join_pid = -1;
/* hold: stop between the clone and the container's first instruction, report "created PID",
 * and wait for box's "G" message: the window in which box sets up what needs the process to
 * exist (a veth moved into its network namespace, cgroup limits), the OCI create/start split. */
int hold;
const char *join_list;
int ns_fds[8];
int ns_types[8];
int n_ns;
const char *ops_start;

/* Pipes between monitor and child. */
int go_pipe[2] = {-1, -1};   /* monitor -> child: ids mapped, cgroups joined */
int err_pipe[2] = {-1, -1};  /* child -> monitor: failure report; EOF on exec */
int tty_sock[2] = {-1, -1};  /* child -> monitor: the pty master, by SCM_RIGHTS */

int status_ok = 0;

void status_write(const char *fmt, ...) {
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
