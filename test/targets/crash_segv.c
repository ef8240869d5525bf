/* Crashes on demand, for the crash intake tests: prints READY, waits for
 * SIGUSR1, then writes through a NULL pointer in crash_here(). gdb on the
 * core (or on a replay) should show crash_here, read crash_marker and
 * heap_note, and be able to call add_numbers().
 * argv[1] = N: first fill N MiB of heap with non-zero bytes (a big core). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

volatile long crash_marker;
char *heap_note;
static char *ballast;

int add_numbers(int a, int b)
{
	return a + b;
}

__attribute__((noinline)) void crash_here(int *p)
{
	*p = (int)crash_marker;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (mib) {
		ballast = malloc(mib << 20);
		for (size_t i = 0; ballast && i < (mib << 20); i++)
			ballast[i] = (char)(i * 7 + 1);
	}
	crash_marker = 0x1234abcd;
	heap_note = strdup("crash heap note");
	target_ready("pid=%d marker=%#lx", getpid(), crash_marker);
	sigwait(&set, &sig);
	crash_here(NULL);
	return 0;
}
