/* Fill the restored memory from the pages files on every CPU at once.
 *
 * An injected preadv runs in the one stopped thread of the child: one CPU
 * copies the whole dump (perf at 4 GiB: 61% of the time in that copy). Here
 * criu-lite, the child's tracer, maps each pages file read-only and writes
 * its runs into the child with process_vm_writev from one thread per CPU,
 * each taking the next chunk of the file. The kernel allocates the target
 * pages as it pins them (get_user_pages), in bulk like MADV_POPULATE_WRITE,
 * so they need no populate step either; we only take read faults on the
 * page cache, made in bulk by MAP_POPULATE.
 *
 * Runs are grouped per pages source into chunks: runs that follow each
 * other in the file (a few junk bytes between them allowed) up to
 * CHUNK_MAX of file and UIO_MAXIOV runs, one mmap and one
 * process_vm_writev per chunk. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "images/log.h"
#include "images/par.h"
#include "restore/pages_copy.h"

#define PAGE 4096ULL
#define MAX_SRC DR_MAX_CHAIN
/* Large enough that mmap/munmap per chunk cost nothing next to the copy,
 * small enough that two threads share out a 1 GiB dump evenly. */
#define CHUNK_MAX (32ull << 20)
#define GAP_MAX (1ull << 20)	/* file bytes between two runs of one chunk */
#define MAX_THREADS 8
/* Each thread beyond the first must have this much to copy to pay off. */
#define BYTES_PER_THREAD (32ull << 20)

struct run {
	uint64_t addr, len, off;
};

/* Runs [first, first+nr) of one source, file span [off, off+span). */
struct chunk {
	int src;
	size_t first, nr;
	uint64_t off, span;
};

struct srcq {
	struct run *run;
	size_t nr, cap;
	int fd;			/* the dump reader's pages_fd: not ours to close */
	uint64_t size;		/* of the file, to refuse a truncated one */
};

struct rst_pcopy {
	struct rst_proc *p;
	struct srcq q[MAX_SRC];
	struct chunk *ch;
	size_t nr_ch;
	atomic_size_t next;	/* next chunk to take */
	atomic_int err;		/* first failure; the others stop */
	atomic_uint_fast64_t bytes, calls;
	int threads;
};

struct rst_pcopy *rst_pcopy_new(struct rst_proc *p)
{
	struct rst_pcopy *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->p = p;
	for (int i = 0; i < MAX_SRC; i++)
		c->q[i].fd = -1;
	return c;
}

void rst_pcopy_free(struct rst_pcopy *c)
{
	if (!c)
		return;
	for (int i = 0; i < MAX_SRC; i++)
		free(c->q[i].run);
	free(c->ch);
	free(c);
}

void rst_pcopy_stats(const struct rst_pcopy *c, uint64_t *bytes, uint64_t *calls, int *threads)
{
	*bytes = atomic_load(&c->bytes);
	*calls = atomic_load(&c->calls);
	*threads = c->threads;
}

/* The pages file as the dump reader opened and checked it (a regular
 * file, its size then): mapped by fd, never opened again by name. */
static int open_src(struct rst_pcopy *c, int src)
{
	struct srcq *q = &c->q[src];

	q->fd = c->p->src[src]->pages_fd;
	q->size = c->p->src[src]->pages_size;
	return q->fd < 0 ? -EBADF : 0;
}

