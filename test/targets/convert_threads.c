/* Four threads, each parked in a function of its own (park_alpha ..
 * park_delta) with a known local, spinning on inline asm that reloads known
 * vector values every iteration, so that whenever the process is stopped
 * each thread's frame, locals and registers are known:
 *   thread n (1..4): ymm1 = 4 x (0x1111111111111111 * n)
 *                    xmm0 = 2 x (0x0a0a0a0a0a0a0a00 + n)
 *                    with AVX-512: zmm17 = 8 x (0x7700000000000000 + n), k1 = 0x5a00 + n
 * The main thread sleeps in pause() (a frame inside libc). Globals hold
 * known values. READY gives each thread's tid. */
#include <cpuid.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "target.h"

volatile uint64_t global_array[4] = { 0x1111222233334444ull, 0x5555666677778888ull,
				      0x99990000aaaabbbbull, 0xccccddddeeeeffffull };
volatile long some_global = 0x5eed1234;
volatile const char *some_string = "criu-lite convert";

static int has_avx512;
static volatile int started;
static volatile pid_t tids[5];

/* AVX-512 usable: CPUID says so and the OS enabled opmask/ZMM state. */
static int detect_avx512(void)
{
	unsigned a, b, c, d, lo, hi;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 16)))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 0xe6) == 0xe6;
}

/* A macro, not a function: frame 0 must be the park_* function itself. */
#define PARK(n)                                                                        \
	do {                                                                           \
		volatile uint64_t y = 0x1111111111111111ull * (n);                     \
		volatile uint64_t x = 0x0a0a0a0a0a0a0a00ull + (n);                     \
		volatile uint64_t z = 0x7700000000000000ull + (n);                     \
		volatile uint64_t k = 0x5a00 + (n);                                    \
		tids[n] = (pid_t)syscall(SYS_gettid);                                  \
		for (int first = 1;; first = 0) {                                      \
			__asm__ volatile("vpbroadcastq %0, %%ymm1\n\t"                 \
					 "vpbroadcastq %1, %%xmm0"                     \
					 : : "m"(y), "m"(x) : "xmm0", "xmm1");         \
			if (has_avx512)                                                \
				__asm__ volatile("vpbroadcastq %0, %%zmm17\n\t"        \
						 "kmovq %1, %%k1"                      \
						 : : "m"(z), "m"(k));                  \
			if (first)                                                     \
				__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);     \
		}                                                                      \
	} while (0)

__attribute__((noinline)) static void park_alpha(void)
{
	volatile long local_alpha = 0xa1fa;

	(void)local_alpha;
	PARK(1);
}

__attribute__((noinline)) static void park_beta(void)
{
	volatile long local_beta = 0xbe7a;

	(void)local_beta;
	PARK(2);
}

__attribute__((noinline)) static void park_gamma(void)
{
	volatile long local_gamma = 0x6a33a;

	(void)local_gamma;
	PARK(3);
}

__attribute__((noinline)) static void park_delta(void)
{
	volatile long local_delta = 0xde17a;

	(void)local_delta;
	PARK(4);
}

static void *thread_main(void *arg)
{
	static void (*const park[])(void) = { park_alpha, park_beta, park_gamma, park_delta };

	park[(long)arg]();
	return NULL;
}

int main(void)
{
	pthread_attr_t attr;
	pthread_t th[4];

	has_avx512 = detect_avx512();
	/* Small stacks: gcore, which the tests run on this process too, reads
	 * (and so populates) every page of every stack. */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	for (long i = 0; i < 4; i++)
		if (pthread_create(&th[i], &attr, thread_main, (void *)i))
			return 1;
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < 4)
		usleep(1000);
	target_ready("pid=%d alpha=%d beta=%d gamma=%d delta=%d avx512=%d", getpid(), tids[1],
		     tids[2], tids[3], tids[4], has_avx512);
	for (;;)
		pause();
}
