/* Restore target: a parent and its child joined by a pipe that holds
 * unread bytes. The parent writes argv[2] bytes of a pattern the child has
 * not read yet, prints READY, and both wait (in nanosleep) for the file
 * argv[1]. Then the parent closes its end and waits for the child, which
 * reads to EOF and prints "GOT n sum=x"; the parent exits with the child's
 * status. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "target.h"

static void wait_for(const char *path)
{
	const struct timespec ms = { 0, 1000 * 1000 };

	while (access(path, F_OK))
		nanosleep(&ms, NULL);
}

static int child(int rfd, const char *go)
{
	unsigned long n = 0, sum = 0;
	unsigned char buf[4096];
	ssize_t r;

	wait_for(go);
	while ((r = read(rfd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++, n++)
			sum = sum * 31 + buf[i];
	printf("GOT %lu sum=%#lx\n", n, sum);
	fflush(stdout);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	unsigned long len, sum = 0;
	unsigned char *buf;
	int p[2], st;
	pid_t pid;

	if (argc < 3)
		return 2;
	len = strtoul(argv[2], NULL, 0);
	if (pipe(p))
		return 1;
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		_exit(child(p[0], argv[1]));
	}
	close(p[0]);
	buf = malloc(len);
	for (unsigned long i = 0; i < len; i++) {
		buf[i] = (unsigned char)(i * 13 + i / 251);
		sum = sum * 31 + buf[i];
	}
	if (write(p[1], buf, len) != (ssize_t)len)
		return 1;
	target_ready("pid=%d child=%d len=%lu sum=%#lx", getpid(), pid, len, sum);
	wait_for(argv[1]);
	close(p[1]);
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
