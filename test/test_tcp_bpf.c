/* A server's TCP connections read by the BPF iterator
 * (common/fd/socket_bpf.c) must dump what the syscalls read of them.
 * CRIU_LITE_TCP_BPF=check reads each connection both ways and says where
 * they differ; the echo server sets an option on each connection it
 * accepts (sk_echo "o": TCP_NODELAY, the keepalive count and times,
 * TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT, TCP_LINGER2 both ways, IP_TTL,
 * IP_MTU_DISCOVER, SO_KEEPALIVE, SO_PRIORITY, SO_RCVLOWAT, SO_RCVBUF,
 * SO_OOBINLINE, SO_TIMESTAMP, SO_LINGER) and one that sock_diag's table
 * shows (IP_TOS or IPV6_TCLASS, SO_MARK, TCP_CONGESTION, IP_FREEBIND,
 * IP_RECVERR, SO_BINDTODEVICE), and every seventh has a signal owner;
 * fdinfo, the stat, the fds' links and the sockets' table entries
 * (socket_tcp_table.c) are compared too. test_tcp_read_ahead.c compares
 * whole images read by BPF with those of the walk's syscalls, with a
 * connection whose bytes queued to send only the syscalls can read. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/image.h"
#include "test/restore_util.h"
#include "test/sk_util.h"

TestSuite(tcp_bpf, .fini = rt_kill_leftovers);

#define CLIENTS 130	/* over the 128 fds from which their links come from BPF too */

/* The dump's log: whether BPF read the connections, whether it listed the
 * TCP sockets (their sock_diag entries), and the first line where it and
 * getsockopt or sock_diag differ ("" when none). */
static bool read_log(const char *log, bool *table, char *differ, size_t len)
{
	char line[512];
	bool bpf = false;
	FILE *f = fopen(log, "re");

	cr_assert(f, "no log %s", log);
	*differ = '\0';
	*table = false;
	while (fgets(line, sizeof(line), f)) {
		bpf |= strstr(line, "read by a BPF iterator") != NULL;
		*table |= strstr(line, "TCP sockets listed by a BPF iterator") != NULL;
		if (!*differ && strstr(line, "by the BPF iterator,"))
			snprintf(differ, len, "%s", line);
	}
	fclose(f);
	return bpf;
}

/* pid's files image in img: its *n entries (img_free_all). */
static FdEntry **files_of(const char *img, pid_t pid, size_t *n)
{
	FdEntry **e = NULL;
	int dirfd = open(img, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	cr_assert_geq(dirfd, 0);
	cr_assert_eq(img_read_all(dirfd, IMG_FILES, pid, true, NULL, (void ***)&e, n), 0);
	close(dirfd);
	return e;
}

/* The connections of pid's files image with TCP_USER_TIMEOUT 12345 and
 * with SO_PRIORITY 3, as the server set one in sixteen of each. */
static void count_options(const char *img, pid_t pid, size_t *timeout, size_t *prio)
{
	size_t n = 0;
	FdEntry **e = files_of(img, pid, &n);

	*timeout = *prio = 0;
	for (size_t i = 0; i < n; i++) {
		const SkOpts *o = e[i]->sock && e[i]->sock->tcp ? e[i]->sock->opts : NULL;

		*timeout += o && o->has_tcp_user_timeout && o->tcp_user_timeout == 12345;
		*prio += o && o->has_priority && o->priority == 3;
	}
	img_free_all((void **)e, n);
}

static void reads_what_getsockopt_reads(const char *mode, int family)
{
	char dir[256], img[300], log[320], pids[16], err[4096], differ[512];
	struct target t;
	int c[CLIENTS], port;
	size_t timeout, prio;
	bool table;

	make_tmpdir(dir, sizeof(dir), "sk-bpf");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	cr_assert_eq(mkdir(img, 0700), 0);
	port = sk_echo_start(&t, mode);
	for (int i = 0; i < CLIENTS; i++) {
		cr_assert_eq(sk_connect(family, port, &c[i]), 0, "connect: %m");
		cr_assert(sk_echoes(c[i], "hello\n", WAIT_MS), "client %d: no echo", i);
	}
	snprintf(pids, sizeof(pids), "%d", t.pid);
	setenv("CRIU_LITE_TCP_BPF", "check", 1);
	setenv("CRIU_LITE_TCP_PREFETCH", "1", 1);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pids, "-D", img, "-v4", "-o",
				   log, NULL), 0, "dump: %s", err);
	unsetenv("CRIU_LITE_TCP_BPF");
	unsetenv("CRIU_LITE_TCP_PREFETCH");
	cr_expect(read_log(log, &table, differ, sizeof(differ)), "BPF did not read the connections");
	cr_expect(table, "BPF did not list the TCP sockets");
	cr_expect_str_empty(differ, "%s", differ);
	count_options(img, t.pid, &timeout, &prio);
	cr_expect_geq(timeout, CLIENTS / 16, "%zu connections with their TCP_USER_TIMEOUT", timeout);
	cr_expect_geq(prio, CLIENTS / 16, "%zu connections with their SO_PRIORITY", prio);
	/* and the server runs on with them */
	cr_expect(sk_echoes(c[0], "again\n", WAIT_MS), "no echo after the dump");
	for (int i = 0; i < CLIENTS; i++)
		close(c[i]);
	target_kill(&t);
	rm_rf(dir);
}

