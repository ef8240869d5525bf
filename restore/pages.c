/* Put the dumped page contents into the freshly mapped VMAs. The pages
 * files are opened in the child, so an injected preadv copies straight
 * from the page cache into the target addresses: one copy, and one
 * injected syscall for up to IOV_MAX runs that sit back to back in the
 * file (the dumper writes them in address order, so most do).
 * The pages are allocated first with MADV_POPULATE_WRITE, one batch of
 * madvise per preadv: faulted in one at a time by preadv's copy they cost
 * about 10 us each on this VM, in bulk a fraction of that (measured, 512
 * MiB: 1.7 s faulting, 0.44 s populated then read).
 *   PE_PRESENT: bytes in a pages file;
 *   PE_ZERO:    populated but zero. Fresh anonymous memory already reads
 *               as zero; a private file mapping needs zeroes read in from
 *               /dev/zero, or it would show the file's bytes;
 *   PE_FILE:    equal to the file: mapping the file gave it already;
 *   PE_PARENT:  unchanged since a pre-dump: looked up in the parent's
 *               pagemap, recursively.
 * Bytes from pages files go through pages_copy.c instead when it can
 * (process_vm_writev on every CPU; one CPU copying was the bottleneck):
 * the injected preadv stays for /dev/zero and for a kernel or sandbox that
 * refuses process_vm_writev. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "common/fault.h"
#include "images/log.h"
#include "restore/pages_copy.h"
#include "restore/rst.h"

#define PAGE 4096ULL
#define BATCH_IOV 1024

struct batch {
	int src;		/* pages source index, or -1 for /dev/zero */
	uint64_t off, len;	/* file range the iovs cover */
	uint64_t junk;		/* bytes of it read into the junk area */
	struct iovec iov[BATCH_IOV];
	int n;
};

/* One batch per source, so that a dump whose written pages alternate with
 * PE_PARENT runs (an incremental dump: thousands of switches) still reads
 * each pages file in few large preadv calls instead of one per switch. */
#define MAX_SRC DR_MAX_CHAIN
/* A read(2) moves at most 2 GiB - 4 KiB (MAX_RW_COUNT): batches stay below. */
#define BATCH_MAX_BYTES (1ull << 30)
/* A parent's run with newer pages cut out of it is not contiguous in its
 * file any more; rather than a preadv per piece, the bytes between two
 * pieces (up to GAP_MAX) are read into a junk area of the scratch space. */
#define JUNK_OFF	65536		/* in j->data, after the iovec array */
#define JUNK_LEN	131072
#define GAP_MAX		(8 * JUNK_LEN)

struct pages_ctx {
	struct rst_tree *t;
	struct rst_proc *p;
	struct rst_inj *j;
	struct batch b[MAX_SRC + 1];	/* [src + 1]: [0] is /dev/zero */
	uint64_t bytes, calls;
	struct rst_pcopy *pc;	/* pages file runs go there, if set */
	bool replay;		/* second walk for the preadv fallback: /dev/zero done */
};

/* The VMA holding addr, or the first one after it; NULL past the last. */
static const VmaEntry *vma_from(const struct rst_proc *p, uint64_t addr, size_t *idx)
{
	size_t lo = 0, hi = p->nr_vma;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr >= p->vma[mid]->end)
			lo = mid + 1;
		else
			hi = mid;
	}
	*idx = lo;
	return lo < p->nr_vma ? p->vma[lo] : NULL;
}

static bool is_file_private(const VmaEntry *v)
{
	return (v->status & VMA_FILE_PRIVATE) && v->file &&
	       !(v->status & (VMA_FILE_DELETED | VMA_ANON_SHARED));
}

/* Shared file mappings show the file: their pages are never written. */
static bool is_file_shared(const VmaEntry *v)
{
	return (v->status & VMA_FILE_SHARED) && v->file &&
	       !(v->status & (VMA_FILE_DELETED | VMA_ANON_SHARED));
}

static bool writes_into(const VmaEntry *v, uint32_t flags)
{
	if (is_file_shared(v))
		return false;
	if (flags & (PE_PRESENT | PE_PARENT))
		return true;
	return (flags & PE_ZERO) && is_file_private(v);
}

bool rst_vma_needs_write(const struct rst_proc *p, size_t idx)
{
	const struct dr_pages *s = p->src[0];
	const VmaEntry *v = p->vma[idx];

	if (p->attached && p->attached[idx])
		return false;	/* its contents came with the shared object */
	for (const struct dr_run *r = dr_pages_next(s, v->start); r && r < s->run + s->nr &&
	     r->start < v->end; r++)
		if (writes_into(v, r->flags))
			return true;
	return false;
}

/* MADV_POPULATE_WRITE on every run of the batch, RST_BATCH_MAX calls per
 * stop. A failure only means preadv faults those pages in itself; a kernel
 * without it (before 5.14: EINVAL everywhere) is not asked again. */
