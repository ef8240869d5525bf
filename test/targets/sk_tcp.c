/* Restore target: TCP inside the tree. argv[1]: "4" or "6", argv[2]: the
 * go file.
 *
 * A server (the parent) and a client (its child) exchange an endless
 * sequence of 32-bit counters over one connection, as fast as they can:
 * the client writes, the server checks every number and echoes it, the
 * client checks the echo. Both keep megabytes in flight, so a dump finds
 * data unread, unsent and unacknowledged both ways. The client prints
 * "AT <n>" every 2^18 numbers echoed; any gap, repeat or error prints
 * "FAIL ..." and stops.
 *
 * Beside it, in the parent, sockets the test checks once the go file is
 * there: a half-closed pair (one end wrote and shut down, the other has
 * not read), a socket bound and not listening, an unbound one with options,
 * options on the connection; and the listener keeps accepting: each new
 * connection gets "hi\n". It prints "OK <case>"/"FAIL <case>: ..." and
 * "CHECKED". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "target.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

#define BLOCK 4096		/* numbers per write */
#define INFLIGHT (1u << 20)	/* numbers the client keeps ahead of the echo */

static int fam;
static const char *go;

static socklen_t addr(struct sockaddr_storage *ss, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (fam == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = htons(port);
	return sizeof(*a);
}

static uint16_t port_of(int s)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	getsockname(s, (struct sockaddr *)&ss, &l);
	return ntohs(fam == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
				       ((struct sockaddr_in *)&ss)->sin_port);
}

static int die(const char *what)
{
	printf("FAIL %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static int tcp_socket(void)
{
	int s = socket(fam, SOCK_STREAM, 0);

	return s < 0 ? die("socket") : s;
}

static int connect_to(uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t l = addr(&ss, port);
	int s = tcp_socket();

	if (connect(s, (struct sockaddr *)&ss, l))
		die("connect");
	return s;
}

/* ---- the exchange ---- */

/* Numbers from `next` on, checked as they come; returns the new next. */
static uint32_t check_run(const uint32_t *v, size_t n, uint32_t next, const char *who)
{
	for (size_t i = 0; i < n; i++, next++)
		if (v[i] != next) {
			printf("FAIL %s: got %u, expected %u\n", who, v[i], next);
			fflush(stdout);
			exit(1);
		}
	return next;
}

/* Read what is there into buf (which holds *have bytes); returns whole numbers. */
static size_t take(int s, uint8_t *buf, size_t cap, size_t *have, const char *who)
{
	ssize_t n = read(s, buf + *have, cap - *have);

	if (n == 0) {
		printf("FAIL %s: connection closed\n", who);
		fflush(stdout);
		exit(1);
	}
	if (n < 0 && errno != EAGAIN)
		die(who);
	*have += n > 0 ? (size_t)n : 0;
	return *have / 4;
}

static void server(int c)
{
	static uint8_t in[1 << 18], out[1 << 20];
	size_t have = 0, olen = 0, ooff = 0;
	uint32_t next = 0;

	fcntl(c, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = { .fd = c, .events = (olen - ooff < sizeof(out) / 2 ? POLLIN : 0) |
						       (olen > ooff ? POLLOUT : 0) };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("server poll");
		if ((p.revents & POLLIN) && olen - ooff < sizeof(out) / 2) {
			size_t k = take(c, in, sizeof(in), &have, "server read");

			next = check_run((uint32_t *)in, k, next, "server");
			if (ooff && olen + k * 4 > sizeof(out)) {
				memmove(out, out + ooff, olen - ooff);
				olen -= ooff;
				ooff = 0;
			}
			memcpy(out + olen, in, k * 4);
			olen += k * 4;
			memmove(in, in + k * 4, have - k * 4);
			have -= k * 4;
		}
		if (p.revents & POLLOUT) {
			ssize_t n = write(c, out + ooff, olen - ooff);

			if (n < 0 && errno != EAGAIN)
				die("server write");
			ooff += n > 0 ? (size_t)n : 0;
		}
	}
}

static void client(uint16_t port)
{
	static uint8_t in[1 << 18];
	uint32_t sent = 0, echoed = 0, block[BLOCK];
	int s = connect_to(port), one = 1;
	size_t have = 0;

	setsockopt(s, SOL_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(s, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN |
						       (sent - echoed < INFLIGHT ? POLLOUT : 0) };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("client poll");
		if (p.revents & POLLIN) {
			size_t k = take(s, in, sizeof(in), &have, "client read");
			uint32_t before = echoed;

			echoed = check_run((uint32_t *)in, k, echoed, "client");
			memmove(in, in + k * 4, have - k * 4);
			have -= k * 4;
			if ((before >> 18) != (echoed >> 18)) {
				printf("AT %u\n", echoed);
				fflush(stdout);
			}
		}
		if ((p.revents & POLLOUT) && sent - echoed < INFLIGHT) {
			ssize_t n;

			for (int i = 0; i < BLOCK; i++)
				block[i] = sent + (uint32_t)i;
			n = write(s, block, sizeof(block));
			if (n < 0 && errno != EAGAIN)
				die("client write");
			/* a partial write leaves the rest of a number: send it whole */
			while (n > 0 && n % 4) {
				ssize_t m = write(s, (uint8_t *)block + n, (size_t)(4 - n % 4));

				if (m < 0 && errno != EAGAIN)
					die("client write");
				n += m > 0 ? m : 0;
			}
			sent += n > 0 ? (uint32_t)(n / 4) : 0;
		}
	}
}

/* ---- what the test checks after restore ---- */

static int half[2], bnd, unb, lsn, conn_opts, conn_peer;
static uint16_t bnd_port;

#define CHECK(name, cond, ...) do {					\
	if (cond) printf("OK %s\n", name);				\
	else { printf("FAIL %s: ", name); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

static int get_int(int s, int level, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(s, level, opt, &v, &l);
	return v;
}

static void set_int(int s, int level, int opt, int v)
{
	if (setsockopt(s, level, opt, &v, sizeof(v)))
		die("setsockopt");
}

static void set_opts(int s)
{
	struct sock_filter all[] = { BPF_STMT(BPF_RET | BPF_K, 0xffffffff) };
	struct sock_fprog prog = { 1, all };
	struct linger lg = { 1, 7 };

	set_int(s, SOL_SOCKET, SO_KEEPALIVE, 1);
	set_int(s, SOL_TCP, TCP_KEEPIDLE, 77);
	set_int(s, SOL_TCP, TCP_KEEPINTVL, 11);
	set_int(s, SOL_TCP, TCP_KEEPCNT, 5);
	set_int(s, SOL_TCP, TCP_NODELAY, 1);
	if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ||
	    setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)))
		die("setsockopt");
	if (fam == AF_INET) {
		set_int(s, SOL_IP, IP_TOS, 0x10);
		set_int(s, SOL_IP, IP_TTL, 33);
		set_int(s, SOL_IP, IP_RECVERR, 1);
	} else {
		set_int(s, SOL_IPV6, IPV6_TCLASS, 0x20);
	}
	/* (these and TOS the dump reads from sock_diag, not the socket) */
	set_int(s, SOL_SOCKET, SO_MARK, 7);
	if (setsockopt(s, SOL_TCP, TCP_CONGESTION, "reno", 4))
		die("setsockopt");
}

