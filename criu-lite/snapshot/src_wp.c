/* --snapshot wp's write-protect overlay as a page source (snap_src.h):
 * the pages populated at the freeze, read from the live process, with the
 * pages saved before the process wrote them put back over what was read.
 * A page populated since the freeze was a hole then: it stays one. */
#include <errno.h>

#include "criu-lite/snapshot/snap_src.h"
#include "images/log.h"

size_t wp_run_first_after(const struct wp_run *runs, size_t nr, uint64_t addr)
{
	size_t lo = 0, hi = nr;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (runs[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int wp_scan(struct page_src *s, struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx)
{
	struct wp_src *w = (struct wp_src *)s;
	struct mem_vma file;

	switch (w->kind[idx]) {
	case WPK_PROTECTED:
		return pm_scan_populated(pc, mv, idx, s);
	case WPK_FILE:
		if (mv->policy != MP_PRIV_FILE)
			break;
		file = *mv;
		file.policy = MP_SHARED_FILE;	/* what is resident is the file's */
		return w->live->ops->scan(w->live, pc, &file, idx);
	}
	return w->live->ops->scan(w->live, pc, mv, idx);
}

static int wp_populated(struct page_src *s, uint64_t addr, uint64_t end, uint64_t *start,
			uint64_t *stop)
{
	const struct wp_src *w = (const struct wp_src *)s;
	size_t k = wp_run_first_after(w->runs, w->nr_runs, addr);

	if (k == w->nr_runs || w->runs[k].start >= end)
		return 0;
	*start = w->runs[k].start > addr ? w->runs[k].start : addr;
	*stop = w->runs[k].end < end ? w->runs[k].end : end;
	return 1;
}

/* The saved pages of g, over what the live read got. */
static int put_saved(const struct wp_src *w, struct page_batch *b, const struct page_seg *g)
{
	uint64_t off = g->vaddr, end = g->vaddr + g->nr * MEM_PAGE, d, h;
	int r;

	while ((r = page_fd_data(w->saved_fd, off, end, &d, &h)) > 0) {
		r = page_pread(w->saved_fd, b->mem + g->buf_off + (d - g->vaddr), h - d, d);
		if (r < 0) {
			errno = -r;
			return pr_perror("cannot read the snapshot's saved pages");
		}
		off = h;
	}
	if (r < 0) {
		errno = -r;
		return pr_perror("cannot look up the snapshot's saved pages");
	}
	return 0;
}

/* A page the process wrote after the freeze was saved before the write
 * could happen, so whatever the live read got for it is replaced. Looked
 * at only after the read: a page saved while it was read is then seen too
 * (saved before it was unprotected). */
static int wp_read(struct page_src *s, struct page_batch *b, const int *idx, int n)
{
	const struct wp_src *w = (const struct wp_src *)s;
	uint64_t upto = 0;
	int r = w->live->ops->read(w->live, b, idx, n);

	for (int k = 0; k < n && r >= 0; k++) {
		const struct page_seg *g = &b->seg[idx[k]];

		if (g->lost)
			continue;
		r = put_saved(w, b, g);
		upto = g->vaddr + g->nr * MEM_PAGE;
	}
	if (r >= 0 && upto)
		atomic_store(w->read_upto, upto);
	return r;
}

static const struct page_src_ops wp_ops = {
	.name = "the write-protected process",
	.scan = wp_scan,
	.populated = wp_populated,
	.read = wp_read,
};

void wp_src_init(struct wp_src *w, struct page_src *live, int saved_fd, const uint8_t *kind,
		 const struct wp_run *runs, size_t nr_runs, _Atomic uint64_t *read_upto)
{
	*w = (struct wp_src){ .s = { .ops = &wp_ops }, .live = live, .saved_fd = saved_fd,
			      .kind = kind, .runs = runs, .nr_runs = nr_runs,
			      .read_upto = read_upto };
}
