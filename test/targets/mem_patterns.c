/* Memory of every kind the dumper treats differently, each filled with a
 * known pattern (mem_pattern.h) at an address reported in READY:
 *   heap      small malloc in the brk heap          seed 1
 *   big       8 MiB malloc (its own mmap)            seed 2
 *   holes     64 MiB anonymous, only HOLE_PAGES touched, seed 3 at
 *             page*4096 offsets; the rest never populated
 *   zero      16 pages written with zeros (populated, all zero)
 *   fpriv     3 pages of this executable MAP_PRIVATE: page 0 read only,
 *             page 1 made writable and overwritten (seed 5), page 2 untouched
 *   shanon    8 pages MAP_SHARED|MAP_ANONYMOUS: pages 0 and 3 written by us
 *             (seed 6), page 5 written by a child process only
 *   shfile    DIR/shared.dat (4 pages, seed 7) MAP_SHARED, page 1 read
 *   delfile   DIR/deleted.dat (3 pages, seed 8) MAP_SHARED, page 0 read,
 *             then unlinked
 *   pnone     2 pages written (seed 9), then PROT_NONE
 *   dontdump  2 pages written (seed 10), MADV_DONTDUMP; dontfork likewise
 *             (seed 12, MADV_DONTFORK), wipe (seed 13, MADV_WIPEONFORK)
 *   memfd     memfd of 2 pages MAP_SHARED, page 1 written (seed 11)
 * On SIGUSR1 it forks a copy that stops itself (what --snapshot fork makes
 * through infect), prints "FORKED pid=N", then overwrites its own heap
 * pattern with seed 99 and prints "REWRITTEN": the copy still holds seed 1.
 * Usage: mem_patterns DIR */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "target.h"
#include "mem_pattern.h"

#define PG 4096ul
static const unsigned long hole_pages[] = { 0, 1, 2, 7, 100, 4095, 16383 };

static void *map_anon(size_t len, int extra)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);

	if (p == MAP_FAILED)
		exit(2);
	/* Exact page counts: no transparent huge page may populate neighbours. */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static void *map_file(const char *dir, const char *name, unsigned seed, int pages, int flags)
{
	char path[4096];
	uint8_t buf[PG];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		exit(3);
	for (int i = 0; i < pages; i++) {
		mem_pat_fill(buf, PG, seed, i * PG);
		if (write(fd, buf, PG) != (ssize_t)PG)
			exit(3);
	}
	p = mmap(NULL, pages * PG, PROT_READ, flags, fd, 0);
	if (p == MAP_FAILED)
		exit(3);
	close(fd);
	return p;
}

static volatile uint8_t sink;
static uint8_t *heap;

static void snapshot(int sig)
{
	char line[64];
	pid_t pid = fork();
	int n;

	(void)sig;
	if (pid == 0) {
		raise(SIGSTOP);
		for (;;)
			pause();
	}
	n = snprintf(line, sizeof(line), "FORKED pid=%d\n", pid);
	if (write(1, line, n) != n)
		_exit(7);
	mem_pat_fill(heap, 200, 99, 0);
	if (write(1, "REWRITTEN\n", 10) != 10)
		_exit(7);
}

static uint8_t *shared_anon(void)
{
	uint8_t *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int pfd[2];
	char c;

	if (p == MAP_FAILED || pipe(pfd))
		exit(4);
	mem_pat_fill(p, PG, 6, 0);
	mem_pat_fill(p + 3 * PG, PG, 6, 3 * PG);
	if (fork() == 0) {
		/* Only the child's page tables ever see page 5. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		mem_pat_fill(p + 5 * PG, PG, 6, 5 * PG);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (read(pfd[0], &c, 1) != 1)
		exit(4);
	return p;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	uint8_t *big, *holes, *zero, *fpriv, *shanon, *shfile, *delfile, *pnone;
	uint8_t *dontdump, *dontfork, *wipe, *memfd_map;
	char path[4096];
	int fd;

	heap = malloc(200);
	mem_pat_fill(heap, 200, 1, 0);
	big = malloc(8 << 20);
	mem_pat_fill(big, 8 << 20, 2, 0);

	holes = map_anon(64 << 20, 0);
	for (size_t i = 0; i < sizeof(hole_pages) / sizeof(hole_pages[0]); i++)
		mem_pat_fill(holes + hole_pages[i] * PG, PG, 3, hole_pages[i] * PG);
	zero = map_anon(16 * PG, 0);
	for (int i = 0; i < 16; i++)
		((volatile uint8_t *)zero)[i * PG + 7] = 0;

	fd = open("/proc/self/exe", O_RDONLY);
	fpriv = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	if (fd < 0 || fpriv == MAP_FAILED)
		return 5;
	close(fd);
	sink = fpriv[0];
	mprotect(fpriv + PG, PG, PROT_READ | PROT_WRITE);
	mem_pat_fill(fpriv + PG, PG, 5, PG);

	shanon = shared_anon();
	shfile = map_file(dir, "shared.dat", 7, 4, MAP_SHARED);
	sink = shfile[PG];
	delfile = map_file(dir, "deleted.dat", 8, 3, MAP_SHARED);
	sink = delfile[0];
	snprintf(path, sizeof(path), "%s/deleted.dat", dir);
	unlink(path);

	pnone = map_anon(2 * PG, 0);
	mem_pat_fill(pnone, 2 * PG, 9, 0);
	mprotect(pnone, 2 * PG, PROT_NONE);
	dontdump = map_anon(2 * PG, 0);
	mem_pat_fill(dontdump, 2 * PG, 10, 0);
	madvise(dontdump, 2 * PG, MADV_DONTDUMP);
	dontfork = map_anon(2 * PG, 0);
	mem_pat_fill(dontfork, 2 * PG, 12, 0);
	madvise(dontfork, 2 * PG, MADV_DONTFORK);
	wipe = map_anon(2 * PG, 0);
	mem_pat_fill(wipe, 2 * PG, 13, 0);
	madvise(wipe, 2 * PG, MADV_WIPEONFORK);

	fd = memfd_create("mem_patterns", 0);
	if (fd < 0 || ftruncate(fd, 2 * PG))
		return 6;
	memfd_map = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (memfd_map == MAP_FAILED)
		return 6;
	mem_pat_fill(memfd_map + PG, PG, 11, PG);

	signal(SIGUSR1, snapshot);
	target_ready("heap=%p big=%p holes=%p zero=%p fpriv=%p shanon=%p shfile=%p delfile=%p "
		     "pnone=%p dontdump=%p dontfork=%p wipe=%p memfd=%p",
		     heap, big, holes, zero, fpriv, shanon, shfile, delfile, pnone, dontdump,
		     dontfork, wipe, memfd_map);
	for (;;)
		pause();
}
