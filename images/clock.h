/* The clock readings every part of criu-lite takes: nanoseconds for what
 * goes into images and logs, milliseconds for deadlines. */
#ifndef CRIU_LITE_CLOCK_H
#define CRIU_LITE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static inline uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static inline long mono_ms(void)
{
	return (long)(mono_ns() / 1000000);
}

#endif