static void populate(struct pages_ctx *c, struct batch *b)
{
	static struct infect_call calls[RST_BATCH_MAX];
	static bool unsupported;

	for (int i = 0; i < b->n && !unsupported;) {
		int n = 0, einval = 0;

		for (; i < b->n && n < RST_BATCH_MAX; i++) {
			if ((uint64_t)(uintptr_t)b->iov[i].iov_base == c->j->data + JUNK_OFF)
				continue;
			calls[n++] = (struct infect_call){
				.nr = __NR_madvise,
				.args = { (uint64_t)(uintptr_t)b->iov[i].iov_base, b->iov[i].iov_len,
					  MADV_POPULATE_WRITE },
			};
		}
		if (n && infect_batch(&c->j->inf, c->j->table, calls, n))
			return;
		for (int k = 0; k < n; k++)
			einval += (int64_t)calls[k].ret == -EINVAL;
		unsupported = n && einval == n;
	}
}

static int flush(struct pages_ctx *c, struct batch *b)
{
	uint64_t ret, fd;
	int r;

	if (!b->n)
		return 0;
	populate(c, b);
	fd = (uint64_t)c->p->mm_fd_base + (uint64_t)(b->src < 0 ? c->p->zero_mf :
						    c->p->src_mf[b->src]);
	r = rst_poke(c->j, c->j->data, b->iov, b->n * sizeof(b->iov[0]));
	if (r)
		return r;
	if (b->src < 0)
		r = rst_sys(c->j, __NR_readv, &ret, fd, c->j->data, (uint64_t)b->n, 0, 0, 0);
	else
		r = rst_sys(c->j, __NR_preadv, &ret, fd, c->j->data, (uint64_t)b->n, b->off, 0, 0);
	if (r)
		return r;
	if (ret != b->len) {
		pr_err("cannot restore %u: reading %llu bytes of pages from %s gave %lld%s%s",
		       c->p->ps->pid, (unsigned long long)b->len,
		       b->src < 0 ? "/dev/zero" : c->p->src_path[b->src], (long long)ret,
		       (int64_t)ret < 0 ? ": " : " (file truncated?)",
		       (int64_t)ret < 0 ? strerror((int)-(int64_t)ret) : "");
		return (int64_t)ret < 0 ? (int)(int64_t)ret : -EIO;
	}
	c->bytes += b->len - b->junk;
	c->calls++;
	b->n = 0;
	b->len = 0;
	b->junk = 0;
	return 0;
}

/* Fill the file gap before `off` with junk iovecs; false if it does not fit. */
static bool skip_gap(struct pages_ctx *c, struct batch *b, uint64_t off)
{
	uint64_t gap = off - (b->off + b->len);

	if (off < b->off + b->len || gap > GAP_MAX ||
	    b->n + (int)((gap + JUNK_LEN - 1) / JUNK_LEN) + 1 > BATCH_IOV ||
	    b->len + gap >= BATCH_MAX_BYTES)
		return false;
	while (gap) {
		uint64_t n = gap < JUNK_LEN ? gap : JUNK_LEN;

		b->iov[b->n++] = (struct iovec){ (void *)(uintptr_t)(c->j->data + JUNK_OFF), n };
		b->len += n;
		b->junk += n;
		gap -= n;
	}
	return true;
}

/* Queue reading [addr, addr+len) from source src at file offset off. */
static int flush_all(struct pages_ctx *c)
{
	int r = 0;

	for (int i = 0; i <= MAX_SRC && !r; i++)
		r = flush(c, &c->b[i]);
	return r;
}

