/* Private to the crash intake (coredump_server.c, coredump_handler.c,
 * crash_*.c): what is read from /proc while the kernel holds a crashing
 * process, how its core is received, and the steps both intake modes share. */
#ifndef CRIU_LITE_CRASH_H
#define CRIU_LITE_CRASH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "criu-lite/crash/crash_store.h"
#include "images/image.h"

/* crash_record.c: fill ce from /proc/PID (the process is inside its core
 * dump: its memory, maps and fds are still there; ptrace is not usable).
 * Every item is best effort (a warning names what is missing); returns
 * -ESRCH only when the process is gone altogether. */
int crash_record_proc(pid_t pid, CrashEntry *ce);

/* crash_core.c */
struct crash_core_result {
	uint64_t size;		/* bytes received */
	uint64_t expected;	/* end of the last segment, from the headers */
	uint64_t disk;		/* bytes allocated on disk */
};
/* Copy an ELF core from `in` into `name` in dirfd, skipping all-zero
 * blocks (holes), then fsync. Fails with -EPIPE when the stream ends
 * before the end its headers announce (peer gone mid-core), -ETIMEDOUT
 * past `deadline_ms` (CLOCK_MONOTONIC), -EBADMSG for what is no ELF core;
 * each logged once. */
int crash_core_receive(int in, int dirfd, const char *name, long deadline_ms,
		       struct crash_core_result *res);
/* From the core's notes: crashing tid, signal, si_code, fault address. */
int crash_core_summary(int dirfd, const char *name, CrashEntry *ce);

/* crash_intake.c */
struct crash_intake_opts {
	const char *store;
	uint64_t max_size, max_count;	/* retention, 0 = unlimited */
	int timeout_s;			/* hard limit for one crash */
	const char *source;		/* "socket" or "pipe" */
};
/* Record /proc, receive the core from core_fd, publish, apply retention.
 * ce has pid/uid/gid/... set by the caller and is completed here. */
int crash_intake(const struct crash_intake_opts *o, int core_fd, CrashEntry *ce, long deadline_ms);
long crash_now_ms(void);
/* "512M", "2G", "100000": bytes. */
int crash_parse_size(const char *s, uint64_t *out);

#endif
