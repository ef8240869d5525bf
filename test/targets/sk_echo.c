/* Restore target: an echo server. argv[1]: "4" or "6", or "m": an IPv6
 * socket on IPv4's loopback (::ffff:127.0.0.1), whose connections are IPv4
 * on the wire; then optionally "n": its listener without SO_REUSEADDR,
 * "p": with SO_REUSEPORT too (a second one may share its port), "o": a
 * TCP-level option set on each accepted connection, by its number (see
 * set_option). It listens on the loopback address (a free port, in READY) and echoes whatever each client
 * sends, to any number of clients, from one poll loop: a server whose
 * clients are outside the tree (the test, the bench). */
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

	if (opt[k].level == SOL_IP && fam != AF_INET)
		return;
	if (opt[k].name == SO_LINGER)
		setsockopt(c, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
	else
		setsockopt(c, opt[k].level, opt[k].name, &opt[k].val, sizeof(int));
	if (k == 2)
		setsockopt(c, SOL_TCP, TCP_KEEPINTVL, &opt[1].val, sizeof(int));
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = { 0 };
	struct rlimit rl = { MAX_CLIENTS + 64, MAX_CLIENTS + 64 };
	bool mapped = argc > 1 && argv[1][0] == 'm';
	bool reuse = !(argc > 1 && strchr(argv[1], 'n')), reuseport = argc > 1 && strchr(argv[1], 'p');
	bool options = argc > 1 && strchr(argv[1], 'o');
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
