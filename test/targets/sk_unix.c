/* Restore target: unix sockets in every state a program leaves them in.
 * argv[1]: a directory for socket files, argv[2]: the "go" file.
 *
 * It sets each case up, prints READY, waits for the go file (after dump
 * and restore), then checks each case as the program would go on using it
 * and prints "OK <case>" or "FAIL <case>: <why>" for each, then "DONE". A
 * child connected to the parent's listener does its part and exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static const char *dir;
static int fails;
static pid_t setup_pid;

#define CHECK(name, cond, ...) do {					\
	if (cond) printf("OK %s\n", name);				\
	else { printf("FAIL %s: ", name); printf(__VA_ARGS__); printf("\n"); fails++; } \
} while (0)

static int xcheck(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "sk_unix: %s: %s\n", what, strerror(errno));
		exit(1);
	}
	return r;
}

static socklen_t addr(struct sockaddr_un *sa, const char *name)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (name[0] == '@') {
		memcpy(sa->sun_path + 1, name + 1, strlen(name) - 1);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	}
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
	return sizeof(*sa);
}

static int sock_at(int type, const char *name)
{
	struct sockaddr_un sa;
	int s = xcheck(socket(AF_UNIX, type, 0), "socket");

	if (name)
		xcheck(bind(s, (struct sockaddr *)&sa, addr(&sa, name)), name);
	return s;
}

static int listener(const char *name)
{
	int s = sock_at(SOCK_STREAM, name);

	xcheck(listen(s, 8), "listen");
	return s;
}

static int connect_to(int type, const char *name)
{
	struct sockaddr_un sa;
	int s = xcheck(socket(AF_UNIX, type, 0), "socket");

	xcheck(connect(s, (struct sockaddr *)&sa, addr(&sa, name)), name);
	return s;
}

/* One message, with a file and/or our credentials. */
static void send_msg(int s, const char *data, int fd, int creds)
{
	char cbuf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { (void *)data, strlen(data) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf };
	struct cmsghdr *c = (struct cmsghdr *)cbuf;

	memset(cbuf, 0, sizeof(cbuf));
	if (fd >= 0) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		m.msg_controllen += CMSG_SPACE(sizeof(int));
		c = (struct cmsghdr *)(cbuf + m.msg_controllen);
	}
	if (creds) {
		struct ucred u = { getpid(), getuid(), getgid() };

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(u));
		memcpy(CMSG_DATA(c), &u, sizeof(u));
		m.msg_controllen += CMSG_SPACE(sizeof(u));
	}
	if (!m.msg_controllen)
		m.msg_control = NULL;
	xcheck((int)sendmsg(s, &m, 0), "sendmsg");
}

struct got {
	char data[256];
	ssize_t len;
	int fd;
	pid_t pid;
	char from[108];
};

static void recv_msg(int s, struct got *g)
{
	char cbuf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	struct sockaddr_un from;
	struct iovec iov = { g->data, sizeof(g->data) - 1 };
	struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			    .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };

	memset(g, 0, sizeof(*g));
	g->fd = -1;
	g->len = recvmsg(s, &m, MSG_DONTWAIT);
	g->data[g->len > 0 ? g->len : 0] = '\0';
	if (m.msg_namelen > offsetof(struct sockaddr_un, sun_path))
		snprintf(g->from, sizeof(g->from), "%s", from.sun_path);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); g->len >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_type == SCM_RIGHTS)
			memcpy(&g->fd, CMSG_DATA(c), sizeof(int));
		if (c->cmsg_type == SCM_CREDENTIALS)
			g->pid = ((struct ucred *)CMSG_DATA(c))->pid;
	}
}

static const char *recv_str(int s)
{
	static struct got g;

	recv_msg(s, &g);
	return g.len < 0 ? strerror(errno) : g.data;
}

static bool name_is(int s, bool peer, const char *want)
{
	struct sockaddr_un sa, w;
	socklen_t len = sizeof(sa), wl = addr(&w, want);
	int r = peer ? getpeername(s, (struct sockaddr *)&sa, &len) :
		       getsockname(s, (struct sockaddr *)&sa, &len);

	if (r)
		return false;
	if (want[0] == '@')
		return len == wl && !memcmp(sa.sun_path, w.sun_path, len - sizeof(sa_family_t));
	return !strcmp(sa.sun_path, w.sun_path);
}

static bool exists(const char *name)
{
	struct sockaddr_un sa;

	addr(&sa, name);
	return access(sa.sun_path, F_OK) == 0;
}