/* The options the dump takes from sock_diag came back. */
static bool diag_opts_ok(int s, char *why, size_t len)
{
	char cc[16] = "";
	socklen_t l = sizeof(cc) - 1;

	getsockopt(s, SOL_TCP, TCP_CONGESTION, cc, &l);
	snprintf(why, len, "mark %d congestion %s recverr %d tclass %d",
		 get_int(s, SOL_SOCKET, SO_MARK), cc, get_int(s, SOL_IP, IP_RECVERR),
		 fam == AF_INET6 ? get_int(s, SOL_IPV6, IPV6_TCLASS) : -1);
	return get_int(s, SOL_SOCKET, SO_MARK) == 7 && !strcmp(cc, "reno") &&
	       (fam == AF_INET6 ? get_int(s, SOL_IPV6, IPV6_TCLASS) == 0x20 :
				  get_int(s, SOL_IP, IP_RECVERR) == 1);
}

static bool opts_ok(int s, char *why, size_t len)
{
	struct linger lg = { 0, 0 };
	socklen_t l = sizeof(lg), fl = 0;

	getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &l);
	getsockopt(s, SOL_SOCKET, SO_GET_FILTER, NULL, &fl);
	snprintf(why, len, "keepalive %d idle %d intvl %d cnt %d nodelay %d linger %d/%d "
		 "filter %u tos %d ttl %d", get_int(s, SOL_SOCKET, SO_KEEPALIVE),
		 get_int(s, SOL_TCP, TCP_KEEPIDLE), get_int(s, SOL_TCP, TCP_KEEPINTVL),
		 get_int(s, SOL_TCP, TCP_KEEPCNT), get_int(s, SOL_TCP, TCP_NODELAY), lg.l_onoff,
		 lg.l_linger, (unsigned)fl, get_int(s, SOL_IP, IP_TOS), get_int(s, SOL_IP, IP_TTL));
	return get_int(s, SOL_SOCKET, SO_KEEPALIVE) == 1 && get_int(s, SOL_TCP, TCP_KEEPIDLE) == 77 &&
	       get_int(s, SOL_TCP, TCP_KEEPINTVL) == 11 && get_int(s, SOL_TCP, TCP_KEEPCNT) == 5 &&
	       get_int(s, SOL_TCP, TCP_NODELAY) == 1 && lg.l_onoff && lg.l_linger == 7 &&
	       fl == 1 && (fam != AF_INET || (get_int(s, SOL_IP, IP_TOS) == 0x10 &&
					      get_int(s, SOL_IP, IP_TTL) == 33));
}