static int push(struct srcq *q, uint64_t addr, uint64_t len, uint64_t off)
{
	struct run *last = q->nr ? &q->run[q->nr - 1] : NULL;

	if (last && last->addr + last->len == addr && last->off + last->len == off &&
	    last->len + len <= CHUNK_MAX) {
		last->len += len;
		return 0;
	}
	if (q->nr == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 256;
		struct run *n = realloc(q->run, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		q->run = n;
		q->cap = cap;
	}
	q->run[q->nr++] = (struct run){ addr, len, off };
	return 0;
}

int rst_pcopy_add(struct rst_pcopy *c, int src, uint64_t addr, uint64_t len, uint64_t off)
{
	struct srcq *q;
	int r;

	if (src < 0 || src >= MAX_SRC || (size_t)src >= c->p->nr_src)
		return -EINVAL;
	q = &c->q[src];
	if (q->fd < 0 && (r = open_src(c, src)))
		return r;
	if (off + len > q->size) {
		pr_err("cannot restore %u: %s has %llu bytes, the pagemap reads up to %llu "
		       "(file truncated?)", c->p->ps->pid, c->p->src_path[src],
		       (unsigned long long)q->size, (unsigned long long)(off + len));
		return -EIO;
	}
	while (len) {	/* a run never spans more than one chunk */
		uint64_t n = len < CHUNK_MAX ? len : CHUNK_MAX;

		r = push(q, addr, n, off);
		if (r) {
			pr_err("cannot restore %u: no memory for its page runs", c->p->ps->pid);
			return r;
		}
		addr += n;
		off += n;
		len -= n;
	}
	return 0;
}

static bool fits(const struct chunk *k, const struct run *r, uint64_t end)
{
	return k->nr < UIO_MAXIOV && r->off >= end && r->off - end <= GAP_MAX &&
	       r->off + r->len - k->off <= CHUNK_MAX;
}

static int make_chunks(struct rst_pcopy *c, uint64_t *total)
{
	size_t cap = 0;

	*total = 0;
	for (int s = 0; s < MAX_SRC; s++) {
		const struct srcq *q = &c->q[s];

		for (size_t i = 0; i < q->nr;) {
			/* Mapped from the page below: a run of an archive
			 * read in place starts where its tar member does. */
			struct chunk k = { s, i, 0, q->run[i].off & ~(PAGE - 1), 0 };
			uint64_t end = q->run[i].off;

			while (i < q->nr && (!k.nr || fits(&k, &q->run[i], end))) {
				end = q->run[i].off + q->run[i].len;
				*total += q->run[i].len;
				k.nr++;
				i++;
			}
			k.span = ((end + PAGE - 1) & ~(PAGE - 1)) - k.off;
			if (c->nr_ch == cap) {
				struct chunk *n;

				cap = cap ? 2 * cap : 64;
				n = realloc(c->ch, cap * sizeof(*n));
				if (!n)
					return -ENOMEM;
				c->ch = n;
			}
			c->ch[c->nr_ch++] = k;
		}
	}
	return 0;
}

/* process_vm_writev until all is written: it stops short at a fault. */
static int write_all(struct rst_pcopy *c, struct iovec *l, struct iovec *r, size_t n,
		     uint64_t total)
{
	size_t i = 0;

	while (total) {
		ssize_t w = process_vm_writev(c->p->pid, l + i, n - i, r + i, n - i, 0);

		atomic_fetch_add(&c->calls, 1);
		if (w <= 0) {
			int e = w < 0 ? errno : EFAULT;

			if (e == ENOSYS || e == EPERM)
				return -EOPNOTSUPP;
			pr_err("cannot restore %u: writing %llu bytes of pages at %#llx: %s",
			       c->p->ps->pid, (unsigned long long)r[i].iov_len,
			       (unsigned long long)(uintptr_t)r[i].iov_base, strerror(e));
			return -e;
		}
		atomic_fetch_add(&c->bytes, (uint64_t)w);
		total -= (uint64_t)w;
		while (w) {	/* l[k] and r[k] have the same length */
			size_t d = (size_t)w < l[i].iov_len ? (size_t)w : l[i].iov_len;

			l[i].iov_base = (char *)l[i].iov_base + d;
			r[i].iov_base = (char *)r[i].iov_base + d;
			l[i].iov_len -= d;
			r[i].iov_len -= d;
			w -= (ssize_t)d;
			if (!l[i].iov_len)
				i++;
		}
	}
	return 0;
}

static int copy_chunk(struct rst_pcopy *c, const struct chunk *k)
{
	struct iovec l[UIO_MAXIOV], rv[UIO_MAXIOV];
	const struct srcq *q = &c->q[k->src];
	const struct run *run = q->run + k->first;
	uint64_t total = 0;
	char *m;
	int r;

	/* MAP_POPULATE: the page cache mapped in one go, not a read fault
	 * (about 10 us on this VM) per 64 KiB of fault-around. */
	m = mmap(NULL, k->span, PROT_READ, MAP_SHARED | MAP_POPULATE, q->fd, (off_t)k->off);
	if (m == MAP_FAILED)
		return pr_perror("cannot map %s", c->p->src_path[k->src]);
	for (size_t i = 0; i < k->nr; i++) {
		l[i] = (struct iovec){ m + (run[i].off - k->off), run[i].len };
		rv[i] = (struct iovec){ (void *)(uintptr_t)run[i].addr, run[i].len };
		total += run[i].len;
	}
	r = write_all(c, l, rv, k->nr, total);
	munmap(m, k->span);
	return r;
}

static void *worker(void *arg)
{
	struct rst_pcopy *c = arg;

	while (!atomic_load(&c->err)) {
		size_t i = atomic_fetch_add(&c->next, 1);
		int r;

		if (i >= c->nr_ch)
			break;
		r = copy_chunk(c, &c->ch[i]);
		if (r) {
			int zero = 0;

			atomic_compare_exchange_strong(&c->err, &zero, r);
		}
	}
	return NULL;
}

static int nr_threads(const struct rst_pcopy *c, uint64_t total)
{
	cpu_set_t set;
	uint64_t n = 1 + total / BYTES_PER_THREAD;
	int cpus = sched_getaffinity(0, sizeof(set), &set) ? 1 : CPU_COUNT(&set);

	if (n > (uint64_t)cpus)
		n = (uint64_t)cpus;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if (n > c->nr_ch)
		n = c->nr_ch;
	return n ? (int)n : 1;
}

int rst_pcopy_run(struct rst_pcopy *c)
{
	pthread_t th[MAX_THREADS];
	uint64_t total;
	int n, started = 0, r = make_chunks(c, &total);

	if (r) {
		pr_err("cannot restore %u: no memory for its page runs", c->p->ps->pid);
		return r;
	}
	if (!c->nr_ch)
		return 0;
	n = nr_threads(c, total);
	/* The calling thread is worker 0; a thread that cannot be started
	 * only means fewer of them. */
	for (int i = 1; i < n; i++)
		if (par_start(&th[started], worker, c))
			started++;
	c->threads = started + 1;
	worker(c);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	return atomic_load(&c->err);
}
