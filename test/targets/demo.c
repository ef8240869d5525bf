/* The README's demo: a few threads doing visible work, so a dump has
 * something to show (threads in different functions, heap, a pipe). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target.h"

static volatile uint64_t counters[4];

static void *worker(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	for (;;) {
		counters[i]++;
		if (!(counters[i] & 0xfffff))
			usleep(1000);
	}
	return NULL;
}

int main(void)
{
	pthread_t th[3];
	char *heap = malloc(8 << 20);
	int pfd[2];

	/* Touch a quarter of the heap: the dump stores only what is populated. */
	memset(heap, 0x5a, 2 << 20);
	if (pipe(pfd) || write(pfd[1], "queued bytes", 12) != 12)
		return 1;
	for (uintptr_t i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, worker, (void *)(i + 1));
	target_ready("pid=%d heap=%p", getpid(), (void *)heap);
	for (;;) {
		counters[0]++;
		usleep(10000);
	}
}
