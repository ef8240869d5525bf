/* Helpers of the socket suites: see sk_util.h. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "test/restore_util.h"
#include "test/sk_util.h"

static socklen_t loopback(int family, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		a6->sin6_addr = in6addr_loopback;
		return sizeof(*a6);
	}
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*a4);
}

int sk_connect(int family, int port, int *fd)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);

	*fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return *fd < 0 ? -1 : connect(*fd, (struct sockaddr *)&ss, len);
}

int sk_client_with(int port, int flags, int rcvbuf)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, port, &ss);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0), r;

	cr_assert_geq(c, 0);
	/* before connect: the window the handshake announces follows it */
	if (rcvbuf)
		cr_assert_eq(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	r = connect(c, (struct sockaddr *)&ss, len);
	cr_assert(!r || ((flags & SOCK_NONBLOCK) && errno == EINPROGRESS), "connect: %s",
		  strerror(errno));
	return c;
}

int sk_client(int port)
{
	return sk_client_with(port, 0, 0);
}

int sk_free_port(void)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, 0, &ss);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(bind(s, (struct sockaddr *)&ss, len), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&ss, &len), 0);
	close(s);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

short sk_wait(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, ms) == 1 ? p.revents : 0;
}

bool sk_readable(int fd, int ms)
{
	return sk_wait(fd, POLLIN, ms) != 0;
}

/* MSG_NOSIGNAL: a connection reset under us fails the check instead of
 * killing the test with SIGPIPE. */
bool sk_echoes(int c, const char *msg, int ms)
{
	char buf[64];
	size_t n = strlen(msg);

	return send(c, msg, n, MSG_NOSIGNAL) == (ssize_t)n && sk_readable(c, ms) &&
	       read(c, buf, sizeof(buf)) == (ssize_t)n && !memcmp(buf, msg, n);
}

int sk_echo_start(struct target *t, const char *mode)
{
	rt_start(t, target_path("sk_echo"), mode, NULL);
	return (int)target_ready_u64(t, "port");
}

int sk_echo_client(struct target *t, const char *mode, int *port)
{
	int c;

	*port = sk_echo_start(t, mode);
	c = sk_client(*port);
	cr_assert(sk_echoes(c, "before\n", 5000), "the server does not echo");
	return c;
}

void sk_conns_as_left(pid_t pid, size_t *conns, size_t *as_were)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	char path[64], link[64];
	struct dirent *de;
	DIR *d;

	*conns = *as_were = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	cr_assert_geq(pidfd, 0);
	cr_assert(d = opendir(path));
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name), s, repair = -1, reuse = -1, type = -1;
		socklen_t l = sizeof(int);
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (de->d_name[0] == '.' || n <= 0 || strncmp(link, "socket:", 7))
			continue;
		cr_assert_geq(s = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0), 0);
		/* connections only: a stream socket with a peer (not the listener) */
		if (!getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &l) && type == SOCK_STREAM &&
		    !getpeername(s, (struct sockaddr *)&(struct sockaddr_storage){ 0 },
				 &(socklen_t){ sizeof(struct sockaddr_storage) })) {
			(*conns)++;
			l = sizeof(int);
			cr_assert_eq(getsockopt(s, SOL_TCP, TCP_REPAIR, &repair, &l), 0);
			l = sizeof(int);
			cr_assert_eq(getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, &l), 0);
			*as_were += !repair && reuse == 1;
		}
		close(s);
	}
	closedir(d);
	close(pidfd);
}
