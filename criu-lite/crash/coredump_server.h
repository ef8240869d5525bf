/* Private to coredump_server.c and coredump_conn.c. */
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

/* Serve one accepted connection; the caller closes fd, which releases the
 * crasher (COREDUMP_WAIT). */
int coredump_conn_serve(int fd, const struct coredump_server_opts *o);

#endif
