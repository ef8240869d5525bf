/* Sockets through dump --kill and restore, checked by the programs that
 * hold them: each target sets its sockets up, is dumped and killed, comes
 * back, and then goes on using every socket as it would have (reads what
 * was queued, accepts who was waiting, talks to its peers) and prints one
 * line per case. Peers outside the tree are the test itself. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "images/image.h"
#include "test/restore_util.h"
#include "test/sk_util.h"

TestSuite(sockets, .fini = rt_kill_leftovers);

/* What the restored tree printed up to its DONE line: OK lines counted,
 * FAIL lines kept. */
struct outcome {
	int ok;
	char fails[2048];
	bool done;
};

static void collect(struct rt_run *r, struct outcome *o)
{
	char line[512];

	memset(o, 0, sizeof(*o));
	while (target_read_line(&r->out, line, sizeof(line), 30000)) {
		if (!strncmp(line, "OK ", 3))
			o->ok++;
		else if (strlen(o->fails) + strlen(line) + 2 < sizeof(o->fails))
			strcat(strcat(o->fails, line), "\n");
		if (!strncmp(line, "DONE", 4)) {
			o->done = true;
			break;
		}
	}
}

static void touch(const char *path)
{
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", path), 0);
}

Test(sockets, unix_sockets_in_every_state_come_back, .timeout = 90)
{
	char dir[256], img[300], go[300], err[4096];
	struct outcome o;
	struct target t;
	struct rt_run r;
	pid_t child;

	make_tmpdir(dir, sizeof(dir), "sk-unix");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("sk_unix"), dir, go, NULL);
	child = (pid_t)target_ready_u64(&t, "child");
	rt_dump_kill(&t, img);
	/* the child is reaped by whoever inherits it: its pid must be free */
	for (int i = 0; i < 500 && kill(child, 0) == 0; i++)
		usleep(10000);

	rt_restore_start(&r, dir, "-D", img, NULL);
	rt_restored_root(&r, "no pidfile from the restore");
	touch(go);
	collect(&r, &o);
	cr_expect(o.done, "the restored program did not finish its checks");
	cr_expect_eq(o.ok, 18, "%d of 18 cases came back; failed:\n%s", o.ok, o.fails);
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

static int unix_socket(int type, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert_geq(s, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path,
		     strerror(errno));
	if (type == SOCK_STREAM)
		cr_assert_eq(listen(s, 4), 0);
	return s;
}

/* sk_unix_ext (in dir/img's dir, going on at go) connected to a stream
 * server and a datagram log socket of ours, bound at srv and log: c is the
 * server's end of its connection (accepted, not checked), st its fd's
 * number in the program, pid its pid as text for dump -t. */
struct ext {
	char dir[256], img[300], go[300], srv[300], log[300], pid[16];
	struct target t;
	int ls, lg, c, st;
};

static void ext_start(struct ext *x, const char *tag)
{
	make_tmpdir(x->dir, sizeof(x->dir), tag);
	snprintf(x->img, sizeof(x->img), "%s/img", x->dir);
	snprintf(x->go, sizeof(x->go), "%s/go", x->dir);
	snprintf(x->srv, sizeof(x->srv), "%s/srv", x->dir);
	snprintf(x->log, sizeof(x->log), "%s/log", x->dir);
	x->ls = unix_socket(SOCK_STREAM, x->srv);
	x->lg = unix_socket(SOCK_DGRAM, x->log);
	rt_start(&x->t, target_path("sk_unix_ext"), x->go, x->srv, x->log, NULL);
	x->c = accept(x->ls, NULL, NULL);
	x->st = (int)target_ready_u64(&x->t, "stream");
	snprintf(x->pid, sizeof(x->pid), "%d", x->t.pid);
}

static void ext_end(struct ext *x)
{
	close(x->ls);
	close(x->lg);
	rm_rf(x->dir);
}

/* A program connected to a server and to a log socket of ours: without
 * --ext-unix-sk, dump --kill refuses and names the fd; with it, the
 * restored program reaches both again. */
