/* Restore target: 8 threads, each mixing its own range of numbers into a
 * checksum. The hot loop is assembly that keeps the whole state (index,
 * count, accumulator) in registers; the outer loop keeps its state on the
 * stack. Prints "SUM i value" per thread and "DONE" at the end: a restored
 * copy must print what an undisturbed run prints. READY lists the tids
 * (tid0=...), and each thread's tid at the end is printed as "TID i tid".
 * argv[1]: chunks per thread (work size). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "target.h"

#define NTHREADS 8
#define CHUNK (1u << 16)

static unsigned long chunks = 64;
static pthread_barrier_t start;
static volatile pid_t tid_start[NTHREADS], tid_end[NTHREADS];

/* acc = rotl(acc ^ (k * golden), 7) + k, for k in [lo, lo + CHUNK). */
static uint64_t mix_chunk(uint64_t acc, uint64_t lo)
{
	uint64_t k = lo, n = CHUNK;

	__asm__ volatile(
		"1:\n\t"
		"mov %[k], %%rax\n\t"
		"imul %[g], %%rax\n\t"
		"xor %%rax, %[acc]\n\t"
		"rol $7, %[acc]\n\t"
		"add %[k], %[acc]\n\t"
		"inc %[k]\n\t"
		"dec %[n]\n\t"
		"jnz 1b\n\t"
		: [acc] "+r"(acc), [k] "+r"(k), [n] "+r"(n)
		: [g] "r"(0x9e3779b97f4a7c15ull)
		: "rax", "cc");
	return acc;
}

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t acc = id + 1, base = (uint64_t)id << 40;

	tid_start[id] = gettid();
	pthread_barrier_wait(&start);
	for (unsigned long c = 0; c < chunks; c++)
		acc = mix_chunk(acc, base + (uint64_t)c * CHUNK);
	tid_end[id] = gettid();
	return (void *)(uintptr_t)acc;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS];

	if (argc > 1)
		chunks = strtoul(argv[1], NULL, 0);
	pthread_barrier_init(&start, NULL, NTHREADS + 1);
	for (uintptr_t i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < NTHREADS; i++)
		while (!tid_start[i])
			usleep(1000);
	target_ready("pid=%d threads=%d tid0=%d tid7=%d", getpid(), NTHREADS, tid_start[0],
		     tid_start[7]);
	pthread_barrier_wait(&start);
	for (int i = 0; i < NTHREADS; i++) {
		void *r;

		pthread_join(th[i], &r);
		printf("SUM %d %#lx\n", i, (unsigned long)(uintptr_t)r);
	}
	for (int i = 0; i < NTHREADS; i++)
		printf("TID %d %d\n", i, tid_end[i]);
	printf("DONE\n");
	fflush(stdout);
	return 0;
}
