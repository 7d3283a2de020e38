/*
 * The attach socket of a detached container: `box attach` and `box start -a` connect to a unix
 * stream socket in the container's state directory, served by the monitor from its single poll
 * loop (monitor.c calls the hooks below).
 *
 * Every message, both ways, is a frame: one type byte, a 4-byte big-endian length, the payload.
 *   monitor -> client   \1 stdout bytes   \2 stderr bytes (a TTY's output is all stdout)
 *                       x exit code, 4 bytes big-endian, sent once the container has exited
 *   client -> monitor   i bytes for the container's stdin (dropped unless it was started -i)
 *                       e end of input: close the container's stdin (^D on a TTY)
 *                       r resize the TTY: rows, cols as 2-byte big-endian numbers
 *                       s deliver a signal to the container: its number in 1 byte
 * A stream socket rather than conmon's SOCK_SEQPACKET: Bun connects to stream sockets only.
 *
 * The monitor never blocks on a client. Output a client cannot take now is buffered for it, up
 * to OUT_CAP bytes; a client that falls further behind is disconnected, since the alternative is
 * to stall the container or to lose its output silently. Input from clients waits while the
 * container is not reading its stdin: the kernel's socket buffers then push back on the writer.
 */
#include "shim.h"
#include <sys/un.h>

#define MAX_CLIENTS 32
#define OUT_CAP (1 << 20)
#define READ_CHUNK 4096
#define FRAME_HEAD 5

struct client {
  int fd;
  unsigned char head[FRAME_HEAD];
  int head_len;
  uint32_t need;
  unsigned char small[8];
  int small_len;
  char *out;
  size_t out_len, out_cap;
};

static struct client clients[MAX_CLIENTS];
/* Input the container has not read yet; clients are not read while it is non-empty. */
static char pending[READ_CHUNK];

/* The scalar state, in one initialised struct: it lives in .data, on a page the monitor has
 * touched anyway, rather than spread over pages of .bss that each add to its resident memory. */
static struct {
  char *path;         /* the socket's path, from the plan */
  int want_stdin;     /* the container was started -i: clients feed its stdin */
  const char *name;   /* the socket's name in its directory */
  int dir_fd, listen_fd;
  /* The container's stdin as the monitor writes it (a pipe, or the pty master), and the master. */
  int stdin_fd, tty_master;
  int n_clients;
  size_t pending_len;
  int eof_pending;
  /* Where attach_poll_fds put the socket and the blocked stdin in the pollfd array. */
  int base_listen, base_stdin;
} at = {.dir_fd = -1, .listen_fd = -1, .stdin_fd = -1, .tty_master = -1, .base_listen = -1, .base_stdin = -1};

/* Header records of the plan; returns 1 when `op` was one of them. */
int attach_header_field(const char *op) {
  if (!strcmp(op, "attach")) {
    at.path = (char *)field();
    return 1;
  }
  if (!strcmp(op, "attach-stdin")) {
    at.want_stdin = 1;
    return 1;
  }
  return 0;
}

/* The socket's path can be longer than sun_path's 108 bytes (state roots under a deep
 * --runroot): bind and unlink through an O_PATH descriptor of its directory, as conmon does. */
static void socket_address(struct sockaddr_un *a) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  snprintf(a->sun_path, sizeof a->sun_path, "/proc/self/fd/%d/%s", at.dir_fd, at.name);
}

static int listen_and_pipe(void) {
  char *slash = strrchr(at.path, '/');
  if (!slash || slash == at.path || !slash[1]) {
    errno = EINVAL;
    return -1;
  }
  /* Split the path in place (it lives in the plan buffer): a copy would cost the monitor a page
   * of stack for the rest of its life. */
  *slash = 0;
  at.dir_fd = open(at.path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  *slash = '/';
  at.name = slash + 1;
  if (at.dir_fd < 0) return -1;
  /* A socket left by a monitor that was killed. */
  unlinkat(at.dir_fd, at.name, 0);
  at.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (at.listen_fd < 0) return -1;
  struct sockaddr_un a;
  socket_address(&a);
  /* 0600: only the container's owner may drive it. */
  mode_t old = umask(0077);
  int r = bind(at.listen_fd, (struct sockaddr *)&a, sizeof a);
  umask(old);
  if (r < 0 || listen(at.listen_fd, MAX_CLIENTS) < 0) return -1;
  if (at.want_stdin && !use_tty) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    if (dup2(p[0], 0) < 0) return -1;
    close(p[0]);
    /* The write end is reopened after the clone (attach_after_clone): one opened now would be
     * inherited by the child, and with --init kept open by it for good, so the container
     * would never see the end of its input. */
    close(p[1]);
  }
  return 0;
}

/* Before clone: listen on the socket, and give the container a pipe for its stdin when it is
 * interactive without a TTY. The pipe's read end becomes fd 0, which the child inherits.
 * A failure is reported to box; -1 then means the monitor exits. */
int attach_setup(void) {
  if (!at.path || listen_and_pipe() == 0) return 0;
  status_write("error %d -1 %d create the attach socket `%s`\n", EXIT_ENGINE, errno, at.path);
  return -1;
}

