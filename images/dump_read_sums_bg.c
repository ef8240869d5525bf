/* DR_PAGES_SUM_LATER: the dump's pages files hashed by a thread while the
 * reader's caller works (a restore fills memory from those very files),
 * and judged when the caller asks, before it lets anything run on them.
 * Hashing 4 GiB first cost a restore about half a second on its own.
 *
 * The thread has an fd table of its own, with only the dump's directory
 * in it: restore adds epoll watches under the tree's fd numbers in
 * criu-lite's table, its own fd at such a number set aside for a moment
 * (common/fd/epoll.c), and a shared table swapped the directory, or the
 * file being hashed, under the thread ("cannot read pages-N.img: Not a
 * directory": a replay of redis, in one ASan run of the suite in nine).
 *
 * The thread only reads and hashes into what was allocated before it
 * started: restore forks with raw clone3, and a child must not inherit a
 * lock (malloc's, stdio's) that the thread held at that instant. Nor one
 * the runtime takes for the thread itself: a sanitizer's does as a thread
 * starts and as it ends (its registry, its allocator's caches), and a
 * restored child then hung on its first malloc (a replay of redis under
 * ASan, one in a few hundred). So the thread, done, stays parked instead of ending until
 * the verdict is asked for, and the restore waits until the thread is
 * under way (dr_pages_sum_settle) before it moves fds or forks. The
 * verdict, with its one line, is given by the caller's thread. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "images/dump_read.h"
#include "images/image_sum.h"
#include "images/log.h"
#include "images/par.h"

#define BG_BUF (1u << 20)

/* The thread's life, in b->phase: under way (the runtime's part of its
 * start done, its fd table its own), parked once done, released by the
 * verdict to end. */
enum { BG_STARTING, BG_RUNNING, BG_PARKED, BG_RELEASED };

struct dr_sum_bg {
	pthread_t th;
	atomic_int phase;
	int dirfd;
	const InventoryEntry *inv;
	struct img_hash h;
	void *buf;
	uint64_t *hash, *size;	/* per inv->sums[i] of a raw file */
	int *err;		/* -errno of its open or read, 0 */
};

/* Raw futex calls: the thread takes no lock of the C library's. */
static void phase_wait(atomic_int *p, int while_is)
{
	while (atomic_load(p) == while_is)
		syscall(SYS_futex, p, FUTEX_WAIT_PRIVATE, while_is, NULL, NULL, 0);
}

static void phase_wake(atomic_int *p)
{
	syscall(SYS_futex, p, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* from -> to, unless released meanwhile (then false) */
static bool phase_move(atomic_int *p, int from, int to)
{
	bool moved = atomic_compare_exchange_strong(p, &from, to);

	if (moved)
		phase_wake(p);
	return moved;
}

static void *hash_all(void *arg)
{
	struct dr_sum_bg *b = arg;

	/* Without a table of its own (never seen) it hashes in the shared
	 * one, as before. */
	if (!unshare(CLONE_FILES)) {
		if (b->dirfd > 0)
			syscall(SYS_close_range, 0, b->dirfd - 1, 0);
		syscall(SYS_close_range, b->dirfd + 1, ~0u, 0);
	}
	phase_move(&b->phase, BG_STARTING, BG_RUNNING);
	for (size_t i = 0; i < b->inv->n_sums; i++) {
		const ImageSum *s = b->inv->sums[i];
		int fd;

		if (s->has_entries)
			continue;
		fd = openat(b->dirfd, s->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0) {
			b->err[i] = -errno;
			continue;
		}
		img_hash_reset(&b->h);
		b->err[i] = img_hash_fd_into(fd, &b->h, b->buf, BG_BUF);
		b->hash[i] = img_hash_digest(&b->h);
		b->size[i] = b->h.size;
		close(fd);
	}
	if (phase_move(&b->phase, BG_RUNNING, BG_PARKED))
		phase_wait(&b->phase, BG_PARKED);
	return NULL;
}

static void bg_free(struct dr_sum_bg *b)
{
	img_hash_fini(&b->h);
	free(b->buf);
	free(b->hash);
	free(b->size);
	free(b->err);
	free(b);
}

int dr_sum_bg_start(struct dump_read *d)
{
	size_t n = d->inv->n_sums;
	struct dr_sum_bg *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->dirfd = d->dirfd;
	b->inv = d->inv;
	b->buf = malloc(BG_BUF);
	b->hash = calloc(n + 1, sizeof(*b->hash));
	b->size = calloc(n + 1, sizeof(*b->size));
	b->err = calloc(n + 1, sizeof(*b->err));
	if (!b->buf || !b->hash || !b->size || !b->err || img_hash_init(&b->h) ||
	    !par_start(&b->th, hash_all, b)) {
		bg_free(b);
		/* no thread: the check is done now, as without the flag */
		return img_sum_check_dir(d->dirfd, d->dir, d->inv, IMG_SUM_RAW);
	}
	d->sum_bg = b;
	return 0;
}

int dr_pages_sum_forked(struct dump_read *d)
{
	if (!d->sum_bg)
		return 0;
	/* the parent's thread and its results stay the parent's */
	bg_free(d->sum_bg);
	d->sum_bg = NULL;
	return dr_sum_bg_start(d);
}

void dr_pages_sum_settle(struct dump_read *d)
{
	if (d->sum_bg)
		phase_wait(&d->sum_bg->phase, BG_STARTING);
}

int dr_pages_sum_wait(struct dump_read *d)
{
	struct dr_sum_bg *b = d->sum_bg;
	int r = 0;

	if (!b)
		return 0;
	atomic_store(&b->phase, BG_RELEASED);
	phase_wake(&b->phase);
	pthread_join(b->th, NULL);
	d->sum_bg = NULL;
	for (size_t i = 0; !r && i < b->inv->n_sums; i++) {
		const ImageSum *s = b->inv->sums[i];

		if (!s->has_entries)
			r = img_sum_verdict(d->dir, s, b->err[i], b->hash[i], b->size[i]);
	}
	bg_free(b);
	return r;
}