Test(sockets, unix_peers_outside_the_tree_need_ext_unix_sk, .timeout = 90)
{
	char err[4096], buf[16], line[256];
	struct rt_run r;
	struct ext x;
	pid_t root;

	ext_start(&x, "sk-ext");
	cr_assert_geq(x.c, 0);

	cr_assert_eq(mkdir(x.img, 0700), 0);
	cr_expect_neq(run_criu_lite(err, sizeof(err), "dump", "-t", x.pid, "-D", x.img, "--kill",
				    NULL), 0, "dump --kill of a tree with outside peers succeeded");
	snprintf(buf, sizeof(buf), "fd %d", x.st);
	cr_expect(strstr(err, buf) && strstr(err, x.srv) && strstr(err, "--ext-unix-sk"),
		  "the refusal does not name fd %d, its peer and the option: %s", x.st, err);
	cr_expect_eq(kill(x.t.pid, 0), 0, "dump --kill killed a tree it refused");

	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", x.pid, "-D", x.img, "--kill",
				   "--ext-unix-sk", NULL), 0, "dump --kill --ext-unix-sk: %s", err);
	rt_reap(&x.t);
	cr_expect(sk_readable(x.c, 5000) && read(x.c, buf, sizeof(buf)) == 0,
		  "the old connection did not end with the dumped program");
	close(x.c);

	rt_restore_start(&r, x.dir, "-D", x.img, NULL);
	cr_assert_neq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore without the option");
	cr_expect(strstr(err, x.srv) && strstr(err, "--ext-unix-sk"), "unclear refusal: %s", err);

	rt_restore_start(&r, x.dir, "-D", x.img, "--ext-unix-sk", NULL);
	root = rt_restored_root(&r, "no pidfile from the restore");
	touch(x.go);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 20000), "no output");
	cr_expect_str_eq(line, "DONE");
	cr_assert(sk_readable(x.ls, 5000), "the restored program did not connect again");
	x.c = accept(x.ls, NULL, NULL);
	cr_expect(sk_readable(x.c, 5000) && read(x.c, buf, 5) == 5 && !memcmp(buf, "again", 5));
	cr_expect(sk_readable(x.lg, 5000) && recv(x.lg, buf, sizeof(buf), 0) == 5 &&
		  !memcmp(buf, "again", 5), "nothing on the log socket");
	rt_kill_wait(root);
	rt_restore_finish(&r, err, sizeof(err));
	close(x.c);
	ext_end(&x);
}

/* ---- TCP inside the tree ---- */

static long last_at(const char *line)
{
	return !strncmp(line, "AT ", 3) ? atol(line + 3) : -1;
}

/* Read the exchange's lines until it passed `want`; false on FAIL. */
static bool exchange_passes(struct target *out, long want, long *at, char *bad, size_t len)
{
	char line[512];

	while (target_read_line(out, line, sizeof(line), 30000)) {
		if (!strncmp(line, "FAIL", 4)) {
			snprintf(bad, len, "%s", line);
			return false;
		}
		if (last_at(line) >= 0)
			*at = last_at(line);
		if (*at >= want)
			return true;
	}
	snprintf(bad, len, "no progress past %ld", *at);
	return false;
}

static void tcp_exchange(const char *fam)
{
	char dir[256], img[300], go[300], err[4096], bad[512], line[512];
	pid_t root, kids[2];
	struct outcome o;
	struct target t;
	struct rt_run r;
	long at = 0, before;
	int c, port;

	make_tmpdir(dir, sizeof(dir), "sk-tcp");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("sk_tcp"), fam, go, NULL);
	kids[0] = (pid_t)target_ready_u64(&t, "client");
	kids[1] = (pid_t)target_ready_u64(&t, "server");
	port = (int)target_ready_u64(&t, "port");
	cr_assert(exchange_passes(&t, 1 << 20, &at, bad, sizeof(bad)), "before the dump: %s", bad);
	rt_dump_kill(&t, img);
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 500 && kill(kids[i], 0) == 0; k++)
			usleep(10000);
	before = at;

	rt_restore_start(&r, dir, "-D", img, NULL);
	root = rt_restored_root(&r, "no pidfile from the restore");
	at = 0;
	cr_expect(exchange_passes(&r.out, before + (4 << 20), &at, bad, sizeof(bad)),
		  "after the restore (dumped at %ld): %s", before, bad);
	touch(go);
	memset(&o, 0, sizeof(o));
	while (target_read_line(&r.out, line, sizeof(line), 30000) && strcmp(line, "CHECKED")) {
		if (!strncmp(line, "OK ", 3))
			o.ok++;
		else if (!strncmp(line, "FAIL", 4))
			strncat(o.fails, line, sizeof(o.fails) - strlen(o.fails) - 2);
	}
	cr_expect_eq(o.ok, 6, "%d of 6 side cases came back: %s", o.ok, o.fails);
	cr_expect_eq(sk_connect(fam[0] == '6' ? AF_INET6 : AF_INET, port, &c), 0);
	cr_expect(sk_readable(c, 5000) && read(c, line, 3) == 3 && !memcmp(line, "hi\n", 3),
		  "the restored listener does not accept");
	close(c);
	kill(kids[0], SIGKILL);
	kill(kids[1], SIGKILL);
	rt_kill_wait(root);
	rt_restore_finish(&r, err, sizeof(err));
	rm_rf(dir);
}

