#include <errno.h>

#include "criu-lite/dump.h"
#include "criu-lite/commands.h"

/* Placeholder until this module lands. */
int regs_dump_thread(pid_t pid, pid_t tid, ThreadEntry **out) { (void)pid; (void)tid; (void)out; return -ENOSYS; }
