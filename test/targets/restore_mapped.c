/* Restore target: maps the file argv[1] privately, dirties its second page,
 * and waits (nanosleep) for the file argv[2]; then prints the first bytes
 * of both pages: "MAP <page0> <page1>". */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "target.h"

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	char *m;
	int fd;

	if (argc < 3)
		return 2;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		return 1;
	m = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	close(fd);
	memcpy(m + 4096, "dirty", 6);
	target_ready("pid=%d map=%p", getpid(), (void *)m);
	while (access(argv[2], F_OK))
		nanosleep(&ms, NULL);
	printf("MAP %.12s %.12s\n", m, m + 4096);
	fflush(stdout);
	return 0;
}
