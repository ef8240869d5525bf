/* What the socket suites share (test_sockets.c, test_sk_lock.c,
 * test_tcp_read_ahead.c, test_tcp_made_ahead.c, test_replay_apps.c): the
 * test as a TCP client of
 * a server on the loopback address, the echo server target (sk_echo) with
 * its port, and waiting on a socket. */
#ifndef TEST_SK_UTIL_H
#define TEST_SK_UTIL_H

#include <stdbool.h>

#include "test/helpers.h"

/* A new TCP socket (*fd, close-on-exec) connect()ed to port on the
 * loopback address of family (AF_INET 127.0.0.1, AF_INET6 ::1), nothing
 * asserted: connect's result (0, or -1 and errno; -1 if there was no
 * socket), for a test that expects rather than asserts, or retries. */
int sk_connect(int family, int port, int *fd);
/* A client of 127.0.0.1:port, asserted connected ("connect: %s"). */
int sk_client(int port);
/* The same with flags added to the socket's type (SOCK_NONBLOCK: connect
 * in progress is fine too) and, if not 0, SO_RCVBUF rcvbuf. */
int sk_client_with(int port, int flags, int rcvbuf);
/* A free TCP port of 127.0.0.1 (bound once, then closed) for a server
 * that takes its port on the command line. */
int sk_free_port(void);

/* fd's poll revents for events within ms, 0 if none came. */
short sk_wait(int fd, short events, int ms);
bool sk_readable(int fd, int ms);
/* msg sent on c and the same bytes back in one read within ms: sk_echo
 * answers what it got with one write. */
bool sk_echoes(int c, const char *msg, int ms);

/* sk_echo (rt_start) listening in mode: "4", "6", or "m" (an IPv6 socket
 * on 127.0.0.1), then "n" (no SO_REUSEADDR) or "p" (SO_REUSEPORT); its
 * port, from READY. */
int sk_echo_start(struct target *t, const char *mode);
/* The same with one client (us) answered once ("the server does not
 * echo"): the client's fd. */
int sk_echo_client(struct target *t, const char *mode, int *port);

/* pid's TCP connections (stream sockets with a peer, borrowed with
 * pidfd_getfd): how many, and how many are as a dump or a restore must
 * leave those of sk_echo: out of repair mode, SO_REUSEADDR on as accepted
 * from its listener (repair mode drops it, to be put back). */
void sk_conns_as_left(pid_t pid, size_t *conns, size_t *as_were);

#endif