Test(sockets, tcp_exchange_in_the_tree_goes_on_without_a_gap, .timeout = 120)
{
	tcp_exchange("4");
}

Test(sockets, tcp6_exchange_in_the_tree_goes_on_without_a_gap, .timeout = 120)
{
	tcp_exchange("6");
}

/* Every connection read ahead on two threads (socket_tcp_pre.c), megabytes
 * in flight both ways. */
Test(sockets, tcp_exchange_read_ahead_goes_on_without_a_gap, .timeout = 120)
{
	setenv("CRIU_LITE_TCP_PREFETCH", "1", 1);
	setenv("CRIU_LITE_THREADS", "2", 1);
	tcp_exchange("4");
	unsetenv("CRIU_LITE_TCP_PREFETCH");
	unsetenv("CRIU_LITE_THREADS");
}

/* ---- TCP to a peer outside the tree: the test is the client ---- */

/* The network lock named in a dump's TCP entries of pid, or "". */
static void lock_of(const char *img, pid_t pid, char *name, size_t len)
{
	int dirfd = open(img, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FdEntry **e = NULL;
	size_t n = 0;

	name[0] = '\0';
	cr_assert_geq(dirfd, 0);
	cr_assert_eq(img_read_all(dirfd, IMG_FILES, pid, true, NULL, (void ***)&e, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (e[i]->sock && e[i]->sock->tcp && e[i]->sock->tcp->lock)
			snprintf(name, len, "%s", e[i]->sock->tcp->lock);
	img_free_all((void **)e, n);
	close(dirfd);
}

/* Does the nftables table exist (in our netns)? */
static bool table_exists(const char *name)
{
	struct nft_ctx *n = nft_ctx_new(NFT_CTX_DEFAULT);
	char cmd[160];
	bool r;

	nft_ctx_buffer_error(n);
	nft_ctx_buffer_output(n);
	snprintf(cmd, sizeof(cmd), "list table inet %s", name);
	r = nft_run_cmd_from_buffer(n, cmd) == 0;
	nft_ctx_free(n);
	return r;
}

/* The echo server with one client (us), dumped with --kill and `opt`. */
struct echo {
	char dir[256], img[300], err[4096];
	struct target t;
	int port, c;
};

static void echo_dumped(struct echo *e, const char *tag, const char *opt)
{
	char pid[16];

	make_tmpdir(e->dir, sizeof(e->dir), tag);
	snprintf(e->img, sizeof(e->img), "%s/img", e->dir);
	e->c = sk_echo_client(&e->t, "4", &e->port);
	cr_assert_eq(mkdir(e->img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", e->t.pid);
	/* no option: refused before anything is killed */
	cr_expect_neq(run_criu_lite(e->err, sizeof(e->err), "dump", "-t", pid, "-D", e->img,
				    "--kill", NULL), 0, "dump --kill of a connection to outside");
	cr_expect(strstr(e->err, "fd 4") && strstr(e->err, "--tcp-established"),
		  "unclear refusal: %s", e->err);
	cr_expect(sk_echoes(e->c, "still\n", 5000), "the refused dump disturbed the connection");
	cr_assert_eq(run_criu_lite(e->err, sizeof(e->err), "dump", "-t", pid, "-D", e->img,
				   "--kill", opt, NULL), 0, "dump --kill %s: %s", opt, e->err);
	rt_reap(&e->t);
}

/* The restored server answers a new client too; then its tree is killed
 * and the test's directory removed. */
static void restored_echo_end(struct echo *e, struct rt_run *r, pid_t root)
{
	close(e->c);
	e->c = sk_client(e->port);
	cr_expect(sk_echoes(e->c, "new\n", 5000), "a new client is not answered");
	close(e->c);
	rt_kill_wait(root);
	rt_restore_finish(r, e->err, sizeof(e->err));
	rm_rf(e->dir);
}

/* ring: restore may batch the repair calls through io_uring (it does when
 * the kernel allows); without, one call at a time (io_uring disabled by
 * sysctl or seccomp): CRIU_LITE_NO_IO_URING says so. */
static void established(bool ring)
{
	struct echo e;
	struct rt_run r;
	pid_t root;
	char buf[8];

	char lock[128];

	if (!ring)
		cr_assert_eq(setenv("CRIU_LITE_NO_IO_URING", "1", 1), 0);
	echo_dumped(&e, ring ? "sk-est" : "sk-est-nr", "--tcp-established");
	lock_of(e.img, e.t.pid, lock, sizeof(lock));
	cr_expect(lock[0] && table_exists(lock), "no network lock %s after the dump", lock);
	/* the program is gone; the lock keeps our kernel from resetting us */
	cr_expect_not(sk_readable(e.c, 300), "the connection ended with the kill");
	cr_expect_eq(write(e.c, "during\n", 7), 7, "writing while the server is down");
	rt_restore_start(&r, e.dir, "-D", e.img, "--tcp-established", NULL);
	root = rt_restored_root(&r, "no pidfile from the restore");
	/* what we wrote while it was down, retransmitted, then a new line */
	cr_expect(sk_readable(e.c, 20000) && read(e.c, buf, 7) == 7 && !memcmp(buf, "during\n", 7),
		  "the restored server did not answer what was sent while it was down");
	cr_expect(sk_echoes(e.c, "after\n", 10000), "the same connection does not answer");
	cr_expect_not(table_exists(lock), "the restore left the network lock %s", lock);
	cr_expect_eq(run_cmd(NULL, 0, "%s show -D %s >/dev/null", criu_lite_path(), e.img), 0);
	restored_echo_end(&e, &r, root);
	unsetenv("CRIU_LITE_NO_IO_URING");
}

Test(sockets, outside_client_with_tcp_established_is_answered_on_the_same_connection,
     .timeout = 90)
{
	established(true);
}

Test(sockets, tcp_established_without_io_uring_is_answered_on_the_same_connection,
     .timeout = 90)
{
	established(false);
}

Test(sockets, outside_client_with_tcp_close_sees_the_end, .timeout = 90)
{
	struct echo e;
	struct rt_run r;
	pid_t root;
	char buf[8];
	ssize_t n;

	echo_dumped(&e, "sk-close", "--tcp-established");
	rt_restore_start(&r, e.dir, "-D", e.img, "--tcp-close", NULL);
	root = rt_restored_root(&r, "no pidfile from the restore");
	/* our next write meets a closed connection: a reset, or the end */
	n = write(e.c, "x\n", 2);
	cr_expect(sk_readable(e.c, 20000), "the connection did not end");
	n = read(e.c, buf, sizeof(buf));
	cr_expect(n == 0 || (n < 0 && errno == ECONNRESET), "read %zd (%s)", n, strerror(errno));
	restored_echo_end(&e, &r, root);
}

/* Many connections: restore makes them in ring batches of a hundred (the
 * last one short); every one must come back, whichever batch it was in. */
#define MANY 250

Test(sockets, every_one_of_many_outside_clients_is_answered_after_restore, .timeout = 120)
{
	struct echo e;
	struct rt_run r;
	int c[MANY], bad = -1;
	char pid[16], msg[16];
	pid_t root;

	make_tmpdir(e.dir, sizeof(e.dir), "sk-many");
	snprintf(e.img, sizeof(e.img), "%s/img", e.dir);
	e.port = sk_echo_start(&e.t, "4");
	for (int i = 0; i < MANY; i++) {
		c[i] = sk_client(e.port);
		cr_assert(sk_echoes(c[i], "before\n", 5000), "client %d is not answered", i);
	}
	cr_assert_eq(mkdir(e.img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", e.t.pid);
	cr_assert_eq(run_criu_lite(e.err, sizeof(e.err), "dump", "-t", pid, "-D", e.img, "--kill",
				   "--tcp-established", NULL), 0, "dump: %s", e.err);
	rt_reap(&e.t);
	rt_restore_start(&r, e.dir, "-D", e.img, "--tcp-established", NULL);
	root = rt_restored_root(&r, "no pidfile from the restore");
	for (int i = 0; i < MANY && bad < 0; i++) {
		snprintf(msg, sizeof(msg), "c%d\n", i);
		if (!sk_echoes(c[i], msg, 10000))
			bad = i;
	}
	cr_expect_eq(bad, -1, "connection %d of %d does not answer after restore", bad, MANY);
	for (int i = 0; i < MANY; i++)
		close(c[i]);
	rt_kill_wait(root);
	rt_restore_finish(&r, e.err, sizeof(e.err));
	rm_rf(e.dir);
}

/* A plain dump reads the connection in repair mode and leaves it as it was:
 * it goes on, and no lock is left. */
Test(sockets, plain_dump_leaves_connections_as_they_were, .timeout = 60)
{
	char dir[256], img[300], err[4096], pid[16], lock[128];
	struct target t;
	int port, c;

	make_tmpdir(dir, sizeof(dir), "sk-plain");
	snprintf(img, sizeof(img), "%s/img", dir);
	port = sk_echo_start(&t, "6");
	cr_assert_eq(sk_connect(AF_INET6, port, &c), 0);
	cr_assert(sk_echoes(c, "one\n", 5000));
	cr_assert_eq(write(c, "unread", 6), 6);	/* in the server's queue at the dump */
	usleep(100000);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, NULL), 0,
		     "dump: %s", err);
	cr_expect(strstr(err, "--tcp-established"), "the plain dump did not warn: %s", err);
	lock_of(img, t.pid, lock, sizeof(lock));
	cr_expect_not(lock[0] && table_exists(lock), "a plain dump left the lock %s", lock);
	{
		char buf[32] = "";
		size_t got = 0;
		ssize_t n = 0;

		cr_expect_eq(write(c, "two\n", 4), 4);
		while (got < 10 && sk_readable(c, 5000) && (n = read(c, buf + got, 10 - got)) > 0)
			got += (size_t)n;
		cr_expect_str_eq(buf, "unreadtwo\n", "the connection after the dump: '%s'", buf);
	}
	target_kill(&t);
	rt_target = 0;
	close(c);
	rm_rf(dir);
}

/* ---- datagram sockets ---- */

Test(sockets, datagram_sockets_come_back_with_their_queues, .timeout = 90)
{
	char dir[256], img[300], go[300], err[4096], range[64] = "";
	struct outcome o;
	struct target t;
	struct rt_run r;
	FILE *f;
	int want;

	/* ICMP ping sockets need our group in this range (saved, put back) */
	f = fopen("/proc/sys/net/ipv4/ping_group_range", "re");
	cr_assert(f && fgets(range, sizeof(range), f));
	fclose(f);
	cr_assert_eq(run_cmd(NULL, 0, "echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range"),
		     0);
	make_tmpdir(dir, sizeof(dir), "sk-dgram");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("sk_dgram"), go, NULL);
	want = 6 + (int)target_ready_u64(&t, "ping");
	rt_dump_kill(&t, img);
	rt_restore_start(&r, dir, "-D", img, NULL);
	rt_restored_root(&r, "no pidfile from the restore");
	touch(go);
	collect(&r, &o);
	run_cmd(NULL, 0, "echo '%s' > /proc/sys/net/ipv4/ping_group_range", strtok(range, "\n"));
	cr_expect(o.done, "the restored program did not finish its checks");
	cr_expect_eq(o.ok, want, "%d of %d cases came back; failed:\n%s", o.ok, want, o.fails);
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

/* ---- netlink and packet sockets ---- */

Test(sockets, netlink_and_packet_sockets_come_back, .timeout = 60)
{
	char dir[256], img[300], go[300], err[4096];
	struct outcome o;
	struct target t;
	struct rt_run r;

	make_tmpdir(dir, sizeof(dir), "sk-other");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("sk_other"), go, NULL);
	rt_dump_kill(&t, img);
	rt_restore_start(&r, dir, "-D", img, NULL);
	rt_restored_root(&r, "no pidfile from the restore");
	touch(go);
	collect(&r, &o);
	cr_expect_eq(o.ok, 2, "%d of 2 came back; failed:\n%s", o.ok, o.fails);
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

/* --inherit-fd: the restore passes our own socket where the dump had the
 * program's connection to us. */
Test(sockets, inherit_fd_gives_a_socket_of_the_restorer, .timeout = 60)
{
	char err[4096], res[64], inh[96], link[64], path[64], buf[8];
	struct rt_run r;
	struct ext x;
	int sp[2];
	pid_t root;
	ssize_t n;

	ext_start(&x, "sk-inherit");
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", x.t.pid, x.st);
	n = readlink(path, link, sizeof(link) - 1);
	cr_assert_gt(n, 0);
	link[n] = '\0';
	snprintf(res, sizeof(res), "%s", link);
	/* our end for the restored program: not close-on-exec, criu-lite inherits it */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	fcntl(sp[0], F_SETFD, FD_CLOEXEC);
	snprintf(inh, sizeof(inh), "fd[%d]:%s", sp[1], res);

	cr_assert_eq(mkdir(x.img, 0700), 0);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", x.pid, "-D", x.img, "--kill",
				   "--ext-unix-sk", "--inherit-fd", inh, NULL), 0,
		     "dump --kill --inherit-fd %s: %s", inh, err);
	rt_reap(&x.t);
	close(x.c);

	rt_restore_start(&r, x.dir, "-D", x.img, "--ext-unix-sk", "--inherit-fd", inh, NULL);
	close(sp[1]);
	root = rt_restored_root(&r, "no pidfile from the restore");
	touch(x.go);
	cr_expect(sk_readable(sp[0], 10000) && read(sp[0], buf, 5) == 5 && !memcmp(buf, "again", 5),
		  "the restored program did not write to the socket we passed");
	cr_expect_not(sk_readable(x.ls, 200), "the program connected again instead of using our fd");
	rt_kill_wait(root);
	rt_restore_finish(&r, err, sizeof(err));
	close(sp[0]);
	ext_end(&x);
}

/* ---- a real server: redis-server from Debian ---- */

static bool redis_says(int c, const char *cmd, const char *want)
{
	char buf[128] = "";
	size_t got = 0, n = strlen(want);
	ssize_t k;

	if (write(c, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		return false;
	while (got < n && sk_readable(c, 10000) &&
	       (k = read(c, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)k;
	return got >= n && !memcmp(buf, want, n);
}

/* redis-server on its own (our child, its own session, no fd but stdio on
 * /dev/null), answering PING. */
static pid_t redis_start(const char *dir, int port, int *client)
{
	char ports[16], log[300];
	pid_t pid;

	snprintf(ports, sizeof(ports), "%d", port);
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	cr_assert_eq(access("/usr/bin/redis-server", X_OK), 0, "redis-server is not installed "
		     "(scripts/deps.sh installs it)");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		setsid();
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		execl("/usr/bin/redis-server", "redis-server", "--port", ports, "--bind",
		      "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
		      "--logfile", log, "--dir", dir, (char *)NULL);
		_exit(127);
	}
	rt_target = pid;
	for (int i = 0; i < 200; i++) {
		if (!sk_connect(AF_INET, port, client) && redis_says(*client, "PING\r\n", "+PONG"))
			return pid;
		close(*client);
		usleep(50000);
	}
	cr_assert_fail("redis-server did not answer on port %d", port);
	return pid;
}

Test(sockets, redis_answers_its_client_after_dump_kill_and_restore, .timeout = 120)
{
	char dir[256], img[300], err[4096], pid[16], pidf[300];
	int port = sk_free_port(), c, c2;
	pid_t r, root;

	make_tmpdir(dir, sizeof(dir), "sk-redis");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	r = redis_start(dir, port, &c);
	cr_assert(redis_says(c, "SET k before\r\n", "+OK"));
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", r);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill",
				   "--tcp-established", NULL), 0, "dump: %s", err);
	waitpid(r, NULL, 0);
	rt_target = 0;
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s", pidf);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "restore", "-D", img, "-d",
				   "--tcp-established", "--pidfile", pidf, NULL), 0, "restore: %s", err);
	root = rt_read_pidfile(pidf);
	cr_expect(redis_says(c, "GET k\r\n", "$6\r\nbefore\r\n"),
		  "the client's next command on the same connection was not answered");
	cr_expect(redis_says(c, "SET k after\r\n", "+OK"));
	cr_expect_eq(sk_connect(AF_INET, port, &c2), 0, "a new client");
	cr_expect(redis_says(c2, "GET k\r\n", "$5\r\nafter\r\n"), "a new client is not answered");
	close(c);
	close(c2);
	rt_kill_wait(root);
	rm_rf(dir);
}