/* After clone, before the child is let go: take the write end of the container's stdin pipe
 * and put /dev/null back on the monitor's own fd 0. */
int attach_after_clone(void) {
  if (!at.path || !at.want_stdin || use_tty) return 0;
  at.stdin_fd = open("/proc/self/fd/0", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (at.stdin_fd < 0) return -1;
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    close(null);
  }
  return 0;
}

void attach_set_master(int master) {
  if (!at.path || master < 0) return;
  at.tty_master = master;
  if (at.want_stdin) {
    at.stdin_fd = master;
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  }
}

static void drop_client(int i) {
  close(clients[i].fd);
  free(clients[i].out);
  clients[i] = clients[--at.n_clients];
}

static int find_client(int fd) {
  for (int i = 0; i < at.n_clients; i++)
    if (clients[i].fd == fd) return i;
  return -1;
}

/* Queue bytes behind what a client has not taken yet; 0, or -1 when it is too far behind. */
static int queue_out(struct client *c, const char *buf, size_t n) {
  if (c->out_len + n > OUT_CAP) return -1;
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + n) cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p) return -1;
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, buf, n);
  c->out_len += n;
  return 0;
}

/* Send one frame to a client now, or queue what does not fit; -1 drops the client. */
static int send_frame(struct client *c, char type, const char *buf, size_t n) {
  unsigned char head[FRAME_HEAD] = {(unsigned char)type, n >> 24, n >> 16, n >> 8, n};
  size_t sent = 0, total = FRAME_HEAD + n;
  if (c->out_len == 0) {
    struct iovec iov[2] = {{.iov_base = head, .iov_len = FRAME_HEAD}, {.iov_base = (void *)buf, .iov_len = n}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t w;
    do w = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL); while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) return -1;
    if (w > 0) sent = w;
    if (sent == total) return 0;
  }
  if (sent < FRAME_HEAD && queue_out(c, (char *)head + sent, FRAME_HEAD - sent) < 0) return -1;
  size_t off = sent > FRAME_HEAD ? sent - FRAME_HEAD : 0;
  return queue_out(c, buf + off, n - off);
}

/* The container's output, as the monitor reads it: to every client. */
void attach_output(const char *stream, const char *buf, size_t n) {
  char type = strcmp(stream, "stderr") ? 1 : 2;
  for (int i = 0; i < at.n_clients; i++)
    if (send_frame(&clients[i], type, buf, n) < 0) drop_client(i--);
}

static int flush_out(struct client *c) {
  while (c->out_len > 0) {
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno == EAGAIN ? 0 : -1;
    memmove(c->out, c->out + w, c->out_len - w);
    c->out_len -= w;
  }
  /* An idle client costs no buffer: the monitor's memory stays at its baseline. */
  free(c->out);
  c->out = NULL;
  c->out_cap = 0;
  return 0;
}

static void close_stdin(void) {
  at.eof_pending = 0;
  if (at.stdin_fd < 0) return;
  if (at.stdin_fd == at.tty_master) {
    /* A pty has no end of input of its own: send the terminal's EOF character, as docker does. */
    ssize_t w = write(at.stdin_fd, "\x04", 1);
    (void)w;
  } else close(at.stdin_fd);
  at.stdin_fd = -1;
}

/* Write client input to the container's stdin; what it cannot take now waits in `pending`. */
static void to_stdin(const char *buf, size_t n) {
  if (at.stdin_fd < 0) return;
  if (at.pending_len == 0) {
    ssize_t w;
    do w = write(at.stdin_fd, buf, n); while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) {
      /* The container closed its stdin: what it is sent from now on goes nowhere. */
      if (at.stdin_fd != at.tty_master) close(at.stdin_fd);
      at.stdin_fd = -1;
      return;
    }
    if (w > 0) {
      buf += w;
      n -= w;
    }
  }
  /* At most one READ_CHUNK is read from clients while nothing is pending, so this fits. */
  if (n > sizeof pending - at.pending_len) n = sizeof pending - at.pending_len;
  memcpy(pending + at.pending_len, buf, n);
  at.pending_len += n;
}

static void flush_stdin(void) {
  if (at.stdin_fd < 0) {
    at.pending_len = 0;
    return;
  }
  ssize_t w;
  do w = write(at.stdin_fd, pending, at.pending_len); while (w < 0 && errno == EINTR);
  if (w < 0 && errno == EAGAIN) return;
  if (w < 0) {
    if (at.stdin_fd != at.tty_master) close(at.stdin_fd);
    at.stdin_fd = -1;
    at.pending_len = 0;
    return;
  }
  memmove(pending, pending + w, at.pending_len - w);
  at.pending_len -= w;
  if (at.pending_len == 0 && at.eof_pending) close_stdin();
}

