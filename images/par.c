/* Work split over two threads (par.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/par.h"

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

/* A second thread pays only with a CPU free for it: on a machine busy
 * with other work the two contend (the fd tables' spinlocks held by a
 * preempted vCPU, the join waiting on a worker not running). Measured,
 * 1000 connections on 2 CPUs: 230 -> 172 ms with 3 tasks runnable, but
 * 307 -> 415 ms with 5 to 13. /proc/loadavg's running count includes us
 * and kernel threads, and is one moment's: on an idle machine one restore
 * in twenty of the bench's sequence saw more tasks than CPUs and made its
 * connections alone, 5-10 ms slower. One task more than the CPUs, where
 * two threads still won above, keeps the second thread (20 of 20). */
static bool cpu_free(void)
{
	int running = 0, cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	FILE *f = fopen("/proc/loadavg", "re");
	bool ok = f && fscanf(f, "%*f %*f %*f %d/", &running) == 1;

	if (f)
		fclose(f);
	return ok && running <= cpus + 1;
}

bool par_two_threads(void)
{
	const char *v = getenv("CRIU_LITE_THREADS");

	if (v && !strcmp(v, "1"))
		return false;
	if (v && !strcmp(v, "2"))
		return true;
	return cpu_free();
}

/* A new thread is queued on its creator's CPU, and here it waits there
 * until the creator blocks: the idle CPU does not take it before a
 * balancing tick (4 ms at HZ 250). Measured: a worker's 4 ms of syscalls
 * beside its creator's own 4 ms took 7.7-8.6 ms in 4 of 5 tries, the
 * other CPU idle throughout (perf sched: a restore's two socket-making
 * threads took turns on one CPU). So the thread is made on the CPUs its
 * creator is not on, then given back every CPU its creator may use: the
 * scheduler is free again from there (4.2-4.8 ms).
 *
 * Both by the creator: the new thread runs nothing but fn. A worker must
 * not take a lock of its own before fn does (the pages' sums thread may
 * be running when restore forks, and a child inherits the locks held then:
 * images/dump_read_sums_bg.c); a first version that freed its arguments
 * in the new thread left a child of the ASan suite hung in its first free. */
static bool create_elsewhere(pthread_t *th, void *(*fn)(void *arg), void *arg)
{
	int here = sched_getcpu();
	pthread_attr_t attr;
	cpu_set_t cpus, away;
	bool ok;

	if (here < 0 || sched_getaffinity(0, sizeof(cpus), &cpus))
		return false;
	away = cpus;
	CPU_CLR(here, &away);
	if (!CPU_COUNT(&away) || pthread_attr_init(&attr))
		return false;
	ok = !pthread_attr_setaffinity_np(&attr, sizeof(away), &away) &&
	     !pthread_create(th, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (ok)
		pthread_setaffinity_np(*th, sizeof(cpus), &cpus);
	return ok;
}

bool par_start(pthread_t *th, void *(*fn)(void *arg), void *arg)
{
	sigset_t all, old;
	int r = 0;

	/* signals are criu-lite's main thread's to take */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (!create_elsewhere(th, fn, arg))
		r = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		errno = r;
	return !r;
}

int par_run(size_t n, void (*fn)(void *arg, size_t i), void (*done)(void), void *arg)
{
	struct par p = { .n = n, .fn = fn, .done = done, .arg = arg };
	pthread_t th;
	bool two;

	if (!par_two_threads()) {
		share(&p);
		return 1;
	}
	two = par_start(&th, worker, &p);
	share(&p);
	if (two)
		pthread_join(th, NULL);
	return two ? 2 : 1;
}

int par_offer_run(struct par_offer *o, size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
	struct par p = { .n = n, .fn = fn, .arg = arg };
	int threads;

	pthread_mutex_lock(&o->lock);
	o->p = &p;
	o->gen++;
	o->helped = 0;
	pthread_cond_broadcast(&o->changed);
	pthread_mutex_unlock(&o->lock);
	share(&p);
	/* p is on this stack: gone only once no helper is in it */
	pthread_mutex_lock(&o->lock);
	o->p = NULL;
	while (o->helpers)
		pthread_cond_wait(&o->changed, &o->lock);
	threads = 1 + o->helped;
	pthread_mutex_unlock(&o->lock);
	return threads;
}

void par_offer_close(struct par_offer *o)
{
	pthread_mutex_lock(&o->lock);
	o->closed = true;
	pthread_cond_broadcast(&o->changed);
	pthread_mutex_unlock(&o->lock);
}

void par_offer_help(struct par_offer *o)
{
	unsigned done = 0;	/* the last run helped (gen), or 0 */

	pthread_mutex_lock(&o->lock);
	while (!o->closed) {
		struct par *p = o->p;

		/* (a run whose items are all taken stays posted until its
		 * worker has finished its own: wait, not spin) */
		if (!p || o->gen == done) {
			pthread_cond_wait(&o->changed, &o->lock);
			continue;
		}
		done = o->gen;
		o->helpers++;
		o->helped++;
		pthread_mutex_unlock(&o->lock);
		share(p);
		pthread_mutex_lock(&o->lock);
		if (!--o->helpers)
			pthread_cond_broadcast(&o->changed);
	}
	pthread_mutex_unlock(&o->lock);
}
