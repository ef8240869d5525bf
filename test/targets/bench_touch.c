/* The `make bench` target: N MiB of random (incompressible) bytes, touched
 * by T threads that measure their own downtime.
 *
 * Usage: bench_touch MIB [THREADS]
 * Environment: BENCH_SPIN_US (default 500) and BENCH_SLEEP_US (1500): each
 * thread spins in a tight clock_gettime loop for SPIN µs, writes BENCH_DIRTY
 * (default 1) random pages of its slice, then sleeps SLEEP µs. A thread
 * that spins all the time would be preempted by its siblings on a small
 * machine and see gaps that no dumper caused; 25% duty keeps T = 4 threads
 * on one of two cores. BENCH_THP=1 asks for transparent huge pages.
 *
 * A thread's "gap" is time it lost against its own plan: between two clock
 * readings while spinning, or how late it woke from a sleep. The largest
 * gap of any thread is the downtime it saw, whatever froze it (ptrace, a
 * fork copying page tables, a core dump, the scheduler).
 *
 * Signals (blocked in the workers, taken by the main thread with sigwait):
 *   SIGUSR1: print "GAP max_ns=N thread=I at_ns=T" for the largest gap (T:
 *            CLOCK_MONOTONIC at its end, to set against stats.img) since the
 *            last report or reset, then reset;
 *   SIGUSR2: reset only.
 *   SIGABRT: default action, so the kernel writes a core (the bench's
 *            kernel-core measurement).
 * Prints "READY pid=P addr=A len=L threads=T" once every byte is written. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define PG 4096ul
#define MAX_THREADS 64

struct worker {
	pthread_t th;
	int idx;
	uint8_t *base;		/* this thread's slice */
	size_t len;
	uint64_t rng;
	_Atomic uint64_t max_gap;
	_Atomic uint64_t max_at;	/* CLOCK_MONOTONIC ns at the end of that gap */
} __attribute__((aligned(64)));

static struct worker workers[MAX_THREADS];
static int nr_threads;
static long spin_ns, sleep_ns, dirty_pages;
static pthread_barrier_t filled;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* xorshift64*: fast, and its output does not compress. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void fill(struct worker *w)
{
	uint64_t *p = (uint64_t *)w->base;

	for (size_t i = 0; i < w->len / 8; i++)
		p[i] = rnd(&w->rng);
}

static void note_gap(struct worker *w, uint64_t gap, uint64_t at)
{
	uint64_t cur = atomic_load_explicit(&w->max_gap, memory_order_relaxed);

	while (gap > cur &&
	       !atomic_compare_exchange_weak_explicit(&w->max_gap, &cur, gap, memory_order_relaxed,
						      memory_order_relaxed))
		;
	if (gap > cur)
		atomic_store_explicit(&w->max_at, at, memory_order_relaxed);
}

static void dirty(struct worker *w)
{
	for (long i = 0; i < dirty_pages && w->len >= PG; i++) {
		size_t page = rnd(&w->rng) % (w->len / PG);

		*(volatile uint64_t *)(w->base + page * PG + (rnd(&w->rng) % (PG / 8)) * 8) =
			rnd(&w->rng);
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t last, wake;

	fill(w);
	pthread_barrier_wait(&filled);
	last = now_ns();
	for (;;) {
		uint64_t end = last + spin_ns, t;
		struct timespec ts;

		do {
			t = now_ns();
			note_gap(w, t - last, t);
			last = t;
		} while (t < end);
		dirty(w);
		wake = now_ns() + sleep_ns;
		ts.tv_sec = wake / 1000000000ull;
		ts.tv_nsec = wake % 1000000000ull;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
			;
		last = now_ns();
		note_gap(w, last - wake, last);	/* lateness of the wake-up */
	}
	return NULL;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? atol(v) : def;
}

static void report(bool print)
{
	uint64_t max = 0, at = 0;
	int who = -1;

	for (int i = 0; i < nr_threads; i++) {
		uint64_t g = atomic_exchange(&workers[i].max_gap, 0);

		if (g > max) {
			max = g;
			who = i;
			at = atomic_load(&workers[i].max_at);
		}
	}
	if (print) {
		printf("GAP max_ns=%llu thread=%d at_ns=%llu\n", (unsigned long long)max, who,
		       (unsigned long long)at);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 64, len = mib << 20, slice;
	sigset_t set;
	uint8_t *mem;

	nr_threads = argc > 2 ? atoi(argv[2]) : 4;
	if (nr_threads < 1 || nr_threads > MAX_THREADS || !mib)
		return 2;
	spin_ns = env_long("BENCH_SPIN_US", 500) * 1000;
	sleep_ns = env_long("BENCH_SLEEP_US", 1500) * 1000;
	dirty_pages = env_long("BENCH_DIRTY", 1);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 3;
	madvise(mem, len, env_long("BENCH_THP", 0) ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);

	/* Workers inherit a mask with the report signals blocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_barrier_init(&filled, NULL, nr_threads + 1);
	slice = (len / nr_threads) & ~(PG - 1);
	for (int i = 0; i < nr_threads; i++) {
		struct worker *w = &workers[i];

		w->idx = i;
		w->base = mem + i * slice;
		w->len = i == nr_threads - 1 ? len - i * slice : slice;
		w->rng = 0x9e3779b97f4a7c15ull * (i + 1) ^ (uint64_t)getpid() << 17;
		if (pthread_create(&w->th, NULL, work, w))
			return 4;
	}
	pthread_barrier_wait(&filled);
	report(false);
	target_ready("pid=%d addr=%p len=%zu threads=%d", getpid(), (void *)mem, len, nr_threads);
	for (;;) {
		int sig;

		if (sigwait(&set, &sig))
			continue;
		report(sig == SIGUSR1);
	}
}
