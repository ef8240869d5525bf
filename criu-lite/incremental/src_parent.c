/* The parent images as a page source: see parent_src.h. The parent's runs
 * are read through images/dump_read.h, here only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/kerndat.h"
#include "criu-lite/incremental/parent_src.h"
#include "images/image.h"
#include "images/log.h"

#define CMP_BUF	(1u << 20)

static int parent_scan(struct page_src *s, struct pm_ctx *pc, const struct mem_vma *mv,
		       uint32_t idx)
{
	struct parent_src *p = (struct parent_src *)s;

	pm_set_parent(pc, s, p->track);
	return p->below->ops->scan(p->below, pc, mv, idx);
}

/* The pages the parent holds: stored, zero, or in its own parent (not
 * PE_FILE: that is the file's, as it is now). */
static int parent_populated(struct page_src *s, uint64_t addr, uint64_t end, uint64_t *start,
			    uint64_t *stop)
{
	const struct parent_src *p = (const struct parent_src *)s;
	const struct dr_run *run;

	for (run = dr_pages_next(p->pm, addr); run && run->start < end;
	     run = dr_pages_next(p->pm, run->end))
		if (run->flags & (PE_PRESENT | PE_ZERO | PE_PARENT)) {
			*start = run->start > addr ? run->start : addr;
			*stop = run->end < end ? run->end : end;
			return 1;
		}
	return 0;
}

/* The pages of g equal to the parent's stored page at the same address;
 * the parent's bytes are read run by run. */
static int compare(struct parent_src *p, struct page_batch *b, const struct page_seg *g)
{
	uint8_t *mem = b->mem + g->buf_off, *same = b->same + g->buf_off / MEM_PAGE;
	uint64_t k = 0;

	while (k < g->nr) {
		uint64_t va = g->vaddr + k * MEM_PAGE, n;
		const struct dr_run *run = dr_pages_next(p->pm, va);
		ssize_t got;

		if (!run || run->start >= g->vaddr + g->nr * MEM_PAGE)
			break;
		if (run->start > va) {
			k += (run->start - va) / MEM_PAGE;
			continue;
		}
		n = (run->end - va) / MEM_PAGE;
		n = n < g->nr - k ? n : g->nr - k;
		n = n < CMP_BUF / MEM_PAGE ? n : CMP_BUF / MEM_PAGE;
		if (run->flags != PE_PRESENT) {
			k += n;
			continue;
		}
		got = pread(p->pm->pages_fd, p->cmp, n * MEM_PAGE, run->off + (va - run->start));
		if (got != (ssize_t)(n * MEM_PAGE))
			return got < 0 ? pr_perror("cannot read the parent's pages") : -EIO;
		for (uint64_t i = 0; i < n; i++)
			same[k + i] = !memcmp(mem + (k + i) * MEM_PAGE, p->cmp + i * MEM_PAGE, MEM_PAGE);
		k += n;
	}
	return 0;
}

static int parent_same(struct page_src *s, struct page_batch *b)
{
	struct parent_src *p = (struct parent_src *)s;

	if (p->track != KD_TRACK_HASHES)
		return 0;
	for (int i = 0; i < b->nr_seg; i++) {
		const struct page_seg *g = &b->seg[i];
		int r;

		if (g->file || g->parent || g->lost)
			continue;
		r = compare(p, b, g);
		if (r < 0)
			return r;
	}
	return 0;
}

static const struct page_src_ops parent_ops = {
	.name = "the parent images",
	.scan = parent_scan,
	.populated = parent_populated,
	.same = parent_same,
};

int parent_src_open(struct parent_src *p, int dirfd, const char *dir, pid_t pid, int track,
		    struct page_src *below)
{
	*p = PARENT_SRC_NULL;
	p->s = (struct page_src){ .ops = &parent_ops, .best_effort = below->best_effort };
	p->below = below;
	p->track = track;
	if (track == KD_TRACK_HASHES && !(p->cmp = malloc(CMP_BUF)))
		return -ENOMEM;
	return dr_pages_open(dirfd, dir, (uint32_t)pid, &p->pm);
}

void parent_src_close(struct parent_src *p)
{
	dr_pages_free(p->pm);
	p->pm = NULL;
	free(p->cmp);
	p->cmp = NULL;
}
