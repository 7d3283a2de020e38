/*
 * Installing the container's seccomp filter. box compiles the profile to classic BPF (the plan's
 * `seccomp` operation carries the struct sock_filter array in hex); the shim only decides when
 * to hand it to the kernel.
 */
#include "shim.h"
#include "seccomp.h"

/* linux/filter.h and linux/seccomp.h, spelled out for musl builds without kernel headers. */
struct bpf_insn {
  uint16_t code;
  uint8_t jt;
  uint8_t jf;
  uint32_t k;
};
struct bpf_prog {
  unsigned short len;
  struct bpf_insn *filter;
};
#ifndef SECCOMP_MODE_FILTER
#define SECCOMP_MODE_FILTER 2
#endif
#define MAX_INSNS 4096

static struct bpf_insn program[MAX_INSNS];
static int program_len;
static int installed;

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void seccomp_load(const char *hex) {
  size_t n = strlen(hex);
  if (n == 0 || n % 16 != 0 || n / 16 > MAX_INSNS) child_fail(EXIT_ENGINE, EINVAL, "plan: seccomp program of %zu hex digits", n);
  unsigned char *out = (unsigned char *)program;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
    if (hi < 0 || lo < 0) child_fail(EXIT_ENGINE, EINVAL, "plan: seccomp program is not hex");
    out[i / 2] = (unsigned char)(hi << 4 | lo);
  }
  /* The bytes are already in the kernel's layout: box encodes little-endian for x86_64. */
  program_len = (int)(n / 16);
}

static void install(void) {
  struct bpf_prog prog = {.len = (unsigned short)program_len, .filter = program};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) child_fail(EXIT_ENGINE, errno, "install the seccomp filter");
  installed = 1;
}

/* Without no_new_privs the kernel accepts a filter only from a task holding CAP_SYS_ADMIN, so
 * it goes in before the privileges are dropped (runc's order). What the shim still does after it
 * (setgroups, setuid, capset, close_range, execve) is allowed by docker's profile; a custom
 * profile that forbids those fails the start, as it does with runc. */
void seccomp_before_privileges(void) {
  if (program_len > 0 && !installed && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) install();
}

/* With no_new_privs set the filter needs no privilege: install it last, so that nothing the shim
 * does is subject to it. */
void seccomp_before_exec(void) {
  if (program_len > 0 && !installed) install();
}
