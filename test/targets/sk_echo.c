/* Restore target: an echo server. argv[1]: "4" or "6", or "m": an IPv6
 * socket on IPv4's loopback (::ffff:127.0.0.1), whose connections are IPv4
 * on the wire; then optionally "n": its listener without SO_REUSEADDR,
 * "p": with SO_REUSEPORT too (a second one may share its port), "o": a
 * TCP-level option set on each accepted connection, by its number (see
 * set_option), "f": its first connection sent over a socketpair of its own
 * and closed, left in flight (park). It listens on the loopback address (a
 * free port, in READY) and echoes whatever each client sends, to any
 * number of clients, from one poll loop: a server whose clients are
 * outside the tree (the test, the bench). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "target.h"

#define MAX_CLIENTS 8192

static struct pollfd fds[MAX_CLIENTS + 1];
static int nfds;

/* And one of six that sock_diag's table shows (the type of service, the
 * mark, the congestion control, the inet flags, the bound device): a dump
 * reads them there, or by BPF where it would. */
static void set_table_option(int c, int n, int fam)
{
	static const int tos = 0x10, tclass = 0x28, mark = 7, on = 1;
	bool v6 = fam == AF_INET6;

	switch (n % 6) {
	case 0:
		setsockopt(c, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TCLASS : IP_TOS, v6 ? &tclass : &tos,
			   sizeof(int));
		break;
	case 1:
		setsockopt(c, SOL_SOCKET, SO_MARK, &mark, sizeof(int));
		break;
	case 2:
		setsockopt(c, SOL_TCP, TCP_CONGESTION, "reno", 4);
		break;
	case 3:
		setsockopt(c, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, &on,
			   sizeof(int));
		break;
	case 4:
		if (!v6)
			setsockopt(c, SOL_IP, IP_RECVERR, &on, sizeof(int));
		break;
	default:
		setsockopt(c, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2);
	}
}

/* Connection n's option, one of sixteen: what a dump reads of it (by BPF or
 * by syscalls) must be what was set. */
static void set_option(int c, int n, int fam)
{
	static const struct linger linger = { 1, 5 };
	static const struct { int level, name, val; } opt[] = {
		{ SOL_TCP, TCP_NODELAY, 1 },
		{ SOL_TCP, TCP_KEEPCNT, 4 },
		{ SOL_TCP, TCP_KEEPIDLE, 33 },
		{ SOL_TCP, TCP_USER_TIMEOUT, 12345 },
		{ SOL_TCP, TCP_NOTSENT_LOWAT, 8192 },
		{ SOL_TCP, TCP_LINGER2, -1 },
		{ SOL_TCP, TCP_LINGER2, 17 },
		{ SOL_IP, IP_TTL, 33 },
		{ SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT },
		{ SOL_SOCKET, SO_KEEPALIVE, 1 },
		{ SOL_SOCKET, SO_PRIORITY, 3 },
		{ SOL_SOCKET, SO_RCVLOWAT, 5 },
		{ SOL_SOCKET, SO_RCVBUF, 65536 },
		{ SOL_SOCKET, SO_OOBINLINE, 1 },
		{ SOL_SOCKET, SO_TIMESTAMP, 1 },
		{ SOL_SOCKET, SO_LINGER, 0 },
	};
	int k = n % 16;

	/* first: IP_TOS sets the priority too, SO_PRIORITY after it wins */
	set_table_option(c, n, fam);
	if (opt[k].level == SOL_IP && fam != AF_INET)
		return;
	if (opt[k].name == SO_LINGER)
		setsockopt(c, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
	else
		setsockopt(c, opt[k].level, opt[k].name, &opt[k].val, sizeof(int));
	if (k == 2)
		setsockopt(c, SOL_TCP, TCP_KEEPINTVL, &opt[1].val, sizeof(int));
}

/* Connection c sent over a socketpair of ours and closed: from then on it
 * is only in flight, in the pair's queue. -1 (nothing to poll). */
static int park(int c)
{
	char byte = 'f';
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	int sp[2];

	memset(u.buf, 0, sizeof(u.buf));
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &c, sizeof(int));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || sendmsg(sp[0], &m, 0) != 1)
		exit(1);
	close(c);
	return -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = { 0 };
	struct rlimit rl = { MAX_CLIENTS + 64, MAX_CLIENTS + 64 };
	bool mapped = argc > 1 && argv[1][0] == 'm';
	bool reuse = !(argc > 1 && strchr(argv[1], 'n')), reuseport = argc > 1 && strchr(argv[1], 'p');
	bool options = argc > 1 && strchr(argv[1], 'o');
	bool park_first = argc > 1 && strchr(argv[1], 'f');
	int fam = argc > 1 && (argv[1][0] == '6' || mapped) ? AF_INET6 : AF_INET, one = 1;
	socklen_t l = fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int s = socket(fam, SOCK_STREAM, 0);

	signal(SIGPIPE, SIG_IGN);
	setrlimit(RLIMIT_NOFILE, &rl);
	ss.ss_family = (sa_family_t)fam;
	if (mapped)
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	else if (fam == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || (reuse && setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) ||
	    (reuseport && setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
	    bind(s, (struct sockaddr *)&ss, l) || listen(s, 4096) ||
	    getsockname(s, (struct sockaddr *)&ss, &l))
		return 1;
	fds[nfds++] = (struct pollfd){ .fd = s, .events = POLLIN };
	target_ready("pid=%d port=%u", getpid(), ntohs(fam == AF_INET6 ?
			((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port));
	for (;;) {
		if (poll(fds, (nfds_t)nfds, -1) < 0)
			continue;
		if ((fds[0].revents & POLLIN) && nfds <= MAX_CLIENTS) {
			int c = accept(s, NULL, NULL);

			/* every 7th client's socket signals us (SIGURG, or SIGIO
			 * as SIGUSR2 with O_ASYNC): its owner must come back */
			if (c >= 0 && nfds % 7 == 3)
				fcntl(c, F_SETOWN, getpid());
			if (c >= 0 && nfds % 14 == 3)
				fcntl(c, F_SETSIG, SIGUSR2);
			if (c >= 0 && options)
				set_option(c, nfds, fam);
			/* "f": the first connection goes in flight */
			if (c >= 0 && park_first)
				c = park(c), park_first = false;
			if (c >= 0)
				fds[nfds++] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
		for (int i = 1; i < nfds; i++) {
			char buf[4096];
			ssize_t n;

			if (!fds[i].revents)
				continue;
			n = read(fds[i].fd, buf, sizeof(buf));
			if (n > 0 && write(fds[i].fd, buf, (size_t)n) == n)
				continue;
			if (n < 0 && errno == EAGAIN)
				continue;
			close(fds[i].fd);
			fds[i--] = fds[--nfds];
		}
	}
}
