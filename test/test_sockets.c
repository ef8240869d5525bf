/* Sockets through dump --kill and restore, checked by the programs that
 * hold them: each target sets its sockets up, is dumped and killed, comes
 * back, and then goes on using every socket as it would have (reads what
 * was queued, accepts who was waiting, talks to its peers) and prints one
 * line per case. Peers outside the tree are the test itself. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "test/restore_util.h"

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
	pid_t root, child;

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
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");
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

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* A program connected to a server and to a log socket of ours: without
 * --ext-unix-sk, dump --kill refuses and names the fd; with it, the
 * restored program reaches both again. */
Test(sockets, unix_peers_outside_the_tree_need_ext_unix_sk, .timeout = 90)
{
	char dir[256], img[300], go[300], srv[300], log[300], err[4096], pid[16], buf[16];
	char line[256];
	struct target t;
	struct rt_run r;
	int ls, lg, c, st;
	pid_t root;

	make_tmpdir(dir, sizeof(dir), "sk-ext");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	snprintf(srv, sizeof(srv), "%s/srv", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	ls = unix_socket(SOCK_STREAM, srv);
	lg = unix_socket(SOCK_DGRAM, log);
	rt_start(&t, target_path("sk_unix_ext"), go, srv, log, NULL);
	c = accept(ls, NULL, NULL);
	cr_assert_geq(c, 0);
	st = (int)target_ready_u64(&t, "stream");

	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	cr_expect_neq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill",
				    NULL), 0, "dump --kill of a tree with outside peers succeeded");
	snprintf(buf, sizeof(buf), "fd %d", st);
	cr_expect(strstr(err, buf) && strstr(err, srv) && strstr(err, "--ext-unix-sk"),
		  "the refusal does not name fd %d, its peer and the option: %s", st, err);
	cr_expect_eq(kill(t.pid, 0), 0, "dump --kill killed a tree it refused");

	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill",
				   "--ext-unix-sk", NULL), 0, "dump --kill --ext-unix-sk: %s", err);
	waitpid(t.pid, NULL, 0);
	rt_target = 0;
	close(t.out_fd);
	cr_expect(readable(c, 5000) && read(c, buf, sizeof(buf)) == 0,
		  "the old connection did not end with the dumped program");
	close(c);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert_neq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore without the option");
	cr_expect(strstr(err, srv) && strstr(err, "--ext-unix-sk"), "unclear refusal: %s", err);

	rt_restore_start(&r, dir, "-D", img, "--ext-unix-sk", NULL);
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");
	touch(go);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 20000), "no output");
	cr_expect_str_eq(line, "DONE");
	cr_assert(readable(ls, 5000), "the restored program did not connect again");
	c = accept(ls, NULL, NULL);
	cr_expect(readable(c, 5000) && read(c, buf, 5) == 5 && !memcmp(buf, "again", 5));
	cr_expect(readable(lg, 5000) && recv(lg, buf, sizeof(buf), 0) == 5 &&
		  !memcmp(buf, "again", 5), "nothing on the log socket");
	rt_kill_wait(root);
	rt_restore_finish(&r, err, sizeof(err));
	close(c);
	close(ls);
	close(lg);
	rm_rf(dir);
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
	cr_assert(rt_wait_pidfile(&root), "no pidfile from the restore");
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
	cr_expect_eq(o.ok, 5, "%d of 5 side cases came back: %s", o.ok, o.fails);
	c = socket(fam[0] == '6' ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fam[0] == '6') {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT };

		cr_expect_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		cr_expect_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	cr_expect(readable(c, 5000) && read(c, line, 3) == 3 && !memcmp(line, "hi\n", 3),
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