/* accept without waiting (accept4's flags are the new socket's). */
static int try_accept(int l)
{
	int fl = fcntl(l, F_GETFL), a;

	fcntl(l, F_SETFL, fl | O_NONBLOCK);
	a = accept(l, NULL, NULL);
	fcntl(l, F_SETFL, fl);
	return a;
}

static void wait_for(const char *path)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (access(path, F_OK))
		nanosleep(&ms, NULL);
}

/* ---- the cases ---- */

static int pairs[3][2], surv, surv_empty, shut[2];

static void set_pairs(void)
{
	int t[3] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET }, sp[2];

	for (int i = 0; i < 3; i++) {
		xcheck(socketpair(AF_UNIX, t[i], 0, pairs[i]), "socketpair");
		send_msg(pairs[i][0], "one", -1, 0);
		send_msg(pairs[i][0], "two22", -1, 0);
		send_msg(pairs[i][1], "back", -1, 0);
	}
	xcheck(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), "socketpair");
	send_msg(sp[0], "last words", -1, 0);
	close(sp[0]);
	surv = sp[1];
	xcheck(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), "socketpair");
	close(sp[1]);
	surv_empty = sp[0];
	xcheck(socketpair(AF_UNIX, SOCK_STREAM, 0, shut), "socketpair");
	shutdown(shut[0], SHUT_WR);
}

