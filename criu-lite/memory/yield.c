/* The dumper's own priority while it reads memory of a running tree: see
 * mem.h (mem_yield).
 *
 * SCHED_IDLE runs only when nothing else on the machine wants the CPU. On
 * a machine kept busy by other work (not the tree) the read would starve
 * without bound, while the tree pays for every first write it makes
 * (--snapshot wp) all that time. A watchdog at our normal priority bounds
 * that: once our SCHED_IDLE threads have together waited on a run queue
 * for most of STARVED_TICKS ticks in a row, they go to nice 10, which
 * always gets its share. An idle machine, or a tree that leaves a CPU free
 * now and then, never trips it. */
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

#include "criu-lite/memory/mem.h"
#include "images/log.h"

#define TICK_MS		250
#define STARVED_TICKS	4

static struct {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
} wd = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Run-queue wait (ns, 2nd field of schedstat) summed over our threads at
 * SCHED_IDLE; with `raise`, those go to SCHED_OTHER at nice 10 instead. */
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
				setpriority(PRIO_PROCESS, tid, 10);
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

static void *watchdog_main(void *arg)
{
	uint64_t last = idle_threads(false), now;
	struct timespec at;
	int starved = 0;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &at);
	pthread_mutex_lock(&wd.mu);
	while (!wd.stop) {
		at.tv_nsec += TICK_MS * 1000000L;
		at.tv_sec += at.tv_nsec / 1000000000L;
		at.tv_nsec %= 1000000000L;
		if (pthread_cond_timedwait(&wd.cv, &wd.mu, &at) != ETIMEDOUT)
			continue;
		now = idle_threads(false);
		starved = now - last > TICK_MS * 900000ull ? starved + 1 : 0;
		last = now;
		if (starved == STARVED_TICKS) {
			idle_threads(true);
			pr_info("the CPUs are busy with other work: reading memory at nice 10, not idle");
			break;
		}
	}
	pthread_mutex_unlock(&wd.mu);
	return NULL;
}

/* Before lowering ourselves: the watchdog keeps the priority we had. */
static void watchdog_start(void)
{
	pthread_condattr_t ca;

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
		if (how == YIELD_IDLE)
			watchdog_start();
		errno = 0;
		old_nice = getpriority(PRIO_PROCESS, 0);
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
