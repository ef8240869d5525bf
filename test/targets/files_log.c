/* Restore target: appends to a log opened O_APPEND (argv[2]): "before" at
 * the start, "after" once argv[1] exists, then prints "LOG end=N" with its
 * offset after that write (the file's size then). */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	int fd;

	if (argc < 3)
		return 2;
	fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "before\n", 7) != 7)
		return 1;
	target_ready("pid=%d", getpid());
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);
	if (write(fd, "after\n", 6) != 6)
		return 1;
	printf("LOG end=%lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	fflush(stdout);
	return 0;
}