static void set_side(void)
{
	struct sockaddr_storage ss;
	socklen_t l = addr(&ss, 0);

	/* half-closed: "bye" then FIN from one end, unread by the other */
	half[0] = connect_to(port_of(lsn));
	half[1] = accept(lsn, NULL, NULL);
	if (half[1] < 0 || write(half[0], "bye", 3) != 3 || shutdown(half[0], SHUT_WR))
		die("half");
	bnd = tcp_socket();
	set_int(bnd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (bind(bnd, (struct sockaddr *)&ss, l))
		die("bind");
	bnd_port = port_of(bnd);
	unb = tcp_socket();
	set_int(unb, SOL_TCP, TCP_NODELAY, 1);
	set_int(unb, SOL_SOCKET, SO_KEEPALIVE, 1);
	set_int(unb, SOL_TCP, TCP_CORK, 1);
	if (fam == AF_INET6)
		set_int(unb, SOL_IPV6, IPV6_FREEBIND, 1);
	else
		set_int(unb, SOL_IP, IP_FREEBIND, 1);
	if (setsockopt(unb, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2))
		die("bindtodevice");
	conn_opts = connect_to(port_of(lsn));
	conn_peer = accept(lsn, NULL, NULL);
	if (conn_peer < 0)
		die("accept");
	set_opts(conn_opts);
}

static void check_side(void)
{
	char buf[16] = "", why[256], dev[16];
	socklen_t dl = sizeof(dev);
	struct sockaddr_storage ss;
	socklen_t l = addr(&ss, bnd_port);
	ssize_t n, m;
	int c;

	n = read(half[1], buf, sizeof(buf));
	m = read(half[1], buf + 8, sizeof(buf) - 8);
	CHECK("half_closed", n == 3 && !memcmp(buf, "bye", 3) && m == 0 &&
	      write(half[1], "ack", 3) == 3 && read(half[0], buf, 3) == 3 &&
	      !memcmp(buf, "ack", 3), "read %zd then %zd", n, m);
	CHECK("bound_not_listening", port_of(bnd) == bnd_port && !listen(bnd, 1) &&
	      (c = socket(fam, SOCK_STREAM, 0)) >= 0 && !connect(c, (struct sockaddr *)&ss, l),
	      "port %u, want %u: %s", port_of(bnd), bnd_port, strerror(errno));
	dev[0] = '\0';
	getsockopt(unb, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl);
	CHECK("unbound_options", get_int(unb, SOL_TCP, TCP_NODELAY) == 1 &&
	      get_int(unb, SOL_SOCKET, SO_KEEPALIVE) == 1 && port_of(unb) == 0 &&
	      get_int(unb, SOL_TCP, TCP_CORK) == 1 && !strcmp(dev, "lo") &&
	      (fam == AF_INET6 ? get_int(unb, SOL_IPV6, IPV6_FREEBIND) :
				 get_int(unb, SOL_IP, IP_FREEBIND)) == 1,
	      "nodelay %d cork %d device '%s'", get_int(unb, SOL_TCP, TCP_NODELAY),
	      get_int(unb, SOL_TCP, TCP_CORK), dev);
	CHECK("connection_options", opts_ok(conn_opts, why, sizeof(why)), "%s", why);
	CHECK("connection_diag_options", diag_opts_ok(conn_opts, why, sizeof(why)), "%s", why);
	CHECK("listener_options", get_int(lsn, SOL_SOCKET, SO_REUSEADDR) == 1 &&
	      get_int(lsn, SOL_SOCKET, SO_REUSEPORT) == 1, "reuseaddr %d reuseport %d",
	      get_int(lsn, SOL_SOCKET, SO_REUSEADDR), get_int(lsn, SOL_SOCKET, SO_REUSEPORT));
	printf("CHECKED\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t l;
	pid_t pid, srv;
	int c;

	if (argc < 3)
		return 2;
	fam = argv[1][0] == '6' ? AF_INET6 : AF_INET;
	go = argv[2];
	signal(SIGPIPE, SIG_IGN);
	lsn = tcp_socket();
	set_int(lsn, SOL_SOCKET, SO_REUSEADDR, 1);
	set_int(lsn, SOL_SOCKET, SO_REUSEPORT, 1);
	l = addr(&ss, 0);
	if (bind(lsn, (struct sockaddr *)&ss, l) || listen(lsn, 16))
		die("listen");
	pid = fork();
	if (pid == 0)
		client(port_of(lsn));
	c = accept(lsn, NULL, NULL);
	if (c < 0)
		die("accept");
	set_side();
	srv = fork();
	if (srv == 0) {
		/* the echo server: a second child */
		close(lsn);
		server(c);
	}
	close(c);
	target_ready("pid=%d client=%d server=%d port=%u", getpid(), pid, srv, port_of(lsn));
	while (access(go, F_OK))
		usleep(1000);
	check_side();
	for (;;) {
		int a = accept(lsn, NULL, NULL);

		if (a >= 0 && write(a, "hi\n", 3) != 3)
			printf("FAIL accept write\n");
		if (a >= 0)
			close(a);
	}
}