static int queue(struct pages_ctx *c, int src, uint64_t addr, uint64_t len, uint64_t off)
{
	struct batch *b;
	int r;

	if (src >= MAX_SRC) {
		pr_err("pre-dump chain deeper than %d", MAX_SRC);
		return -ELOOP;
	}
	if (src >= 0 && c->pc)
		return rst_pcopy_add(c->pc, src, addr, len, off);
	if (src < 0 && c->replay)
		return 0;
	b = &c->b[src + 1];
	while (len) {
		uint64_t n;

		r = 0;
		if (b->n && src >= 0 && off != b->off + b->len && !skip_gap(c, b, off))
			r = flush(c, b);
		else if (b->n && (b->n == BATCH_IOV || b->len == BATCH_MAX_BYTES))
			r = flush(c, b);
		if (r)
			return r;
		if (!b->n) {
			b->src = src;
			b->off = off;
		}
		n = len < BATCH_MAX_BYTES - b->len ? len : BATCH_MAX_BYTES - b->len;
		if (b->n && (uint64_t)(uintptr_t)b->iov[b->n - 1].iov_base + b->iov[b->n - 1].iov_len == addr)
			b->iov[b->n - 1].iov_len += n;
		else
			b->iov[b->n++] = (struct iovec){ (void *)(uintptr_t)addr, n };
		b->len += n;
		addr += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int do_run(struct pages_ctx *c, size_t level, uint64_t addr, uint64_t len);

/* [addr, addr+len) of one run at `level` inside VMA v (the dump reader
 * checked the runs: aligned, in order, inside their pages file, PE_PARENT
 * with a parent). VMAs restored from another process's shared object have
 * their pages already. */
static int piece_in_vma(struct pages_ctx *c, size_t level, const struct dr_run *e,
			const VmaEntry *v, bool attached, uint64_t addr, uint64_t len)
{
	if (attached || !(v->status & VMA_AREA_REGULAR) ||
	    v->status & (VMA_VDSO | VMA_VVAR | VMA_VSYSCALL) || is_file_shared(v))
		return 0;
	if (e->flags == PE_PRESENT)
		return queue(c, (int)level, addr, len, e->off + (addr - e->start));
	if (e->flags == PE_PARENT)
		return do_run(c, level + 1, addr, len);
	if (e->flags == PE_ZERO && is_file_private(v))
		return queue(c, -1, addr, len, 0);
	return 0;
}

/* [addr, addr+len) of one run, VMA by VMA: the reader joins runs whose
 * bytes follow each other, so one run may span several VMAs, and a VMA
 * skipped (vdso, shared object, shared file) must not take the rest of the
 * run with it. */
static int do_piece(struct pages_ctx *c, size_t level, const struct dr_run *e, uint64_t addr,
		    uint64_t len)
{
	uint64_t end = addr + len;

	while (addr < end) {
		size_t i;
		const VmaEntry *v = vma_from(c->p, addr, &i);
		uint64_t stop;
		int r;

		if (!v || v->start >= end)
			return 0;
		if (v->start > addr)
			addr = v->start;
		stop = v->end < end ? v->end : end;
		r = piece_in_vma(c, level, e, v, c->p->attached && c->p->attached[i], addr,
				 stop - addr);
		if (r)
			return r;
		addr = stop;
	}
	return 0;
}

/* Every run of `level` overlapping [addr, addr+len). */
static int do_run(struct pages_ctx *c, size_t level, uint64_t addr, uint64_t len)
{
	const struct dr_pages *s = c->p->src[level];
	uint64_t end = addr + len;
	int r;

	for (const struct dr_run *e = dr_pages_next(s, addr); e && e < s->run + s->nr &&
	     e->start < end; e++) {
		uint64_t es = e->start > addr ? e->start : addr;
		uint64_t ee = e->end < end ? e->end : end;

		r = do_piece(c, level, e, es, ee - es);
		if (r)
			return r;
	}
	return 0;
}

/* Every run of this dump's pagemap, into the batches or the copier. */
static int walk(struct pages_ctx *c)
{
	const struct dr_pages *s = c->p->src[0];
	int r = 0;

	for (size_t i = 0; !r && i < s->nr; i++)
		r = do_piece(c, 0, &s->run[i], s->run[i].start, s->run[i].end - s->run[i].start);
	return r;
}

/* The pages files' runs through process_vm_writev; if this kernel will not
 * let us, all of them again through injected preadv (rewriting what a
 * thread may have written already is harmless). */
static int copy_files(struct pages_ctx *c)
{
	int r = rst_pcopy_run(c->pc);

	if (r != -EOPNOTSUPP)
		return r;
	pr_debug("%u: process_vm_writev refused, pages go through preadv", c->p->ps->pid);
	rst_pcopy_free(c->pc);
	c->pc = NULL;
	c->replay = true;
	return walk(c);
}

static void report(struct pages_ctx *c, const struct timespec *t0)
{
	struct timespec t1;
	uint64_t bytes = 0, calls = 0;
	int threads = 0;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
	if (c->pc)
		rst_pcopy_stats(c->pc, &bytes, &calls, &threads);
	bytes += c->bytes;
	pr_debug("%u: %llu KiB of pages in %llu process_vm_writev calls on %d threads and "
		 "%llu preadv calls, %.1f ms (%.0f MiB/s)", c->p->ps->pid,
		 (unsigned long long)bytes >> 10, (unsigned long long)calls, threads,
		 (unsigned long long)c->calls, ms, ms > 0 ? bytes / 1048576.0 / (ms / 1e3) : 0);
}

int rst_pages_restore(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j)
{
	static struct pages_ctx c;	/* the iov batch is large; restore is single-threaded */
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.p = p;
	c.j = j;
	c.pc = rst_pcopy_new(p);
	if (!c.pc)
		return -ENOMEM;
	r = fault_step("restore: pages");
	if (!r)
		r = walk(&c);
	if (!r)
		r = copy_files(&c);
	if (!r)
		r = flush_all(&c);
	if (!r)
		report(&c, &t0);
	rst_pcopy_free(c.pc);
	c.pc = NULL;
	return r;
}
