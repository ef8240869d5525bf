/* The fast path of a dump: pages are queued as segments in address order,
 * read in batches of up to PW_BUF_SIZE bytes straight into a page-aligned
 * buffer (each page source its own segments in one call: one
 * process_vm_readv per batch for a live process), checked for all-zero
 * pages while the bytes are still in cache, and handed to a writer thread
 * (one writev per batch) while the next batch is read. No syscall is ever
 * made per page. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>

#include "criu-lite/memory/mem_internal.h"
#include "images/clock.h"
#include "images/log.h"

/* Only dumps that take a while show it, and not more than 5 times a second. */
static void progress(struct pw *pw, bool done)
{
	uint64_t t = mono_ms();

	if (!pw->tty || (!done && (t - pw->t_start < 500 || t - pw->t_shown < 200)))
		return;
	if (done) {
		if (pw->t_shown)
			fputs("\r\033[K", stderr);
		pw->t_shown = 0;
		return;
	}
	fprintf(stderr, "\rmemory of %d: %llu MiB", pw->pid,
		(unsigned long long)((pw->st->pages_written + pw->st->pages_zero) * MEM_PAGE >> 20));
	pw->t_shown = t;
}

int pw_init(struct pw *pw, struct dump_stats *st)
{
	memset(pw, 0, sizeof(*pw));
	pw->pages_fd = -1;
	pw->st = st;
	for (int i = 0; i < 2; i++) {
		uint8_t *m = mmap(NULL, PW_BUF_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return pr_perror("cannot allocate the page buffers");
		pw->b[i].mem = m;
	}
	pw->cur = &pw->b[0];
	pw->tty = isatty(STDERR_FILENO);
	pw->t_start = mono_ms();
	return 0;
}

void pw_fini(struct pw *pw)
{
	uint64_t ignored = 0;

	pww_stop(&pw->writer, &ignored);
	progress(pw, true);
	for (int i = 0; i < 2; i++)
		if (pw->b[i].mem)
			munmap(pw->b[i].mem, PW_BUF_SIZE);
	memset(pw->b, 0, sizeof(pw->b));
}

static bool seg_extends(const struct page_seg *l, uint64_t vaddr, uint32_t vma, bool file,
			bool parent)
{
	return l->vma == vma && l->file == file && l->parent == parent &&
	       l->vaddr + l->nr * MEM_PAGE == vaddr;
}

/* A run with nothing to read: PE_FILE, or PE_PARENT. */
static int add_unread(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma, bool parent)
{
	struct page_seg *s;
	int r;

	if (pw->nr_seg && seg_extends(&pw->seg[pw->nr_seg - 1], vaddr, vma, !parent, parent)) {
		pw->seg[pw->nr_seg - 1].nr += nr;
		return 0;
	}
	if (pw->nr_seg == PW_MAX_SEGS && (r = pw_flush(pw)) < 0)
		return r;
	s = &pw->seg[pw->nr_seg++];
	*s = (struct page_seg){ .vaddr = vaddr, .nr = nr, .vma = vma, .file = !parent,
				.parent = parent };
	return 0;
}

int pw_add_file(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma)
{
	return add_unread(pw, vaddr, nr, vma, false);
}

int pw_add_parent(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma)
{
	return add_unread(pw, vaddr, nr, vma, true);
}

int pw_add_copy(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma, struct page_src *src,
		uint8_t via)
{
	while (nr) {
		uint64_t room, take;
		struct page_seg *l;
		int r;

		if ((pw->nr_seg == PW_MAX_SEGS || pw->buf_used == PW_BUF_SIZE) &&
		    (r = pw_flush(pw)) < 0)
			return r;
		room = (PW_BUF_SIZE - pw->buf_used) / MEM_PAGE;
		take = nr < room ? nr : room;
		l = pw->nr_seg ? &pw->seg[pw->nr_seg - 1] : NULL;
		if (l && seg_extends(l, vaddr, vma, false, false) && l->src == src && l->via == via &&
		    l->buf_off + l->nr * MEM_PAGE == pw->buf_used) {
			l->nr += take;
		} else {
			l = &pw->seg[pw->nr_seg++];
			*l = (struct page_seg){ .vaddr = vaddr, .nr = take, .vma = vma, .src = src,
						.via = via, .buf_off = pw->buf_used };
		}
		pw->buf_used += take * MEM_PAGE;
		vaddr += take * MEM_PAGE;
		nr -= take;
	}
	return 0;
}

/* The part of the buffer this batch fills is faulted in at once, ahead of
 * the reads (0.5 us a page in bulk, against 10 us a page fault in this VM);
 * only as far as batches have reached, so a small process does not pay 2 x
 * 8 MiB (3 ms) for buffers it never fills. */
static void populate(struct pw_buf *b, size_t upto)
{
	if (upto <= b->populated)
		return;
	madvise(b->mem + b->populated, upto - b->populated, MADV_POPULATE_WRITE);
	b->populated = upto;
}

/* Each source reads its own runs of the batch, in one call. */
static int pw_read(struct pw *pw)
{
	struct page_batch b = { .seg = pw->seg, .nr_seg = pw->nr_seg, .mem = pw->cur->mem,
				.same = pw->same, .liov = pw->liov, .riov = pw->riov,
				.map = pw->map };

	populate(pw->cur, pw->buf_used);
	for (int c = 0; c < pw->nr_seg; c++) {
		struct page_src *src = pw->seg[c].src;
		int n = 0, r;

		if (pw->seg[c].file || pw->seg[c].parent || pw->seg[c].done)
			continue;
		for (int i = c; i < pw->nr_seg; i++) {
			const struct page_seg *g = &pw->seg[i];

			if (!g->file && !g->parent && !g->done && g->src == src)
				pw->idx[n++] = i;
		}
		r = src->ops->read(src, &b, pw->idx, n);
		if (r < 0)
			return r;
		for (int k = 0; k < n; k++)
			pw->seg[pw->idx[k]].done = true;
	}
	return pw->parent && pw->parent->ops->same ? pw->parent->ops->same(pw->parent, &b) : 0;
}

/* Most pages that are not zero differ in their first bytes, so this usually
 * stops at the first 64-byte block; only zero pages are read to the end. */
static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < MEM_PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

static int entry_put(struct pw *pw)
{
	int r = 0;

	if (pw->has_pending)
		r = img_write(pw->pm, &pw->pending);
	pw->has_pending = false;
	return r;
}

/* Record a run; it extends the previous entry when it continues it exactly
 * (same VMA, same kind, adjacent addresses and, for stored pages, adjacent
 * bytes in the pages file), so batch boundaries leave no trace. */
static int entry_add(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t flags, uint32_t vma)
{
	PagemapEntry *e = &pw->pending;
	int r;

	if (pw->has_pending && pw->pending_vma == vma && e->flags == flags &&
	    e->vaddr + e->nr_pages * MEM_PAGE == vaddr && e->nr_pages + nr <= UINT32_MAX &&
	    (!(flags & PE_PRESENT) || e->pages_off + e->nr_pages * MEM_PAGE == pw->pages_off)) {
		e->nr_pages += nr;
		return 0;
	}
	while (nr) {
		uint64_t n = nr < UINT32_MAX ? nr : UINT32_MAX;

		if ((r = entry_put(pw)) < 0)
			return r;
		pagemap_entry__init(e);
		e->vaddr = vaddr;
		e->nr_pages = n;
		e->flags = flags;
		e->has_pages_off = !!(flags & PE_PRESENT);
		e->pages_off = e->has_pages_off ? pw->pages_off : 0;
		pw->has_pending = true;
		pw->pending_vma = vma;
		vaddr += n * MEM_PAGE;
		nr -= n;
	}
	return 0;
}

/* Stored pages go out in address order; an iovec joins the previous one
 * when the bytes follow it in the buffer. */
static int store_run(struct pw *pw, const struct page_seg *s, uint64_t first, uint64_t nr)
{
	uint8_t *p = pw->cur->mem + s->buf_off + first * MEM_PAGE;
	size_t len = nr * MEM_PAGE;
	struct pw_buf *b = pw->cur;
	struct iovec *last = b->nr_wiov ? &b->wiov[b->nr_wiov - 1] : NULL;
	int r;

	r = entry_add(pw, s->vaddr + first * MEM_PAGE, nr, PE_PRESENT, s->vma);
	if (r < 0)
		return r;
	if (last && (uint8_t *)last->iov_base + last->iov_len == p) {
		last->iov_len += len;
	} else {
		/* Never full: runs are split by zero pages (PW_MAX_WIOV). */
		b->wiov[b->nr_wiov++] = (struct iovec){ .iov_base = p, .iov_len = len };
	}
	pw->pages_off += len;
	pw->st->pages_written += nr;
	return 0;
}

enum { PC_DATA, PC_ZERO, PC_SAME };

static int emit_run(struct pw *pw, const struct page_seg *s, int cls, uint64_t first, uint64_t nr)
{
	uint64_t va = s->vaddr + first * MEM_PAGE;

	if (cls == PC_DATA)
		return store_run(pw, s, first, nr);
	if (cls == PC_ZERO)
		pw->st->pages_zero += nr;
	else
		pw->st->pages_parent += nr;
	return entry_add(pw, va, nr, cls == PC_ZERO ? PE_ZERO : PE_PARENT, s->vma);
}

/* Zero pages are not stored; nor are those the parent holds (same). */
static int emit_copy(struct pw *pw, const struct page_seg *s)
{
	static uint8_t cls[PW_BUF_SIZE / MEM_PAGE];
	const uint8_t *same = pw->same + s->buf_off / MEM_PAGE;
	uint64_t start = 0;
	int r;

	for (uint64_t k = 0; k < s->nr; k++)
		cls[k] = page_is_zero(pw->cur->mem + s->buf_off + k * MEM_PAGE) ? PC_ZERO :
			 same[k] ? PC_SAME : PC_DATA;
	for (uint64_t k = 1; k <= s->nr; k++) {
		if (k < s->nr && cls[k] == cls[start])
			continue;
		r = emit_run(pw, s, cls[start], start, k - start);
		if (r < 0)
			return r;
		start = k;
	}
	return 0;
}

int pw_flush(struct pw *pw)
{
	int r;

	if (!pw->nr_seg)
		return 0;
	r = pw_read(pw);
	for (int i = 0; i < pw->nr_seg && r >= 0; i++) {
		const struct page_seg *s = &pw->seg[i];

		if (s->file) {
			r = entry_add(pw, s->vaddr, s->nr, PE_FILE, s->vma);
			pw->st->pages_file += s->nr;
		} else if (s->parent) {
			r = entry_add(pw, s->vaddr, s->nr, PE_PARENT, s->vma);
			pw->st->pages_parent += s->nr;
		} else if (s->lost) {
			pw->st->pages_unpopulated += s->nr;
		} else {
			r = emit_copy(pw, s);
		}
	}
	if (pw->parent)
		memset(pw->same, 0, pw->buf_used / MEM_PAGE);
	pw->nr_seg = 0;
	pw->buf_used = 0;
	if (r < 0)
		return r;
	/* This buffer goes to the writer; the next batch is read into the
	 * other one as soon as the writer is done with it. */
	r = pww_submit(&pw->writer, pw->cur);
	pw->cur = pw->cur == &pw->b[0] ? &pw->b[1] : &pw->b[0];
	if (r >= 0)
		r = pww_wait(&pw->writer, pw->cur);
	progress(pw, false);
	return r;
}

int pw_finish(struct pw *pw)
{
	int r = pw_flush(pw), r2;

	r2 = pww_stop(&pw->writer, &pw->st->bytes_written);
	progress(pw, true);
	if (r >= 0)
		r = r2;
	return r < 0 ? r : entry_put(pw);
}