Test(tcp_bpf, reads_what_getsockopt_reads_v4, .timeout = 60)
{
	reads_what_getsockopt_reads("4o", AF_INET);
}

Test(tcp_bpf, reads_what_getsockopt_reads_v6, .timeout = 60)
{
	reads_what_getsockopt_reads("6o", AF_INET6);
}

/* A connection the server holds only in flight in a UNIX queue of its own
 * (sk_echo "f") is not in its fd table, which is where the BPF iterator
 * lists the TCP sockets the dump looks up: the dump must still find it in
 * sock_diag's table (its queues and shutdown state are said there). */
Test(tcp_bpf, connection_in_flight_found_beside_the_bpf_table, .timeout = 60)
{
	char dir[256], img[300], log[320], pids[16], err[4096], differ[512];
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	struct target t;
	int c[3], port, found = 0;
	FdEntry **e;
	size_t n = 0;
	bool table;

	make_tmpdir(dir, sizeof(dir), "sk-bpf-flight");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	cr_assert_eq(mkdir(img, 0700), 0);
	port = sk_echo_start(&t, "4f");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(sk_connect(AF_INET, port, &c[i]), 0, "connect: %m");
	/* accepted in order: the second's echo says the first is in flight */
	cr_assert(sk_echoes(c[1], "hello\n", WAIT_MS), "no echo");
	cr_assert(sk_echoes(c[2], "hello\n", WAIT_MS), "no echo");
	cr_assert_eq(getsockname(c[0], (struct sockaddr *)&me, &ml), 0);
	snprintf(pids, sizeof(pids), "%d", t.pid);
	setenv("CRIU_LITE_TCP_BPF", "1", 1);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pids, "-D", img, "-v4", "-o",
				   log, NULL), 0, "dump: %s", err);
	unsetenv("CRIU_LITE_TCP_BPF");
	read_log(log, &table, differ, sizeof(differ));
	cr_expect(table, "BPF did not list the TCP sockets");
	e = files_of(img, t.pid, &n);
	for (size_t i = 0; i < n; i++) {
		const SocketInfo *si = e[i]->sock;

		for (size_t q = 0; si && q < si->n_queue; q++)
			for (size_t k = 0; k < si->queue[q]->n_rights; k++) {
				const SocketInfo *in = si->queue[q]->rights[k]->sock;

				/* (the queues' lengths and the shutdown state are
				 * sock_diag's to say) */
				found += in && in->family == AF_INET && in->has_state &&
					 in->state == 1 && in->has_wqueue && in->has_shutdown &&
					 in->peer &&
					 in->peer->port == ntohs(me.sin_port) && in->local &&
					 (int)in->local->port == port;
			}
	}
	img_free_all((void **)e, n);
	cr_expect_eq(found, 1, "the connection in flight, with what sock_diag says of it: %d", found);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	target_kill(&t);
	rm_rf(dir);
}
