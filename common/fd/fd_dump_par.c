/* Work split over criu-lite's thread and one worker, item by item (an
 * atomic counter: whoever is free takes the next), for the dump's reads of
 * many fds of a frozen process: each is a few syscalls of a microsecond
 * or so in a guest, and the machine has a second core. A process's first
 * thread costs 0.25 to 1.2 ms to start and join here (later ones ~50 us):
 * callers use it above a millisecond or so of work. fn must touch only item i's own state and what no one writes
 * meanwhile; it must not log (the log's order is the walk's). */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd/fd.h"

struct par {
	size_t n, next;
	void (*fn)(void *arg, size_t i);
	void (*done)(void);
	void *arg;
};

static void share(struct par *p)
{
	size_t i;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->n)
		p->fn(p->arg, i);
}

static void *worker(void *arg)
{
	struct par *p = arg;

	share(p);
	if (p->done)
		p->done();
	return NULL;
}

int fd_dump_par(size_t n, void (*fn)(void *arg, size_t i), void (*done)(void), void *arg)
{
	struct par p = { .n = n, .fn = fn, .done = done, .arg = arg };
	const char *one = getenv("CRIU_LITE_ONE_THREAD");
	sigset_t all, old;
	pthread_t th;
	bool two;

	if (one && *one && strcmp(one, "0")) {
		share(&p);	/* (the tests' reference: everything on one) */
		return 1;
	}
	/* signals are criu-lite's main thread's to take */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	two = !pthread_create(&th, NULL, worker, &p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	share(&p);
	if (two)
		pthread_join(th, NULL);
	return two ? 2 : 1;
}
