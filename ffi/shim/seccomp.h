/* seccomp.c: the container's syscall filter, compiled by box (core/runtime/seccomp/). */
#ifndef BOX_SHIM_SECCOMP_H
#define BOX_SHIM_SECCOMP_H

void seccomp_load(const char *hex);
void seccomp_before_privileges(void);
void seccomp_before_exec(void);

#endif
