/* Replay target for the files of a replay as of the dump: argv[1] is a file
 * it holds open O_RDWR (a database rewritten in place), argv[2] one it maps
 * MAP_SHARED whole (4 KiB at least), both made by the test. Generation g writes
 * 100 + g at offset 0 of the first (pwrite, in place) and 200 + g in the
 * first word of the mapping; it starts at 1, and each SIGUSR1 makes the
 * next one, then prints "REWRITTEN g=G". read_a() is what a debugger calls
 * in a replay: what its fd reads at offset 0 (pread); rewrite(g) writes
 * generation g into both (0 when done). map_b is the mapping.
 * READY pid=PID g=1 once generation 1 is in both files. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target.h"

static int fd_a;
volatile long *map_b;

long read_a(void)
{
	long v = -1;

	return pread(fd_a, &v, sizeof(v), 0) == sizeof(v) ? v : -2;
}

static int generation(long g)
{
	long v = 100 + g;

	if (pwrite(fd_a, &v, sizeof(v), 0) != sizeof(v))
		return -1;
	map_b[0] = 200 + g;
	return 0;
}

/* What a debugger calls to make the replay write both files. */
long rewrite(long g)
{
	return generation(g);
}

int main(int argc, char **argv)
{
	struct stat st;
	sigset_t set;
	long g = 1;
	int fd_b;

	if (argc < 3)
		return 2;
	fd_a = open(argv[1], O_RDWR | O_CLOEXEC);
	fd_b = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd_a < 0 || fd_b < 0)
		return 1;
	if (fstat(fd_b, &st) || st.st_size < 4096)
		return 1;
	map_b = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_b, 0);
	close(fd_b);
	if (map_b == MAP_FAILED || generation(g))
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	target_ready("pid=%d g=%ld", getpid(), g);
	for (;;) {
		if (sigwaitinfo(&set, NULL) != SIGUSR1)
			continue;
		if (generation(++g))
			return 1;
		printf("REWRITTEN g=%ld\n", g);
		fflush(stdout);
	}
}
