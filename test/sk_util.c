/* Helpers of the socket suites: see sk_util.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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
