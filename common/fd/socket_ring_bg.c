/* A ring run on a second thread, so that the caller fills the next batch
 * of operations while the kernel works through this one: an io_uring_enter
 * runs its operations in the caller's context, on the caller's core, and
 * restore has two cores and a thousand connections to make.
 *
 * One worker, one run at a time: start hands it a ring, wait takes the
 * result back. The worker blocks every signal (they are the main
 * thread's to take) and touches nothing but the ring and the callback's
 * argument, which the caller leaves alone until wait. No worker (thread
 * creation failed): start says so and the caller runs the ring itself. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>

#include "common/fd/socket.h"

struct sk_ring_bg {
	pthread_t th;
	sem_t go, done;
	bool running, quit;
	struct sk_ring *r;
	void (*fn)(uint64_t tag, int res, void *arg);
	void *arg;
	int rc;
};

static void *worker(void *p)
{
	struct sk_ring_bg *b = p;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		while (sem_wait(&b->go) && errno == EINTR)
			;
		if (b->quit)
			return NULL;
		b->rc = sk_ring_run(b->r, b->fn, b->arg);
		sem_post(&b->done);
	}
}

struct sk_ring_bg *sk_ring_bg_new(void)
{
	struct sk_ring_bg *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	if (sem_init(&b->go, 0, 0) || sem_init(&b->done, 0, 0) ||
	    pthread_create(&b->th, NULL, worker, b)) {
		free(b);
		return NULL;
	}
	return b;
}

void sk_ring_bg_start(struct sk_ring_bg *b, struct sk_ring *r,
		      void (*fn)(uint64_t tag, int res, void *arg), void *arg)
{
	b->r = r;
	b->fn = fn;
	b->arg = arg;
	b->running = true;
	sem_post(&b->go);
}

int sk_ring_bg_wait(struct sk_ring_bg *b)
{
	if (!b->running)
		return 0;
	while (sem_wait(&b->done) && errno == EINTR)
		;
	b->running = false;
	return b->rc;
}

void sk_ring_bg_free(struct sk_ring_bg *b)
{
	if (!b)
		return;
	sk_ring_bg_wait(b);
	b->quit = true;
	sem_post(&b->go);
	pthread_join(b->th, NULL);
	sem_destroy(&b->go);
	sem_destroy(&b->done);
	free(b);
}
