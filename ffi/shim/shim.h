/*
 * Declarations shared by the shim's files; see monitor.c for the overall design.
 */
#ifndef BOX_SHIM_H
#define BOX_SHIM_H
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

/* Report a failed step of the child with its errno and exit (child.c). */
#define CHECK(expr, ...)                                   \
  do {                                                     \
    if ((expr) < 0) child_fail(EXIT_ENGINE, errno, __VA_ARGS__); \
  } while (0)

extern char plan[MAX_PLAN];
extern size_t plan_len;
extern unsigned long clone_flags;
extern int want_cgroupns;
extern const char *uid_map, *gid_map, *setgroups_mode;
extern const char *newuidmap_args, *newgidmap_args;
extern const char *cgroup_procs[MAX_CGROUPS];
extern int n_cgroups;
extern int use_tty, tty_rows, tty_cols;
extern int stdin_null;
extern int own_pgrp;
extern int detach;
extern const char *log_path, *exit_path;
extern char *exit_cmd[64];
extern int exit_cmd_n;
extern int out_pipe[2], errout_pipe[2];
extern int use_init;
extern long join_pid;
extern int hold;
extern const char *join_list;
extern int ns_fds[8];
extern int ns_types[8];
extern int n_ns;
extern const char *ops_start;
extern int status_ok;
extern const char *cursor;
extern char cgroup_msg[64 << 10];
extern const char *cgroup_back[MAX_CGROUPS];
extern int rootfd;
extern uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
extern int have_caps;
extern char *argv_buf[MAX_ARGS + 1];
extern char *envp_buf[MAX_ARGS + 1];
extern int argc_n, envc_n;
extern int op_index;
extern gid_t groups_buf[256];
extern int n_groups;
extern long target_uid, target_gid;
extern pid_t child_pid;
extern struct termios saved_termios;
extern int termios_saved;
extern int log_fd;
extern int go_pipe[2], err_pipe[2], tty_sock[2];

void status_write(const char *fmt, ...);
const char *next_field(void);
const char *field(void);
int read_full(int fd, char *buf, size_t n);
char read_message(size_t *len);
int join_cgroups(size_t len);
void leave_cgroups(void);
int receive_plan(void);
int parse_header(void);
int openat2_(int dirfd, const char *path, int flags, uint64_t resolve);
int mkdir_in_root(const char *rel, mode_t mode);
int mkfile_in_root(const char *rel);
unsigned long locked_flags(const char *path);
void do_mount(const char *src, const char *rel, const char *fstype, unsigned long flags, const char *data, const char *kind, int optional);
void loopback_up(void);
void do_pivot(const char *newroot);
void do_mask(const char *path);
void do_readonly(const char *path);
void do_tty(void);
void drop_bounding(void);
void apply_caps(void);
const char *env_path(void);
void reset_signals(void);
void helper_child_stdio(void);
__attribute__((noreturn)) void do_exec(const char *file);
__attribute__((noreturn)) void run_as_init(const char *file);
__attribute__((noreturn)) void child_fail(int code, int err, const char *fmt, ...);
__attribute__((noreturn)) void child_main(void);
int write_file(const char *path, const char *data);
int run_idmap_helper(const char *prog, pid_t pid, const char *args);
int exit_code_of(int status);
__attribute__((noreturn)) void monitor_fail(int err, const char *what);
int recv_fd(int sock);
void restore_terminal(void);
void raw_terminal(void);
void copy_winsize(int master);
int write_all(int fd, const char *buf, ssize_t n);
void log_chunk(const char *stream, const char *buf, ssize_t n);
void write_exit_file(int code);
void run_exit_command(void);
int open_namespaces(void);
long num(const char *s);
void fdpath(char *out, size_t n, int fd);

/* restore.c: a monitor that runs `criu restore` instead of cloning. */
extern int restore_mode;
int restore_header_field(const char *op);
int restore_main(void);

/* attach.c: the attach socket a detached monitor serves to `box attach`. */
int attach_header_field(const char *op);
int attach_setup(void);
int attach_after_clone(void);
void attach_set_master(int master);
void attach_output(const char *stream, const char *buf, size_t n);
int attach_poll_fds(struct pollfd *fds);
void attach_poll_events(struct pollfd *fds, int n);
void attach_exit(int code);
/* Pollfds attach_poll_fds can fill: the socket, a blocked stdin, and 32 clients. */
#define ATTACH_MAX_POLL 34

#endif
