#include <errno.h>

#include "criu-lite/dump.h"
#include "criu-lite/commands.h"

/* Placeholder until this module lands. */
int sigstate_fill_proc(pid_t pid, ProcEntry *pe) { (void)pid; (void)pe; return -ENOSYS; }
int sigstate_fill_thread(pid_t tid, ThreadEntry *te) { (void)tid; (void)te; return -ENOSYS; }