static void check_pairs(void)
{
	char b1[64], b2[64], b3[64];
	char buf[64];
	ssize_t n;

	snprintf(b1, sizeof(b1), "%s", recv_str(pairs[0][1]));
	snprintf(b2, sizeof(b2), "%s", recv_str(pairs[0][0]));
	CHECK("pair_stream", !strcmp(b1, "onetwo22") && !strcmp(b2, "back"), "%s / %s", b1, b2);
	for (int i = 1; i < 3; i++) {
		snprintf(b1, sizeof(b1), "%s", recv_str(pairs[i][1]));
		snprintf(b2, sizeof(b2), "%s", recv_str(pairs[i][1]));
		snprintf(b3, sizeof(b3), "%s", recv_str(pairs[i][0]));
		CHECK(i == 1 ? "pair_dgram" : "pair_seqpacket", !strcmp(b1, "one") &&
		      !strcmp(b2, "two22") && !strcmp(b3, "back"), "%s / %s / %s", b1, b2, b3);
	}
	n = read(surv, buf, sizeof(buf));
	CHECK("survivor_data", n == 10 && !memcmp(buf, "last words", 10) &&
	      read(surv, buf, sizeof(buf)) == 0 && send(surv, "x", 1, MSG_NOSIGNAL) < 0 &&
	      errno == EPIPE, "read %zd", n);
	CHECK("survivor_empty", read(surv_empty, buf, sizeof(buf)) == 0, "no end of file");
	n = read(shut[1], buf, sizeof(buf));
	CHECK("shutdown", n == 0 && write(shut[1], "x", 1) == 1 && read(shut[0], buf, 1) == 1 &&
	      send(shut[0], "y", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "read %zd", n);
}

static int lsn, cli1, srv1, cli2, alsn, acli;
static char abs_name[64];

static void set_named(void)
{
	lsn = listener("srv");
	cli1 = connect_to(SOCK_STREAM, "srv");
	srv1 = xcheck(accept(lsn, NULL, NULL), "accept");
	send_msg(cli1, "c2s", -1, 0);
	send_msg(srv1, "s2c", -1, 0);
	cli2 = connect_to(SOCK_STREAM, "srv");
	snprintf(abs_name, sizeof(abs_name), "@criu-lite-skunix-%d", getpid());
	alsn = listener(abs_name);
	acli = connect_to(SOCK_STREAM, abs_name);
}

static void check_named(void)
{
	char b1[64], b2[64], b3[64];
	int a, a2;

	snprintf(b1, sizeof(b1), "%s", recv_str(srv1));
	snprintf(b2, sizeof(b2), "%s", recv_str(cli1));
	CHECK("named_connected", !strcmp(b1, "c2s") && !strcmp(b2, "s2c") &&
	      name_is(srv1, false, "srv") && name_is(cli1, true, "srv"), "%s / %s", b1, b2);
	a = accept(lsn, NULL, NULL);
	a2 = try_accept(lsn);
	send_msg(cli2, "late", -1, 0);
	snprintf(b3, sizeof(b3), "%s", a >= 0 ? recv_str(a) : strerror(errno));
	CHECK("listener_pending", a >= 0 && a2 < 0 && errno == EAGAIN && !strcmp(b3, "late") &&
	      name_is(lsn, false, "srv") && exists("srv"), "accept %d, %s", a, b3);
	a = accept(alsn, NULL, NULL);
	send_msg(acli, "abs", -1, 0);
	snprintf(b3, sizeof(b3), "%s", a >= 0 ? recv_str(a) : strerror(errno));
	CHECK("abstract_pending", a >= 0 && !strcmp(b3, "abs") && name_is(alsn, false, abs_name),
	      "accept %d, %s", a, b3);
}

static int gone, gcli, gsrv, twice1, twice2;

static void set_unlinked(void)
{
	struct sockaddr_un sa;

	gone = listener("gone");
	gcli = connect_to(SOCK_STREAM, "gone");
	gsrv = xcheck(accept(gone, NULL, NULL), "accept");
	send_msg(gcli, "via-gone", -1, 0);
	addr(&sa, "gone");
	unlink(sa.sun_path);
	twice1 = listener("twice");
	addr(&sa, "twice");
	unlink(sa.sun_path);
	twice2 = listener("twice");
}

static void check_unlinked(void)
{
	char b[64];
	int c, a1, a2;

	snprintf(b, sizeof(b), "%s", recv_str(gsrv));
	CHECK("unlinked_listener", !strcmp(b, "via-gone") && !exists("gone") &&
	      name_is(gone, false, "gone") && name_is(gcli, true, "gone") &&
	      name_is(gsrv, false, "gone"), "%s, file %s", b, exists("gone") ? "back" : "gone");
	c = connect_to(SOCK_STREAM, "twice");
	a1 = try_accept(twice1);
	a2 = try_accept(twice2);
	CHECK("two_on_one_path", a1 < 0 && a2 >= 0 && name_is(twice1, false, "twice") &&
	      name_is(twice2, false, "twice"), "accepted by %s", a1 >= 0 ? "the unlinked one" :
	      a2 >= 0 ? "?" : "none");
	close(c);
}

static int dsrv, dsnd, danon, d2, dk;

static void set_dgram(void)
{
	struct sockaddr_un sa;
	socklen_t l = addr(&sa, "dsrv");

	dsrv = sock_at(SOCK_DGRAM, "dsrv");
	dsnd = sock_at(SOCK_DGRAM, "dsnd");
	danon = sock_at(SOCK_DGRAM, NULL);
	xcheck((int)sendto(dsnd, "from-named", 10, 0, (struct sockaddr *)&sa, l), "sendto");
	xcheck((int)sendto(danon, "from-anon", 9, 0, (struct sockaddr *)&sa, l), "sendto");
	d2 = sock_at(SOCK_DGRAM, "d2");
	dk = connect_to(SOCK_DGRAM, "d2");
}

static void check_dgram(void)
{
	struct got a, b;
	struct sockaddr_un sa;

	addr(&sa, "dsnd");
	recv_msg(dsrv, &a);
	recv_msg(dsrv, &b);
	CHECK("dgram_senders", !strcmp(a.data, "from-named") && !strcmp(a.from, sa.sun_path) &&
	      !strcmp(b.data, "from-anon") && !b.from[0], "%s from %s, %s from %s", a.data, a.from,
	      b.data, b.from);
	send_msg(dk, "k", -1, 0);
	recv_msg(d2, &a);
	CHECK("dgram_connected", !strcmp(a.data, "k") && name_is(dk, true, "d2"), "%s", a.data);
}

static int rights[2], keep_q, keep_pw, creds[2];

static void set_flight(void)
{
	int p[2], q[2], one = 1;

	xcheck(socketpair(AF_UNIX, SOCK_STREAM, 0, rights), "socketpair");
	xcheck(pipe(p), "pipe");
	xcheck((int)write(p[1], "pipe-data", 9), "write");
	keep_pw = p[1];
	send_msg(rights[0], "fd1", p[0], 0);
	close(p[0]);
	xcheck(socketpair(AF_UNIX, SOCK_STREAM, 0, q), "socketpair");
	send_msg(rights[0], "fd2", q[1], 0);
	close(q[1]);
	keep_q = q[0];
	xcheck(socketpair(AF_UNIX, SOCK_DGRAM, 0, creds), "socketpair");
	xcheck(setsockopt(creds[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), "passcred");
	send_msg(creds[0], "creds", -1, 1);
}

static void check_flight(void)
{
	char buf[64] = "";
	struct got g;
	ssize_t n;

	recv_msg(rights[1], &g);
	/* the same pipe: what we write now comes out of the fd that was in flight */
	n = g.fd >= 0 ? read(g.fd, buf, 9) : -1;
	if (n != 9 || write(keep_pw, "!", 1) != 1 || read(g.fd, buf + 9, 1) != 1)
		buf[0] = '\0';
	CHECK("rights_pipe", !strcmp(g.data, "fd1") && g.fd >= 0 && !strcmp(buf, "pipe-data!"),
	      "%zd, %s, fd %d, '%s'", n, g.data, g.fd, buf);
	recv_msg(rights[1], &g);
	send_msg(keep_q, "via-q", -1, 0);
	CHECK("rights_socket", !strcmp(g.data, "fd2") && g.fd >= 0 &&
	      !strcmp(recv_str(g.fd), "via-q"), "%s, fd %d", g.data, g.fd);
	recv_msg(creds[1], &g);
	/* sent by this process: its pid now, whether or not it kept its number */
	CHECK("creds", !strcmp(g.data, "creds") && g.pid == getpid(), "%s from %d (want %d, "
	      "dumped as %d)", g.data, g.pid, getpid(), setup_pid);
}

static int optsk, optpeer[2];

static void set_opts(void)
{
	struct timeval tv = { 3, 500000 };
	int one = 1, sz = 65536, zero = 0;
	char buf[4];

	optsk = xcheck(socket(AF_UNIX, SOCK_DGRAM, 0), "socket");
	xcheck(setsockopt(optsk, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)), "rcvbuf");
	xcheck(setsockopt(optsk, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), "passcred");
	xcheck(setsockopt(optsk, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), "rcvtimeo");
	xcheck(socketpair(AF_UNIX, SOCK_STREAM, 0, optpeer), "socketpair");
	xcheck((int)write(optpeer[0], "0123456789", 10), "write");
	xcheck(setsockopt(optpeer[1], SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)), "peek_off");
	xcheck((int)recv(optpeer[1], buf, 4, MSG_PEEK), "peek");
}

