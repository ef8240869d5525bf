/* Private to capture/: procinfo*.c, ptimers.c, procstate.c. */
#ifndef CRIU_LITE_PROCINFO_H
#define CRIU_LITE_PROCINFO_H

#include <sys/types.h>

#include "images/image.h"

/* procinfo_creds.c: ids from status, capabilities via libcap (inheritable,
 * permitted, effective) and status (bounding, ambient), no_new_privs and
 * the seccomp mode. `status` is /proc/PID/status's text. */
int procinfo_creds(pid_t pid, const char *status, CredsEntry **out);

/* ptimers.c: the POSIX timers into pe->posix_timers (a sigstate_begin is in
 * effect: their time left is asked of the process). */
int ptimers_fill(pid_t pid, ProcEntry *pe);

#endif
