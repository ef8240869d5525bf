/* The network lock (common/fd/socket_lock.c) as a user sees it: what `nft
 * list ruleset` shows (read here with libnftables, which made the lock
 * before criu-lite built its own messages), packets of a locked port
 * answered by nothing (no reset, no refusal) until restore, and a dumper
 * SIGKILLed while it holds its own lock leaving none behind, nor any
 * connection in repair mode. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/restore_util.h"
#include "test/sk_util.h"

TestSuite(sk_lock, .fini = rt_kill_leftovers);

/* The table of `nft list ruleset` whose set holds 127.0.0.1 . port, as nft
 * prints it (to free), or NULL. */
static char *lock_table(int port)
{
	struct nft_ctx *n = nft_ctx_new(NFT_CTX_DEFAULT);
	char key[32], *all, *r = NULL;

	cr_assert(n);
	nft_ctx_buffer_output(n);
	nft_ctx_buffer_error(n);
	cr_assert_eq(nft_run_cmd_from_buffer(n, "list ruleset"), 0, "%s",
		     nft_ctx_get_error_buffer(n));
	all = strdup(nft_ctx_get_output_buffer(n));
	nft_ctx_free(n);
	cr_assert(all);
	snprintf(key, sizeof(key), "127.0.0.1 . %d", port);
	for (char *t = all, *next; t && *t && !r; t = next) {
		size_t len;

		next = strstr(t + 1, "\ntable ");
		len = next ? (size_t)(next - t) : strlen(t);
		for (char *k = t; (k = strstr(k, key)) && k < t + len; k++)
			if (!isdigit((unsigned char)k[strlen(key)])) {
				r = strndup(t, len);
				break;
			}
	}
	free(all);
	return r;
}

static int so_error(int fd)
{
	int e = 0;
	socklen_t l = sizeof(e);

	getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
	return e;
}

static void locked_until_restore(const char *mode)
{
	char dir[256], img[300], err[4096], pid[16], buf[8] = "", *tbl;
	struct target t;
	struct rt_run r;
	int port, c, late;
	pid_t root;

	make_tmpdir(dir, sizeof(dir), "sk-lock");
	snprintf(img, sizeof(img), "%s/img", dir);
	c = sk_echo_client(&t, mode, &port);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill",
				   "--tcp-established", NULL), 0, "dump: %s", err);
	rt_reap(&t);
	/* the port, both ways, in a table that outlives the dump (no owner);
	 * what criu-lite injects (marked) passes */
	tbl = lock_table(port);
	cr_assert(tbl, "no table of the ruleset locks port %d", port);
	cr_expect(strstr(tbl, "hook input priority raw") && strstr(tbl, "hook output priority raw") &&
		  strstr(tbl, "meta mark 0x0000c1e0 accept") &&
		  strstr(tbl, "ip daddr . tcp dport @l4 drop") &&
		  strstr(tbl, "ip saddr . tcp sport @l4 drop") &&
		  strstr(tbl, "ip6 daddr . tcp dport @l6 drop") &&
		  strstr(tbl, "ip6 saddr . tcp sport @l6 drop") && !strstr(tbl, "owner"),
		  "the lock is not what it should be:\n%s", tbl);
	free(tbl);
	/* the server is gone: without the lock our kernel would reset both */
	cr_expect_eq(send(c, "during\n", 7, MSG_NOSIGNAL), 7);
	cr_expect_eq(sk_wait(c, POLLIN, 1500), 0, "the locked connection was answered: %s",
		     strerror(so_error(c)));
	late = sk_client_with(port, SOCK_NONBLOCK, 0);
	cr_expect_eq(sk_wait(late, POLLOUT, 1500), 0, "a new client of the locked port was "
		     "answered: %s", strerror(so_error(late)));
	rt_restore_start(&r, dir, "-D", img, "--tcp-established", NULL);
	root = rt_restored_root(&r, "restore");
	/* what was sent while locked was kept by the peer and sent again */
	cr_expect(sk_wait(c, POLLIN, 20000) && read(c, buf, 7) == 7 && !memcmp(buf, "during\n", 7),
		  "what was sent while locked is not answered after restore");
	cr_expect(sk_echoes(c, "after\n", 10000), "the connection does not answer after restore");
	/* the new client's SYN, sent again, reaches the restored listener */
	cr_expect(sk_wait(late, POLLOUT, 20000) && !so_error(late),
		  "the client that came while locked did not connect after restore: %s",
		  strerror(so_error(late)));
	cr_expect_eq(fcntl(late, F_SETFL, 0), 0);
	cr_expect(sk_echoes(late, "late\n", 10000),
		  "the client that came while locked is not answered");
	tbl = lock_table(port);
	cr_expect_null(tbl, "the restore left the lock:\n%s", tbl);
	free(tbl);
	close(c);
	close(late);
	rt_kill_wait(root);
	rt_restore_finish(&r, err, sizeof(err));
	rm_rf(dir);
}