static void check_opts(void)
{
	struct timeval tv;
	int sz = 0, cred = 0, off = 0;
	socklen_t l = sizeof(int), tl = sizeof(tv);
	char buf[8] = "";

	getsockopt(optsk, SOL_SOCKET, SO_RCVBUF, &sz, &l);
	getsockopt(optsk, SOL_SOCKET, SO_PASSCRED, &cred, &l);
	getsockopt(optsk, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl);
	getsockopt(optpeer[1], SOL_SOCKET, SO_PEEK_OFF, &off, &l);
	recv(optpeer[1], buf, 3, MSG_PEEK);
	CHECK("options", sz == 131072 && cred == 1 && tv.tv_sec == 3 && tv.tv_usec == 500000 &&
	      off == 4 && !strcmp(buf, "456"), "rcvbuf %d passcred %d timeo %ld.%06ld peek_off %d "
	      "peeked '%s'", sz, cred, (long)tv.tv_sec, (long)tv.tv_usec, off, buf);
}

/* A child connected to our listener: the peer is in the tree. */
static int plsn, pconn;
static pid_t child;

static void set_child(const char *go)
{
	plsn = listener("psrv");
	child = fork();
	if (child == 0) {
		int c = connect_to(SOCK_STREAM, "psrv");
		char buf[16] = "";

		wait_for(go);
		if (read(c, buf, 3) == 3 && !memcmp(buf, "p2c", 3))
			send_msg(c, "c2p", -1, 0);
		_exit(0);
	}
	pconn = xcheck(accept(plsn, NULL, NULL), "accept");
	send_msg(pconn, "p2c", -1, 0);
}

static void check_child(void)
{
	char buf[8] = "";
	int st = -1;
	ssize_t n;

	n = read(pconn, buf, 3);
	waitpid(child, &st, 0);
	CHECK("child_peer", n == 3 && !memcmp(buf, "c2p", 3) && WIFEXITED(st) &&
	      !WEXITSTATUS(st), "read %zd '%s', child status %d", n, buf, st);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	dir = argv[1];
	setup_pid = getpid();
	signal(SIGPIPE, SIG_IGN);
	set_pairs();
	set_named();
	set_unlinked();
	set_dgram();
	set_flight();
	set_opts();
	set_child(argv[2]);
	target_ready("pid=%d child=%d", getpid(), child);
	wait_for(argv[2]);
	check_pairs();
	check_named();
	check_unlinked();
	check_dgram();
	check_flight();
	check_opts();
	check_child();
	printf("DONE %d\n", fails);
	fflush(stdout);
	return fails ? 1 : 0;
}
