/* Restore makes a process's TCP connections ahead, on two threads, when
 * the first of them is opened (common/fd/socket_tcp_ahead.c), and the open
 * step takes them in fd order. What it makes must be what the one-by-one
 * path makes, in the same order with the rest (a listener made before the
 * connections binds before them); what it cannot make is made again one
 * call at a time, which says what failed, in one line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/restore_util.h"
#include "test/sk_util.h"

TestSuite(tcp_made_ahead, .fini = rt_kill_leftovers);

/* over the few dozen from which they are made ahead, and the 64 from
 * which their end (the lock removed, criu-lite's copies closed) is on a
 * thread of its own */
#define CONNS 72

struct server {
	char dir[256], img[300], log[320], pidfile[320], err[4096];
	struct target t;
	int port, c[CONNS];
};

/* sk_echo in mode with CONNS clients, each answered once, then dumped
 * (kill: with --kill too). */
static void dumped(struct server *s, const char *mode, const char *tag, bool kill)
{
	char pid[16];

	make_tmpdir(s->dir, sizeof(s->dir), tag);
	snprintf(s->img, sizeof(s->img), "%s/img", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/restore.log", s->dir);
	snprintf(s->pidfile, sizeof(s->pidfile), "%s/pid", s->dir);
	s->port = sk_echo_start(&s->t, mode);
	for (int i = 0; i < CONNS; i++) {
		s->c[i] = sk_client(s->port);
		cr_assert(sk_echoes(s->c[i], "before\n", 5000), "client %d is not answered", i);
	}
	cr_assert_eq(mkdir(s->img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", s->t.pid);
	cr_assert_eq(run_criu_lite(s->err, sizeof(s->err), "dump", "-t", pid, "-D", s->img,
				   "--tcp-established", kill ? "--kill" : NULL, NULL), 0,
		     "dump: %s", s->err);
	if (kill)
		rt_reap(&s->t);
}

/* Restore on two threads whatever the load, logged: the restored root,
 * or 0 when it failed. */
static pid_t restore(struct server *s)
{
	int rc;

	setenv("CRIU_LITE_THREADS", "2", 1);
	rc = run_criu_lite(s->err, sizeof(s->err), "restore", "-D", s->img, "-d",
			   "--tcp-established", "--pidfile", s->pidfile, "-v4", "-o", s->log, NULL);
	unsetenv("CRIU_LITE_THREADS");
	return rc ? 0 : rt_read_pidfile(s->pidfile);
}

/* How many lines of the restore's log have what in them; the first one
 * into s->err. */
static int log_lines(struct server *s, const char *what)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(s->log, "re");

	cr_assert(f, "no log %s", s->log);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what) && !n++)
			snprintf(s->err, sizeof(s->err), "%s", line);
	fclose(f);
	return n;
}

/* The log says made of the CONNS connections were made ahead, off of
 * them out of repair mode at once. */
static void expect_made(struct server *s, int made, int off)
{
	char what[128];

	snprintf(what, sizeof(what), "%d of %d TCP connections made ahead on 2 threads, %d of "
		 "them out of repair mode", made, CONNS, off);
	cr_expect_eq(log_lines(s, what), 1, "the restore's log does not say '%s'", what);
}

static void every_client_answers(struct server *s, const char *when)
{
	char msg[16];

	for (int i = 0; i < CONNS; i++) {
		snprintf(msg, sizeof(msg), "c%d\n", i);
		cr_expect(sk_echoes(s->c[i], msg, 10000), "client %d is not answered %s", i, when);
	}
}

static void done(struct server *s)
{
	for (int i = 0; i < CONNS; i++)
		close(s->c[i]);
	rm_rf(s->dir);
}

/* A listener without SO_REUSEADDR binds its port only while no connection
 * holds it: made first (its fd is lower), as the one-by-one path does.
 * Its clients are outside the tree, behind the network lock: they leave
 * repair mode as they are made, and answer once the lock is gone. */
Test(tcp_made_ahead, connections_of_a_listener_without_reuseaddr_come_back, .timeout = 90)
{
	struct server s;
	pid_t root;

	dumped(&s, "4n", "sk-ahead", true);
	root = restore(&s);
	cr_assert(root > 0, "the restore failed: %s", log_lines(&s, "error:") ? s.err : "?");
	expect_made(&s, CONNS, CONNS);
	cr_expect_eq(log_lines(&s, "sockets' end (the network lock, our copies) on a second "
			       "thread"), 1, "the lock was not removed beside the rebuild");
	every_client_answers(&s, "after restore");
	rt_kill_wait(root);
	done(&s);
}

/* Connections accepted from a listener with SO_REUSEADDR have it too.
 * Repair mode forces reuse on while a connection is made and clears it as
 * it ends: the program's value is set after, so they come back with it,
 * out of repair mode. Their sockets are made by the ring (6.8 on), or
 * (by_ring false: CRIU_LITE_NO_RING_SOCKETS, an older kernel's way) one
 * socket() each. */
static void reuseaddr_back(bool by_ring)
{
	struct server s;
	size_t conns, as_were;
	pid_t root;

	dumped(&s, "4", "sk-reuse", true);
	if (!by_ring)
		setenv("CRIU_LITE_NO_RING_SOCKETS", "1", 1);
	root = restore(&s);
	unsetenv("CRIU_LITE_NO_RING_SOCKETS");
	cr_assert(root > 0, "the restore failed: %s", log_lines(&s, "error:") ? s.err : "?");
	expect_made(&s, CONNS, CONNS);
	cr_expect_eq(log_lines(&s, by_ring ? "their sockets made by the ring" :
			       "their sockets made by socket()"), 1,
		     "the restore's log does not say how the sockets were made");
	sk_conns_as_left(root, &conns, &as_were);
	cr_expect_eq(conns, CONNS, "the restored server holds %zu connections", conns);
	cr_expect_eq(as_were, conns, "%zu of %zu connections in repair mode or without "
		     "SO_REUSEADDR", conns - as_were, conns);
	every_client_answers(&s, "after restore");
	rt_kill_wait(root);
	done(&s);
}

Test(tcp_made_ahead, connections_come_back_with_their_reuseaddr, .timeout = 90)
{
	reuseaddr_back(true);
}

Test(tcp_made_ahead, connections_made_one_socket_call_each_come_back_too, .timeout = 90)
{
	reuseaddr_back(false);
}

/* Dumped without --kill, the server holds every connection still: none
 * can be made again (their addresses are in use), and the restore refuses
 * in one line, leaving the server and its clients as they were. Its
 * listener shares the port (SO_REUSEPORT), so that the connections are
 * what fails. */
Test(tcp_made_ahead, connections_still_held_refuse_in_one_line, .timeout = 90)
{
	struct server s;
	pid_t root;

	dumped(&s, "4p", "sk-held", false);
	root = restore(&s);
	if (root > 0)
		rt_kill_wait(root);
	cr_assert_eq(root, 0, "restored connections the server still holds");
	expect_made(&s, 0, 0);
	cr_expect_eq(log_lines(&s, "error:"), 1, "not one error line in the restore's log");
	cr_expect_eq(log_lines(&s, "TCP connection 127.0.0.1 port"), 1,
		     "the error does not name the connection");
	every_client_answers(&s, "after the refused restore");
	target_kill(&s.t);
	rt_target = 0;
	done(&s);
}
