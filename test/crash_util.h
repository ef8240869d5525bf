/* Shared by the crash suites: core_pattern guarded (one test at a time holds
 * it, a detached watchdog puts it back should the test die), the crasher
 * target, and coredump-server run in the background. */
#ifndef TEST_CRASH_UTIL_H
#define TEST_CRASH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "test/helpers.h"

#define PATTERN_FILE "/proc/sys/kernel/core_pattern"
#define PATTERN_LOCK "/tmp/criu-lite-core-pattern.lock"

struct guard {
	char old[256], ours[256];
	int lock;
};

void pattern_read(char *buf, size_t len);
int pattern_write(const char *v);
void put_back_if_ours(const char *old, const char *ours);
/* Detached: puts old back, if ours is still there, once this test process ends. */
void watchdog(const char *old, const char *ours);
/* Take the lock and note the pattern there; guard_set writes ours (after a
 * watchdog); guard_end puts the old one back if ours is still there. */
void guard_begin(struct guard *g);
void guard_set(struct guard *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void guard_end(struct guard *g);

long now_ms(void);
/* crash_segv, filling mib MiB first; it crashes on SIGUSR1. */
void crasher_start(struct target *t, const char *mib);
/* Wait (bounded) for pid to end; its wait status, or -1 on timeout. */
int wait_end(pid_t pid, int ms);
/* Does the file at path come to hold `what` within ms? */
bool file_has(const char *path, const char *what, int ms);
/* coredump-server with args (NULL-terminated); stdout+stderr to log; it
 * dies with us. Returns once it serves. */
pid_t server_start(const char *log, ...);
/* SIGTERM, bounded wait (SIGKILL after): its wait status. */
int server_stop(pid_t pid);

#endif
