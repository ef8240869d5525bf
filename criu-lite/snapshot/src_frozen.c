/* The frozen copy as a page source (snap_src.h): the memfd frozen_copy.c
 * filled while the tree was frozen, at offset == address. */
#include <errno.h>

#include "criu-lite/snapshot/snap_src.h"
#include "images/log.h"

static int frozen_scan(struct page_src *s, struct pm_ctx *pc, const struct mem_vma *mv,
		       uint32_t idx)
{
	struct frozen_src *f = (struct frozen_src *)s;

	if (!f->frozen[idx])
		return f->below->ops->scan(f->below, pc, mv, idx);
	return pm_scan_populated(pc, mv, idx, s);
}

static int frozen_populated(struct page_src *s, uint64_t addr, uint64_t end, uint64_t *start,
			    uint64_t *stop)
{
	const struct frozen_src *f = (const struct frozen_src *)s;
	int r = page_fd_data(f->fd, addr, end, start, stop);

	if (r < 0) {
		errno = -r;
		return pr_perror("cannot seek the snapshot's frozen copy at %#llx",
				 (unsigned long long)addr);
	}
	return r;
}

static int frozen_read(struct page_src *s, struct page_batch *b, const int *idx, int n)
{
	return page_src_pread(s, b, idx, n, ((const struct frozen_src *)s)->fd, 0);
}

static const struct page_src_ops frozen_ops = {
	.name = "the snapshot's frozen copy",
	.scan = frozen_scan,
	.populated = frozen_populated,
	.read = frozen_read,
};

void frozen_src_init(struct frozen_src *f, int fd, const bool *frozen, struct page_src *below)
{
	*f = (struct frozen_src){ .s = { .ops = &frozen_ops }, .below = below, .fd = fd,
				  .frozen = frozen };
}
