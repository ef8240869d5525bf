/* Restore target for the bulk page copy (restore/pages_copy.c): regions
 * large and fragmented enough that the copy is shared out between threads,
 * split into several chunks, and needs more iovecs than one syscall takes.
 *   A: 40 MiB, every byte written (one run longer than a chunk);
 *   B: 16 MiB, every other page written (2048 runs of one page);
 *   C: 8 MiB written, then made read-only (restore must write it anyway).
 * Each 8-byte word holds a value computed from its region and index; pages
 * never written must read back as zero. Once the file argv[1] exists the
 * target checks every word and prints "VERIFY bad=N first=REGION:OFFSET",
 * then exits 0. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#define MIB (1ul << 20)
#define PG 4096ul

struct region {
	const char *name;
	size_t len;
	int every;		/* write one page out of `every` */
	int prot;		/* final protection */
	uint64_t *p;
};

static struct region regions[] = {
	{ "A", 40 * MIB, 1, PROT_READ | PROT_WRITE, NULL },
	{ "B", 16 * MIB, 2, PROT_READ | PROT_WRITE, NULL },
	{ "C", 8 * MIB, 1, PROT_READ, NULL },
};

#define NR (sizeof(regions) / sizeof(regions[0]))

static uint64_t word(size_t r, size_t i)
{
	uint64_t z = (r << 40) + i + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool written(const struct region *g, size_t i)
{
	return (i * 8 / PG) % (size_t)g->every == 0;
}

int main(int argc, char **argv)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	size_t bad = 0;
	char first[64] = "none";

	if (argc < 2)
		return 2;
	for (size_t r = 0; r < NR; r++) {
		struct region *g = &regions[r];

		g->p = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (g->p == MAP_FAILED)
			return 1;
		for (size_t i = 0; i < g->len / 8; i++)
			if (written(g, i))
				g->p[i] = word(r, i);
		if (mprotect(g->p, g->len, g->prot))
			return 1;
	}
	target_ready("pid=%d", getpid());
	while (access(argv[1], F_OK))
		nanosleep(&ms, NULL);
	for (size_t r = 0; r < NR; r++) {
		const struct region *g = &regions[r];

		for (size_t i = 0; i < g->len / 8; i++)
			if (g->p[i] != (written(g, i) ? word(r, i) : 0) && !bad++)
				snprintf(first, sizeof(first), "%s:%zu", g->name, i * 8);
	}
	printf("VERIFY bad=%zu first=%s\n", bad, first);
	fflush(stdout);
	return 0;
}
