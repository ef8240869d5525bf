/* Restore target: unix sockets whose peers are outside the tree (the test
 * owns them): a stream socket connected to the listener argv[2] and a
 * datagram socket connected to argv[3] (as a program talks to /dev/log).
 * After the go file argv[1] appears it sends "again" on both and prints
 * "DONE". */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static int connect_to(int type, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, type, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		return -1;
	return s;
}

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	int st, dg;

	if (argc < 4)
		return 2;
	st = connect_to(SOCK_STREAM, argv[2]);
	dg = connect_to(SOCK_DGRAM, argv[3]);
	if (st < 0 || dg < 0)
		return 1;
	target_ready("pid=%d stream=%d dgram=%d", getpid(), st, dg);
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);
	if (send(st, "again", 5, MSG_NOSIGNAL) != 5 || send(dg, "again", 5, 0) != 5)
		printf("FAIL %m\n");
	printf("DONE\n");
	fflush(stdout);
	pause();
	return 0;
}
