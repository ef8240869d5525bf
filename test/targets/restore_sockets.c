/* Restore target: sockets restore recreates. A parent and its child share a
 * unix socketpair; the parent also listens on TCP (127.0.0.1, a free port)
 * and on the unix socket path argv[2]. Both wait for the file argv[1]; then
 * the child sends a line through the pair, and the parent reads it, accepts
 * one connection on each listener, reads a line from each and prints
 * "SOCK pair=<line> tcp=<line> unix=<line>". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static void wait_for(const char *path)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (access(path, F_OK))
		nanosleep(&ms, NULL);
}

static void read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len && read(fd, buf + n, 1) == 1 && buf[n] != '\n')
		n++;
	buf[n] = '\0';
}

static void accept_line(int lfd, char *buf, size_t len)
{
	int c = accept(lfd, NULL, NULL);

	buf[0] = '\0';
	if (c >= 0) {
		read_line(c, buf, len);
		close(c);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char pair[64], tcp[64], unx[64];
	socklen_t len = sizeof(in);
	int sp[2], tl, ul, st;
	pid_t pid;

	if (argc < 3 || strlen(argv[2]) >= sizeof(un.sun_path))
		return 2;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		return 1;
	pid = fork();
	if (pid == 0) {
		close(sp[0]);
		wait_for(argv[1]);
		if (write(sp[1], "hello\n", 6) != 6)
			_exit(1);
		_exit(0);
	}
	close(sp[1]);
	tl = socket(AF_INET, SOCK_STREAM, 0);
	ul = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(un.sun_path, argv[2]);
	if (bind(tl, (struct sockaddr *)&in, sizeof(in)) || listen(tl, 4) ||
	    getsockname(tl, (struct sockaddr *)&in, &len) ||
	    bind(ul, (struct sockaddr *)&un, sizeof(un)) || listen(ul, 4))
		return 1;
	target_ready("pid=%d child=%d port=%d", getpid(), pid, ntohs(in.sin_port));
	wait_for(argv[1]);
	read_line(sp[0], pair, sizeof(pair));
	accept_line(tl, tcp, sizeof(tcp));
	accept_line(ul, unx, sizeof(unx));
	printf("SOCK pair=%s tcp=%s unix=%s\n", pair, tcp, unx);
	fflush(stdout);
	waitpid(pid, &st, 0);
	return 0;
}
