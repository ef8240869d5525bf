/* `make bench` helper: run a command and print "WALL_NS MAXRSS_KB STATUS CPU_NS"
 * on fd 3 (the command keeps stdout and stderr). MAXRSS is the largest
 * resident set of the command or of any descendant it waited for (what
 * wait4 reports), e.g. gdb under the gcore script; CPU_NS is user + system
 * time of the same, which a loaded machine does not inflate as it does WALL. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static unsigned long long tv_ns(const struct timeval *tv)
{
	return tv->tv_sec * 1000000000ull + tv->tv_usec * 1000ull;
}

int main(int argc, char **argv)
{
	unsigned long long t0, t1;
	struct rusage ru;
	FILE *out;
	int st;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_run CMD [ARGS...]  (result on fd 3)\n");
		return 2;
	}
	out = fdopen(3, "w");
	if (!out)
		out = stderr;
	t0 = now_ns();
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		if (out != stderr)
			close(3);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0)
		return 2;
	t1 = now_ns();
	fprintf(out, "%llu %ld %d %llu\n", t1 - t0, ru.ru_maxrss,
		WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
		tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime));
	return 0;
}
