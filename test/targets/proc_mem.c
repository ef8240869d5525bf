#define _GNU_SOURCE
/* Kinds of memory that must come back as they were, each filled with a
 * pattern:
 *   adv:   16 pages, two each with MADV_DONTFORK, WIPEONFORK, HUGEPAGE,
 *          NOHUGEPAGE, MERGEABLE, DONTDUMP, then one SEQUENTIAL, one
 *          RANDOM, one mlock()ed, one plain;
 *   guard: 8 pages with guard regions (MADV_GUARD_INSTALL) on pages 2-3
 *          and 6;
 *   drop:  4 pages MAP_DROPPABLE;
 *   huge:  2 MiB MAP_HUGETLB private and 2 MiB shared, when huge pages can
 *          be had (huge=0 otherwise);
 *   aio:   an io_setup(10) context with 3 completed reads of /proc/self/exe's
 *          first bytes not reaped yet.
 * READY with the addresses. When the file argv[1] exists it checks the
 * patterns, that each guard page faults and the others do not, reaps the 3
 * completions (their data and buffers) and runs one more read through the
 * same context, and prints
 *   "MEM adv=1 guard=1 drop=1 huge=H aio=1". */
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#define MADV_GUARD_INSTALL 102
#define PG 4096

static sigjmp_buf jb;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static bool faults(volatile char *p)
{
	if (sigsetjmp(jb, 1))
		return true;
	(void)*p;
	return false;
}

static void fill(char *p, size_t len, int seed)
{
	for (size_t i = 0; i < len; i += 512)
		p[i] = (char)(seed + i / 512);
}

static int same(const char *p, size_t len, int seed)
{
	for (size_t i = 0; i < len; i += 512)
		if (p[i] != (char)(seed + i / 512))
			return 0;
	return 1;
}

static char *map(size_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static char bufs[4][64], want[64];

static int aio_submit(aio_context_t ctx, int fd, int k)
{
	struct iocb cb = { .aio_data = 100 + k, .aio_lio_opcode = IOCB_CMD_PREAD,
			   .aio_fildes = fd, .aio_buf = (uintptr_t)bufs[k],
			   .aio_nbytes = sizeof(bufs[k]), .aio_offset = 0 };
	struct iocb *cbs[1] = { &cb };

	return syscall(SYS_io_submit, ctx, 1, cbs) == 1 ? 0 : -1;
}

/* The 3 completed before the dump, then one more. */
static int aio_check(aio_context_t ctx, int fd)
{
	struct io_event ev[4];
	struct timespec ts = { 5, 0 };

	if (syscall(SYS_io_getevents, ctx, 3, 3, ev, &ts) != 3)
		return 0;
	for (int k = 0; k < 3; k++)
		if (ev[k].data != (uint64_t)(100 + k) || ev[k].res != 64 || memcmp(bufs[k], want, 64))
			return 0;
	if (aio_submit(ctx, fd, 3) || syscall(SYS_io_getevents, ctx, 1, 1, ev, &ts) != 1)
		return 0;
	return ev[0].data == 103 && !memcmp(bufs[3], want, 64);
}

int main(int argc, char **argv)
{
	char *adv = map(16 * PG, MAP_PRIVATE), *guard = map(8 * PG, MAP_PRIVATE);
	char *drop = map(4 * PG, MAP_DROPPABLE);
	char *hp = map(2 << 20, MAP_PRIVATE | MAP_HUGETLB);
	char *hs = map(2 << 20, MAP_SHARED | MAP_HUGETLB);
	static const int advice[] = { MADV_DONTFORK, MADV_WIPEONFORK, MADV_HUGEPAGE,
				      MADV_NOHUGEPAGE, MADV_MERGEABLE, MADV_DONTDUMP };
	struct timespec nap = { 0, 1000000 };
	aio_context_t ctx = 0;
	int huge = hp && hs, fd = open("/proc/self/exe", O_RDONLY), ok;

	if (argc < 2 || !adv || !guard || !drop || fd < 0)
		return 2;
	if (pread(fd, want, sizeof(want), 0) != sizeof(want))
		return 2;
	fill(adv, 16 * PG, 1);
	for (int i = 0; i < 6; i++)
		madvise(adv + 2 * i * PG, 2 * PG, advice[i]);
	madvise(adv + 12 * PG, PG, MADV_SEQUENTIAL);
	madvise(adv + 13 * PG, PG, MADV_RANDOM);
	mlock(adv + 14 * PG, PG);
	fill(guard, 8 * PG, 2);
	if (madvise(guard + 2 * PG, 2 * PG, MADV_GUARD_INSTALL) ||
	    madvise(guard + 6 * PG, PG, MADV_GUARD_INSTALL))
		return 3;
	fill(drop, 4 * PG, 3);
	if (huge) {
		fill(hp, 2 << 20, 4);
		fill(hs, 2 << 20, 5);
	}
	if (syscall(SYS_io_setup, 10, &ctx))
		return 4;
	for (int k = 0; k < 3; k++)
		if (aio_submit(ctx, fd, k))
			return 4;
	target_ready("pid=%d adv=%p guard=%p drop=%p huge=%d hp=%p hs=%p aio=%#llx", getpid(),
		     adv, guard, drop, huge, hp, hs, (unsigned long long)ctx);
	while (access(argv[1], F_OK))
		nanosleep(&nap, NULL);

	signal(SIGSEGV, on_segv);
	ok = same(adv, 16 * PG, 1) && same(guard, 2 * PG, 2) && same(guard + 4 * PG, 2 * PG, 2 + 32) &&
	     same(guard + 7 * PG, PG, 2 + 56);
	for (int i = 0; i < 8; i++)
		ok &= faults(guard + i * PG) == (i == 2 || i == 3 || i == 6);
	printf("MEM adv=%d guard=%d drop=%d huge=%d aio=%d\n", same(adv, 16 * PG, 1), ok,
	       same(drop, 4 * PG, 3), huge && same(hp, 2 << 20, 4) && same(hs, 2 << 20, 5),
	       aio_check(ctx, fd));
	fflush(stdout);
	return 0;
}