Test(sk_lock, a_locked_port_answers_nothing_until_restore, .timeout = 120)
{
	locked_until_restore("4");
}

/* A server's IPv6 socket on an IPv4 address: its packets are IPv4 ones,
 * and the lock must match them as such. */
Test(sk_lock, an_ipv6_socket_on_ipv4_is_locked_too, .timeout = 120)
{
	locked_until_restore("m");
}

/* The first step (CRIU_LITE_FAULT=list) a plain dump passes while its
 * own lock is made and not yet released, from its -v4 log; 0 if none. */
static int step_under_lock(const char *log)
{
	const char *made = strstr(log, "network lock criu_lite_dump_"), *s, *released;
	int n = 0;

	if (!made || !strstr(made, " made"))
		return 0;
	released = strstr(made, " released");
	s = strstr(made, "fault step ");
	if (s && released && s < released)
		sscanf(s, "fault step %d", &n);
	return n;
}

Test(sk_lock, a_dumper_killed_holding_its_lock_leaves_no_lock, .timeout = 120)
{
	char dir[256], img[300], err[16384], pid[16], fault[32], *tbl;
	struct run_in in = { 0 };
	struct target t;
	int port, c, step, st;

	make_tmpdir(dir, sizeof(dir), "sk-lock-kill");
	snprintf(img, sizeof(img), "%s/img", dir);
	c = sk_echo_client(&t, "4", &port);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	cr_assert_eq(mkdir(img, 0700), 0);
	cr_assert_eq(setenv("CRIU_LITE_FAULT", "list", 1), 0);
	st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "-v4", NULL);
	cr_assert_eq(st, 0, "dump: %s", err);
	step = step_under_lock(err);
	cr_assert_gt(step, 0, "no step of the dump under its network lock:\n%s", err);
	rm_rf(img);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(fault, sizeof(fault), "die@%d", step);
	cr_assert_eq(setenv("CRIU_LITE_FAULT", fault, 1), 0);
	st = run_criu_lite_in(&in, err, sizeof(err), "dump", "-t", pid, "-D", img, NULL);
	unsetenv("CRIU_LITE_FAULT");
	cr_assert_eq(st, 128 + SIGKILL, "the dump was not killed at step %d: %d: %s", step, st,
		     err);
	/* the kernel removed the table with the dead dumper's socket */
	tbl = lock_table(port);
	cr_expect_null(tbl, "the killed dumper (pid %d) left its lock:\n%s", in.pid, tbl);
	free(tbl);
	/* and the server goes on with the same connection */
	cr_expect(sk_echoes(c, "after\n", 10000),
		  "the connection does not answer after the dumper died");
	close(c);
	target_kill(&t);
	rt_target = 0;
	rm_rf(dir);
}

/* The echo server with n clients c, each answered once; dir (256 bytes) a
 * new directory for the test, img (300) its images' within. Its port. */
static int serving(struct target *t, const char *tag, char *dir, char *img, int *c, int n)
{
	int port;

	make_tmpdir(dir, 256, tag);
	snprintf(img, 300, "%s/img", dir);
	cr_assert_eq(mkdir(img, 0700), 0);
	port = sk_echo_start(t, "4");
	for (int i = 0; i < n; i++) {
		c[i] = sk_client(port);
		cr_assert(sk_echoes(c[i], "before\n", 5000), "client %d is not answered", i);
	}
	return port;
}

/* The server's n connections (its clients c, closed here) as a dump that
 * went wrong (`what`) must leave them: out of repair mode with SO_REUSEADDR
 * as accepted, the lock gone (within 10 s: a guardian takes them back
 * once criu-lite is gone), each one answering. */
