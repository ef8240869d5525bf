/* Eight threads, each spinning in a function of its own (spin_0..spin_7),
 * so a test can check that each dumped rip lies in the right function. The
 * main thread prints "ALIVE n" with the threads' progress every 20 ms.
 * READY comes only once every counter has moved: each thread bumps its own
 * counter only from inside its loop, so by then no thread can still be in
 * pthread_create's start-up code (a barrier's release would not say that). */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define NR 8

static volatile unsigned long counters[NR];

#define SPIN(i) \
	__attribute__((noinline)) static void *spin_##i(void *arg) \
	{ \
		(void)arg; \
		for (;;) \
			counters[i]++; \
		return NULL; \
	}
SPIN(0) SPIN(1) SPIN(2) SPIN(3) SPIN(4) SPIN(5) SPIN(6) SPIN(7)

static void *(*const fns[NR])(void *) = {
	spin_0, spin_1, spin_2, spin_3, spin_4, spin_5, spin_6, spin_7,
};

static int nr_in_loop(void)
{
	int n = 0;

	for (int i = 0; i < NR; i++)
		n += counters[i] != 0;
	return n;
}

int main(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 }, poll = { 0, 1000 * 1000 };
	pthread_t th[NR];
	unsigned long n = 0;

	for (int i = 0; i < NR; i++)
		pthread_create(&th[i], NULL, fns[i], NULL);
	while (nr_in_loop() < NR)
		nanosleep(&poll, NULL);
	target_ready("pid=%d spin_0=%p spin_1=%p spin_2=%p spin_3=%p spin_4=%p spin_5=%p spin_6=%p spin_7=%p",
		     getpid(), (void *)spin_0, (void *)spin_1, (void *)spin_2, (void *)spin_3,
		     (void *)spin_4, (void *)spin_5, (void *)spin_6, (void *)spin_7);
	for (;;) {
		unsigned long sum = 0;

		nanosleep(&ts, NULL);
		for (int i = 0; i < NR; i++)
			sum += counters[i];
		printf("ALIVE %lu %lu\n", n++, sum);
		fflush(stdout);
	}
}
