/* Private to coredump_server.c, coredump_conn.c and coredump_pattern.c. */
#ifndef CRIU_LITE_COREDUMP_SERVER_H
#define CRIU_LITE_COREDUMP_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct coredump_server_opts {
	const char *store;
	const char *socket;
	bool install;
	uint64_t max_size, max_count;
	int timeout_s;		/* hard limit for one crash, from accept to close */
	int max_conns;		/* crashes served at once */
	pid_t only_pid;		/* REJECT every other crash (tests, targeted debugging) */
};

#define COREDUMP_PATTERN_MAX	128	/* CORENAME_MAX_SIZE */

/* coredump_pattern.c: core_pattern, NUL-terminated without its newline. */
int coredump_pattern_read(char *buf, size_t len);
/* Set ours, after leaving a watcher that puts old back when this process
 * is gone however it went (SIGKILL included), if ours is still there.
 * 0 or -errno (logged). */
int coredump_pattern_install(const char *old, const char *ours);
/* old back if ours is still there: 0, -EBUSY (someone else's), -errno. */
int coredump_pattern_put_back(const char *old, const char *ours);

/* Serve one accepted connection; the caller closes fd, which releases the
 * crasher (COREDUMP_WAIT). */
int coredump_conn_serve(int fd, const struct coredump_server_opts *o);

#endif
