/* `make bench` helper: N TCP clients of the echo server on 127.0.0.1:PORT,
 * held outside the dumped tree. Each sends a line and reads its echo, then
 * "READY" is printed; every line on stdin then has every connection send
 * and read an echo again, and "OK N" (or "FAIL i: why") is printed: the
 * connections survived a dump --kill and restore --tcp-established. At the
 * end of stdin every connection is reset (SO_LINGER 0): closed, or killed,
 * they would linger on both sides (FIN_WAIT, TIME_WAIT) for a minute, and
 * the next run's dump would walk them all in the kernel's socket tables. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int echo(int c, int ms)
{
	struct pollfd p = { .fd = c, .events = POLLIN };
	char buf[8];

	if (write(c, "x\n", 2) != 2)
		return -errno;
	if (poll(&p, 1, ms) != 1)
		return -ETIMEDOUT;
	return read(c, buf, sizeof(buf)) == 2 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct rlimit rl;
	char line[64];
	int n, *c;

	if (argc < 3)
		return 2;
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	n = atoi(argv[2]);
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max = (rlim_t)n + 64 > rl.rlim_max ? (rlim_t)n + 64 : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	c = calloc((size_t)n + 1, sizeof(int));
	for (int i = 0; i < n; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c[i] < 0 || connect(c[i], (struct sockaddr *)&a, sizeof(a)) || echo(c[i], 10000)) {
			printf("FAIL %d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	printf("READY\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		int bad = -1, r = 0;

		for (int i = 0; i < n && bad < 0; i++)
			if ((r = echo(c[i], 20000)))
				bad = i;
		if (bad >= 0)
			printf("FAIL %d: %s\n", bad, strerror(-r));
		else
			printf("OK %d\n", n);
		fflush(stdout);
	}
	for (int i = 0; i < n; i++) {
		struct linger l = { 1, 0 };

		setsockopt(c[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(c[i]);
	}
	return 0;
}
