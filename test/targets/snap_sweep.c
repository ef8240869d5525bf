/* For --snapshot wp under pressure: a thread sweeps an ever-growing
 * counter through every page of a region, in address order, as fast as it
 * can, so that while a dump reads the region most pages are rewritten (each
 * first write after the freeze must be saved before it lands). At any
 * instant the pages read c, ..., c, c-1, ..., c-1 in address order. A
 * second thread has the kernel write into its pages (read(2) from a pipe):
 * a snapshot that made such a write fail would make read() return -1, and
 * the target then exits 5.
 * Usage: snap_sweep [MIB [thp]] (default 32; thp: the region in
 * transparent huge pages, which write-protection splits page by page).
 * Prints "READY pid=P sweep=A pages=N kbuf=A". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target.h"

#define PG 4096ul
#define KPAGES 64

static volatile uint64_t *sweep;
static uint64_t *kbuf;
static size_t pages;
static int pfd[2];

/* AnonHugePages of this process, in KiB (0 if none or unreadable). */
static long anon_huge_kb(void)
{
	char line[256];
	long kb = 0, v;
	FILE *f = fopen("/proc/self/smaps_rollup", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &v) == 1)
			kb = v;
	if (f)
		fclose(f);
	return kb;
}

static void *sweeper(void *arg)
{
	(void)arg;
	for (uint64_t c = 1;; c++)
		for (size_t p = 0; p < pages; p++)
			sweep[p * PG / 8] = c;
	return NULL;
}

static void *kernel_writer(void *arg)
{
	(void)arg;
	for (uint64_t c = 1;; c++) {
		uint64_t *dst = kbuf + (c % KPAGES) * PG / 8;

		if (write(pfd[1], &c, sizeof(c)) != sizeof(c) || read(pfd[0], dst, sizeof(c)) != sizeof(c))
			exit(5);
		usleep(100);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 0) : 32) << 20;
	pthread_t th[2];

	pages = len / PG;
	sweep = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	kbuf = mmap(NULL, KPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sweep == MAP_FAILED || kbuf == MAP_FAILED || pipe(pfd))
		return 1;
	if (argc > 2 && !strcmp(argv[2], "thp") && madvise((void *)sweep, len, MADV_HUGEPAGE))
		return 2;
	memset((void *)sweep, 0, len);
	memset(kbuf, 0, KPAGES * PG);
	if (pthread_create(&th[0], NULL, sweeper, NULL) || pthread_create(&th[1], NULL, kernel_writer, NULL))
		return 4;
	while (sweep[(pages - 1) * PG / 8] < 2)
		usleep(1000);
	target_ready("pid=%d sweep=%p pages=%zu kbuf=%p thp_kb=%ld", getpid(), (void *)sweep, pages,
		     (void *)kbuf, anon_huge_kb());
	for (;;)
		pause();
}
