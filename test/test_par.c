/* images/par.c's worker threads. One is made on another CPU than its
 * creator's (a new thread otherwise waits on its creator's CPU while the
 * other idles, par.c), and must then be as free as its creator: a worker
 * left pinned would run beside nothing. What a user could check with
 * taskset -p on a criu-lite thread. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/par.h"

struct seen {
	int go[2];		/* a pipe: written once par_start has returned */
	cpu_set_t cpus;		/* the worker's affinity, from then on */
	int cpu;		/* where its first code ran */
	int err;
};

static void *look(void *arg)
{
	struct seen *s = arg;
	char c;

	s->cpu = sched_getcpu();
	if (read(s->go[0], &c, 1) != 1)
		s->err = EPIPE;
	else if (sched_getaffinity(0, sizeof(s->cpus), &s->cpus))
		s->err = errno;
	return NULL;
}

static struct seen start_and_look(void)
{
	struct seen s;
	pthread_t th;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(pipe(s.go), 0);
	cr_assert(par_start(&th, look, &s), "no worker: %s", strerror(errno));
	cr_assert_eq(write(s.go[1], "g", 1), 1);
	pthread_join(th, NULL);
	close(s.go[0]);
	close(s.go[1]);
	cr_assert_eq(s.err, 0, "the worker cannot read its affinity: %s", strerror(s.err));
	return s;
}

static cpu_set_t mine(void)
{
	cpu_set_t c;

	cr_assert_eq(sched_getaffinity(0, sizeof(c), &c), 0);
	return c;
}

Test(par, a_worker_may_run_on_every_cpu_its_creator_may)
{
	cpu_set_t want = mine();
	struct seen s = start_and_look();

	cr_assert(CPU_EQUAL(&s.cpus, &want), "the worker may run on %d CPUs, its creator on %d",
		  CPU_COUNT(&s.cpus), CPU_COUNT(&want));
	cr_assert(CPU_ISSET(s.cpu, &want), "the worker ran on CPU %d, not one of its creator's",
		  s.cpu);
}

/* Limited to two CPUs (taskset -c a,b criu-lite ...): the worker starts on
 * one of them and keeps to them, never widened to the machine's. */
Test(par, a_worker_keeps_to_the_cpus_its_creator_was_limited_to)
{
	cpu_set_t all = mine(), two;
	int n = 0;

	CPU_ZERO(&two);
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &all)) {
			CPU_SET(i, &two);
			n++;
		}
	if (n < 2)
		cr_skip_test("one CPU only: nowhere else to start a worker");
	cr_assert_eq(sched_setaffinity(0, sizeof(two), &two), 0);
	struct seen s = start_and_look();

	cr_assert(CPU_EQUAL(&s.cpus, &two), "the worker may run on %d CPUs, not its creator's 2",
		  CPU_COUNT(&s.cpus));
	cr_assert(CPU_ISSET(s.cpu, &two), "the worker ran on CPU %d, outside its creator's two",
		  s.cpu);
}

/* Limited to one CPU, there is no elsewhere: the worker shares it. */
Test(par, a_worker_of_a_creator_on_one_cpu_runs_on_that_cpu)
{
	cpu_set_t one;
	int here = sched_getcpu();

	cr_assert_geq(here, 0);
	CPU_ZERO(&one);
	CPU_SET(here, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	struct seen s = start_and_look();

	cr_assert(CPU_EQUAL(&s.cpus, &one), "the worker may run on %d CPUs, its creator on 1",
		  CPU_COUNT(&s.cpus));
	cr_assert_eq(s.cpu, here);
}

/* par_run's items are each done once, whichever thread takes them. */
static void count(void *arg, size_t i)
{
	__atomic_fetch_add(&((int *)arg)[i], 1, __ATOMIC_RELAXED);
}

Test(par, every_item_of_a_run_is_done_once)
{
	static int done[4096];
	int threads;

	setenv("CRIU_LITE_THREADS", "2", 1);
	threads = par_run(4096, count, NULL, done);
	cr_assert_eq(threads, 2);
	for (size_t i = 0; i < 4096; i++)
		cr_assert_eq(done[i], 1, "item %zu done %d times", i, done[i]);
}