static void control(struct client *c, unsigned char type) {
  if (type == 'r' && c->small_len == 4 && at.tty_master >= 0) {
    struct winsize ws = {.ws_row = (c->small[0] << 8) | c->small[1], .ws_col = (c->small[2] << 8) | c->small[3]};
    if (ws.ws_row > 0 && ws.ws_col > 0) ioctl(at.tty_master, TIOCSWINSZ, &ws);
  } else if (type == 's' && c->small_len == 1 && c->small[0] >= 1 && c->small[0] <= 64 && child_pid > 0) {
    kill(child_pid, c->small[0]);
  } else if (type == 'e') {
    if (at.pending_len > 0) at.eof_pending = 1;
    else close_stdin();
  }
}

/* Parse what a client sent; -1 when it broke the protocol. */
static int client_bytes(struct client *c, const char *buf, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (c->head_len < FRAME_HEAD) {
      c->head[c->head_len++] = buf[i++];
      if (c->head_len < FRAME_HEAD) continue;
      c->need = (uint32_t)c->head[1] << 24 | (uint32_t)c->head[2] << 16 | (uint32_t)c->head[3] << 8 | c->head[4];
      c->small_len = 0;
      if (c->head[0] != 'i' && c->need > sizeof c->small) return -1;
      if (c->need > 0) continue;
    } else {
      size_t k = n - i < c->need ? n - i : c->need;
      if (c->head[0] == 'i') to_stdin(buf + i, k);
      else {
        memcpy(c->small + c->small_len, buf + i, k);
        c->small_len += k;
      }
      i += k;
      c->need -= k;
      if (c->need > 0) continue;
    }
    if (c->head[0] != 'i') control(c, c->head[0]);
    c->head_len = 0;
  }
  return 0;
}

/* Fill pollfds for the attach socket, the clients and a blocked stdin; returns how many. */
int attach_poll_fds(struct pollfd *fds) {
  int n = 0;
  at.base_listen = at.base_stdin = -1;
  if (at.listen_fd < 0) return 0;
  at.base_listen = n;
  fds[n++] = (struct pollfd){.fd = at.listen_fd, .events = POLLIN};
  if (at.pending_len > 0 && at.stdin_fd >= 0) {
    at.base_stdin = n;
    fds[n++] = (struct pollfd){.fd = at.stdin_fd, .events = POLLOUT};
  }
  for (int i = 0; i < at.n_clients; i++) {
    short ev = (at.pending_len == 0 ? POLLIN : 0) | (clients[i].out_len > 0 ? POLLOUT : 0);
    /* Left out while it has nothing to do: a hung-up client would otherwise wake poll at once
     * (POLLHUP is reported whatever is asked) for as long as the container leaves its stdin unread. */
    if (ev) fds[n++] = (struct pollfd){.fd = clients[i].fd, .events = ev};
  }
  return n;
}

/* Act on what poll reported for the fds attach_poll_fds filled. */
void attach_poll_events(struct pollfd *fds, int n) {
  static char buf[READ_CHUNK];
  if (at.base_stdin >= 0 && fds[at.base_stdin].revents) flush_stdin();
  for (int k = 0; k < n; k++) {
    if (k == at.base_listen || k == at.base_stdin || !fds[k].revents) continue;
    int i = find_client(fds[k].fd);
    if (i < 0) continue;
    struct client *c = &clients[i];
    /* A hang-up shows here too: the send fails and the client goes. */
    if ((fds[k].revents & (POLLOUT | POLLHUP | POLLERR)) && c->out_len > 0 && flush_out(c) < 0) {
      drop_client(i);
      continue;
    }
    if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)) || at.pending_len > 0) continue;
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0 || client_bytes(c, buf, r) < 0) drop_client(i);
  }
  /* Accept last: a client accepted now is not in this round's pollfds. */
  if (at.base_listen >= 0 && (fds[at.base_listen].revents & POLLIN)) {
    for (;;) {
      int fd = accept4(at.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      if (at.n_clients == MAX_CLIENTS) {
        close(fd);
        continue;
      }
      clients[at.n_clients++] = (struct client){.fd = fd};
    }
  }
}

static void stop_listening(void) {
  if (at.listen_fd < 0) return;
  close(at.listen_fd);
  at.listen_fd = -1;
  unlinkat(at.dir_fd, at.name, 0);
  close(at.dir_fd);
  at.dir_fd = -1;
}

/* The container has exited (code >= 0) or never started (code < 0): tell every client its
 * code, give them up to a second to take what is queued, and close the socket. */
void attach_exit(int code) {
  stop_listening();
  if (code >= 0) {
    char c4[4] = {(char)(code >> 24), (char)(code >> 16), (char)(code >> 8), (char)code};
    for (int i = 0; i < at.n_clients; i++)
      if (send_frame(&clients[i], 'x', c4, 4) < 0) drop_client(i--);
  }
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct pollfd fds[MAX_CLIENTS];
    int n = 0;
    for (int i = 0; i < at.n_clients; i++)
      if (clients[i].out_len > 0) fds[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLOUT};
    if (n == 0) break;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = 1000 - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0 || poll(fds, n, left) <= 0) break;
    for (int k = 0; k < n; k++) {
      int i = find_client(fds[k].fd);
      if (i >= 0 && fds[k].revents && flush_out(&clients[i]) < 0) drop_client(i);
    }
  }
  while (at.n_clients > 0) drop_client(at.n_clients - 1);
}
