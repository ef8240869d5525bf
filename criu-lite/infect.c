#include <errno.h>

#include "criu-lite/infect.h"

/* Placeholder until this module lands. */
int infect_start(struct infect *inf, pid_t tid) { (void)inf; (void)tid; return -ENOSYS; }
int infect_syscall(struct infect *inf, long nr, uint64_t *ret, uint64_t a1, uint64_t a2,
		   uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{ (void)inf; (void)nr; (void)ret; (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; return -ENOSYS; }
int infect_map_scratch(struct infect *inf, size_t len) { (void)inf; (void)len; return -ENOSYS; }
int infect_stop(struct infect *inf) { (void)inf; return -ENOSYS; }
