/* The dumper's own priority while it reads memory of a running tree: see
 * mem.h (mem_yield).
 *
 * SCHED_IDLE runs only when nothing else on the machine wants the CPU. On
 * a machine kept busy by other work (not the tree) the read would starve
 * without bound, while the tree pays for every first write it makes
 * (--snapshot wp) all that time. A watchdog bounds that: once our
 * SCHED_IDLE threads have together waited on a run queue for 90% of the
 * time, a second long, they go back to the priority we had: with others
 * competing, being nicer than all of them only makes the tree pay longer
 * (at nice 10 against 30 runnable tasks a CPU, a 32 MiB read took minutes).
 * An idle machine, or a tree that leaves a CPU free now and then, never
 * trips it. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "criu-lite/memory/mem.h"
#include "images/clock.h"
#include "images/log.h"

#define TICK_NS		250000000ull
#define STARVED_NS	1000000000ull

static struct {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	int nice;		/* what we had before SCHED_IDLE */
} wd = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Run-queue wait (ns, 2nd field of schedstat) summed over our threads at
 * SCHED_IDLE; with `raise`, those go back to SCHED_OTHER at wd.nice. */
static uint64_t idle_threads(bool raise)
{
	struct sched_param other = { 0 };
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	uint64_t sum = 0;

	while (d && (de = readdir(d))) {
		pid_t tid = atoi(de->d_name);
		unsigned long long run, wait;
		char path[64];
		FILE *f;

		if (tid <= 0 || sched_getscheduler(tid) != SCHED_IDLE)
			continue;
		if (raise) {
			if (!sched_setscheduler(tid, SCHED_OTHER, &other))
				setpriority(PRIO_PROCESS, tid, wd.nice);
			continue;
		}
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
		f = fopen(path, "re");
		if (f && fscanf(f, "%llu %llu", &run, &wait) == 2)
			sum += wait;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return sum;
}

/* Ticks are measured, not assumed: on the machines this is for, the
 * watchdog itself wakes late. */
static void *watchdog_main(void *arg)
{
	uint64_t wait = idle_threads(false), at = mono_ns(), starved = 0, w, now;

	(void)arg;
	setpriority(PRIO_PROCESS, (id_t)gettid(), -20);	/* root may: it must run */
	pthread_mutex_lock(&wd.mu);
	while (!wd.stop) {
		struct timespec ts;
		uint64_t next = mono_ns() + TICK_NS;

		ts.tv_sec = next / 1000000000ull;
		ts.tv_nsec = next % 1000000000ull;
		if (pthread_cond_timedwait(&wd.cv, &wd.mu, &ts) != ETIMEDOUT)
			continue;
		w = idle_threads(false);
		now = mono_ns();
		starved = (w - wait) * 10 >= (now - at) * 9 ? starved + (now - at) : 0;
		wait = w;
		at = now;
		if (starved >= STARVED_NS) {
			idle_threads(true);
			pr_info("the CPUs are busy with other work: memory is read at our own priority, not idle");
			break;
		}
	}
	pthread_mutex_unlock(&wd.mu);
	return NULL;
}

/* Before lowering ourselves: the watchdog keeps the priority we had. */
static void watchdog_start(int nice)
{
	pthread_condattr_t ca;

	wd.nice = nice;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd.cv, &ca);
	pthread_condattr_destroy(&ca);
	wd.stop = false;
	wd.running = !pthread_create(&wd.th, NULL, watchdog_main, NULL);
	if (!wd.running)
		pthread_cond_destroy(&wd.cv);
}

static void watchdog_stop(void)
{
	if (!wd.running)
		return;
	pthread_mutex_lock(&wd.mu);
	wd.stop = true;
	pthread_cond_signal(&wd.cv);
	pthread_mutex_unlock(&wd.mu);
	pthread_join(wd.th, NULL);
	pthread_cond_destroy(&wd.cv);
	wd.running = false;
}

void mem_yield(enum mem_yield how)
{
	static struct sched_param old_param;
	static int old_policy, old_nice;
	static bool lowered;
	struct sched_param idle = { 0 };

	if (how != YIELD_OFF && !lowered) {
		errno = 0;
		old_nice = getpriority(PRIO_PROCESS, 0);
		if (how == YIELD_IDLE)
			watchdog_start(old_nice);
		old_policy = sched_getscheduler(0);
		lowered = !errno && old_policy >= 0 && !sched_getparam(0, &old_param) &&
			  (how == YIELD_IDLE ? !sched_setscheduler(0, SCHED_IDLE, &idle)
					     : old_nice < 10 && !setpriority(PRIO_PROCESS, 0, 10));
		if (!lowered)
			watchdog_stop();
	} else if (how == YIELD_OFF && lowered) {
		watchdog_stop();
		sched_setscheduler(0, old_policy, &old_param);
		setpriority(PRIO_PROCESS, 0, old_nice);	/* needs privilege: else stays */
		lowered = false;
	}
}