static void left_as_they_were(pid_t server, int port, int *c, int n, const char *what)
{
	size_t conns = 0, as_were = 0;
	char *tbl;

	for (int ms = 0; ms < 10000; ms += 10) {
		sk_conns_as_left(server, &conns, &as_were);
		if (as_were == conns)
			break;
		poll(NULL, 0, 10);
	}
	cr_expect_eq(conns, (size_t)n, "the server holds %zu connections", conns);
	cr_expect_eq(as_were, conns, "%zu of %zu connections left in repair mode or without "
		     "SO_REUSEADDR", conns - as_were, conns);
	for (int ms = 0; (tbl = lock_table(port)) && ms < 10000; ms += 10) {
		free(tbl);
		poll(NULL, 0, 10);
	}
	cr_expect_null(tbl, "the lock is left after %s:\n%s", what, tbl);
	free(tbl);
	for (int i = 0; i < n; i++) {
		cr_assert(sk_echoes(c[i], "after\n", 10000), "client %d is not answered after %s",
			  i, what);
		close(c[i]);
	}
}

/* criu-lite SIGKILLed at the step named `where` (CRIU_LITE_FAULT=die@WHERE),
 * with the server's n connections in repair mode: being read (from 32 on,
 * ahead on two threads; below, one by one; by syscalls: the BPF iterator,
 * CRIU_LITE_TCP_BPF, reads without repair mode) or silenced for a --kill, the
 * lock for restore made. The guardian takes them out, as the dump would
 * have, and removes that lock (the server was not killed): each answers
 * again, out of repair mode with SO_REUSEADDR as accepted. */
static void killed_in_repair(const char *where, int n, bool kill)
{
	char dir[256], img[300], err[16384], pid[16], fault[128];
	struct target t;
	int port, c[40], st;

	cr_assert_leq(n, 40);
	port = serving(&t, "sk-repair-kill", dir, img, c, n);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	snprintf(fault, sizeof(fault), "die@%s", where);
	cr_assert_eq(setenv("CRIU_LITE_FAULT", fault, 1), 0);
	if (!kill)
		setenv("CRIU_LITE_TCP_BPF", "0", 1);
	st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--tcp-established",
			   kill ? "--kill" : NULL, NULL);
	unsetenv("CRIU_LITE_FAULT");
	unsetenv("CRIU_LITE_TCP_BPF");
	cr_assert_eq(st, 128 + SIGKILL, "the dump was not killed at '%s': %d: %s", where, st, err);
	/* the guardian works once criu-lite is gone: until then, some are in */
	left_as_they_were(t.pid, port, c, n, "the dumper died");
	target_kill(&t);
	rt_target = 0;
	rm_rf(dir);
}

Test(sk_lock, a_dumper_killed_reading_connections_leaves_them_working, .timeout = 120)
{
	killed_in_repair("tcp: connections read in repair mode", 40, false);
}

Test(sk_lock, a_dumper_killed_reading_one_connection_leaves_it_working, .timeout = 120)
{
	killed_in_repair("tcp: a connection read in repair mode", 2, false);
}

Test(sk_lock, a_dumper_killed_before_its_kill_leaves_the_connections_working, .timeout = 120)
{
	killed_in_repair("tcp: connections silenced for the kill, their lock kept", 40, true);
}

/* dump --kill of a server with more connections than the dump silences on
 * a thread of its own while it checks the tree (socket_tcp_dump.c), made
 * to fail after its checks (a failed write of its images): the tree runs
 * on, each connection out of repair mode again with SO_REUSEADDR as
 * accepted, answering, and no lock is left. */
#define MANY 260

Test(sk_lock, a_kill_that_fails_after_its_checks_leaves_the_connections_working,
     .timeout = 120)
{
	char dir[256], img[300], err[16384], pid[16];
	struct target t;
	int port, c[MANY], st;

	port = serving(&t, "sk-kill-fails", dir, img, c, MANY);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	cr_assert_eq(setenv("CRIU_LITE_FAULT", "fail@dump: images written, inventory next", 1),
		     0);
	setenv("CRIU_LITE_THREADS", "2", 1);
	st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill",
			   "--tcp-established", NULL);
	unsetenv("CRIU_LITE_FAULT");
	unsetenv("CRIU_LITE_THREADS");
	cr_assert_neq(st, 0, "the dump did not fail");
	cr_assert(strstr(err, "fault injected"), "%s", err);
	cr_assert_eq(kill(t.pid, 0), 0, "the server was killed all the same");
	left_as_they_were(t.pid, port, c, MANY, "the dump failed");
	target_kill(&t);
	rt_target = 0;
	rm_rf(dir);
}
