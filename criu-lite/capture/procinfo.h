/* Private to procinfo*.c. */
#ifndef CRIU_LITE_PROCINFO_H
#define CRIU_LITE_PROCINFO_H

#include <sys/types.h>

#include "images/image.h"

/* procinfo_creds.c: ids from status, capabilities via libcap (inheritable,
 * permitted, effective) and status (bounding, ambient), no_new_privs and
 * the seccomp mode. `status` is /proc/PID/status's text. */
int procinfo_creds(pid_t pid, const char *status, CredsEntry **out);

#endif
