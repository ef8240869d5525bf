/* For --snapshot fork: one thread writes an ever-growing counter into five
 * regions in a fixed order, so at any instant the five values are a run
 * c, ..., c, c-1, ..., c-1 (non-increasing, at most one apart):
 *   priv      private anonymous (fork copies it)
 *   dontfork  private anonymous, MADV_DONTFORK (absent from a fork)
 *   wipe      private anonymous, MADV_WIPEONFORK (empty in a fork)
 *   shanon    MAP_SHARED|MAP_ANONYMOUS (a fork shares it, does not copy it)
 *   memfd     a memfd mapped MAP_SHARED
 * A dump that took some of them later than the others breaks that order.
 * Each region is PAGES pages; the counter sits at the start of every page.
 * `ballast` is 16 MiB of touched memory so that RSS is worth comparing.
 * `sigchld` counts the SIGCHLDs it gets: a snapshot copy must send none.
 * Prints "READY pid=P priv=A dontfork=A wipe=A shanon=A memfd=A pages=N
 * sigchld=A". */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target.h"

#define PG 4096ul
#define PAGES 4
#define NR_REGIONS 5
#define BALLAST (16ul << 20)

static volatile uint64_t *region[NR_REGIONS];
static volatile uint64_t sigchld;

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld++;
}

static void *map(int flags, int advice, int fd)
{
	void *p = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, flags, fd, 0);

	if (p == MAP_FAILED)
		exit(2);
	if (advice >= 0 && madvise(p, PAGES * PG, advice))
		exit(3);
	memset(p, 0x11, PAGES * PG);	/* populated, never a zero page */
	return p;
}

static void *writer(void *arg)
{
	(void)arg;
	for (uint64_t c = 1;; c++)
		for (int r = 0; r < NR_REGIONS; r++)
			for (unsigned p = 0; p < PAGES; p++)
				region[r][p * PG / 8] = c;
	return NULL;
}

int main(void)
{
	int mfd = memfd_create("snap_regions", MFD_CLOEXEC);
	uint8_t *ballast = mmap(NULL, BALLAST, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t th;

	if (mfd < 0 || ftruncate(mfd, PAGES * PG) || ballast == MAP_FAILED)
		return 1;
	signal(SIGCHLD, on_sigchld);
	memset(ballast, 0x5a, BALLAST);
	region[0] = map(MAP_PRIVATE | MAP_ANONYMOUS, -1, -1);
	region[1] = map(MAP_PRIVATE | MAP_ANONYMOUS, MADV_DONTFORK, -1);
	region[2] = map(MAP_PRIVATE | MAP_ANONYMOUS, MADV_WIPEONFORK, -1);
	region[3] = map(MAP_SHARED | MAP_ANONYMOUS, -1, -1);
	region[4] = map(MAP_SHARED, -1, mfd);
	if (pthread_create(&th, NULL, writer, NULL))
		return 4;
	while (region[NR_REGIONS - 1][0] == 0x1111111111111111ull)
		usleep(1000);
	target_ready("pid=%d priv=%p dontfork=%p wipe=%p shanon=%p memfd=%p pages=%d sigchld=%p",
		     getpid(), (void *)region[0], (void *)region[1], (void *)region[2],
		     (void *)region[3], (void *)region[4], PAGES, (void *)&sigchld);
	for (;;)
		pause();
}
