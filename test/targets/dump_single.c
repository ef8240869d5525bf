/* Single-threaded: counts and prints "COUNT n" every 10 ms, so a test can
 * see that its output goes on after a dump. */
#include <time.h>
#include <unistd.h>

#include "target.h"

int main(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	unsigned long n = 0;

	target_ready("pid=%d", getpid());
	for (;;) {
		printf("COUNT %lu\n", n++);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
}
