/* Restore target: counts, writing one number per line to a file (argv[1]),
 * with the counter in a register-heavy loop and on the stack. A restored
 * copy must go on from the dumped value: the file has no gap, no repeat.
 * With argv[2] = "slow", it sleeps between lines (in nanosleep), so that a
 * dump usually catches it inside a syscall. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

static volatile unsigned long counter;

/* Called by gdb in the --stopped test: a value derived from the state. */
unsigned long compute_state(void)
{
	return counter * 3 + 7;
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	FILE *f;

	if (argc < 2)
		return 2;
	f = fopen(argv[1], "w");
	if (!f)
		return 1;
	setvbuf(f, NULL, _IOLBF, 0);
	target_ready("pid=%d counter=%#lx", getpid(), (unsigned long)&counter);
	for (;;) {
		fprintf(f, "%lu\n", counter);
		counter++;
		if (argc > 2 && !strcmp(argv[2], "slow"))
			nanosleep(&ts, NULL);
		if (argc > 3 && counter >= strtoul(argv[3], NULL, 0))
			break;
	}
	fclose(f);
	return 0;
}
