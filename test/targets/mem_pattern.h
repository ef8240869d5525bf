/* The byte patterns mem_* targets write and the tests check: byte i of
 * region `seed` (i counted from the region's start). Non-zero for most i so
 * that a page of it is never mistaken for a zero page. */
#ifndef TEST_MEM_PATTERN_H
#define TEST_MEM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint8_t mem_pat(unsigned seed, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 40);

	x ^= x >> 29;
	return (uint8_t)(x * 0xbf58476d1ce4e5b9ull >> 56) | 1;
}

static inline void mem_pat_fill(void *p, size_t len, unsigned seed, uint64_t first)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)p)[i] = mem_pat(seed, first + i);
}

#endif
