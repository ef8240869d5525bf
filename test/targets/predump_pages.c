/* For pre-dump and incremental dumps: `region` is PAGES pages, page i
 * filled with pattern seed 20 + i; `holes` is PAGES pages never touched.
 * On SIGUSR1 (taken by the main thread) it writes, and prints "WROTE":
 *   - pages 3, 17 and 40 of region: whole page, pattern seed 100 + page;
 *   - page 50 of region: the 8 bytes at offset 256 become 0x1122334455667788;
 *   - page 5 of holes: only read (populated, all zero, never written);
 *   - page 60 of region: MADV_DONTNEED (unpopulated again, reads as zero).
 * Prints "READY pid=P region=A holes=A pages=N". */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target.h"
#include "mem_pattern.h"

#define PG 4096ul
#define PAGES 64

static uint8_t *map(void)
{
	uint8_t *p = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);

	if (p == MAP_FAILED)
		_exit(2);
	madvise(p, PAGES * PG, MADV_NOHUGEPAGE);	/* page by page, no THP neighbours */
	return p;
}

int main(void)
{
	static const int rewrite[] = { 3, 17, 40 };
	uint8_t *region = map(), *holes = map();
	volatile uint8_t sink;
	sigset_t set;
	int sig;

	for (int i = 0; i < PAGES; i++)
		mem_pat_fill(region + i * PG, PG, 20 + i, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	target_ready("pid=%d region=%p holes=%p pages=%d", getpid(), (void *)region,
		     (void *)holes, PAGES);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		for (size_t i = 0; i < sizeof(rewrite) / sizeof(rewrite[0]); i++)
			mem_pat_fill(region + rewrite[i] * PG, PG, 100 + rewrite[i], 0);
		*(volatile uint64_t *)(region + 50 * PG + 256) = 0x1122334455667788ull;
		sink = holes[5 * PG + 7];
		(void)sink;
		madvise(region + 60 * PG, PG, MADV_DONTNEED);
		printf("WROTE\n");
		fflush(stdout);
	}
}
