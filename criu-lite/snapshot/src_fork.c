/* The fork()ed copy as a page source (snap_src.h). */
#include <errno.h>
#include <unistd.h>

#include "criu-lite/snapshot/snap_src.h"
#include "images/log.h"

/* 1 if the copy has v as the original had it at the fork, 0 if not, <0. */
static int copy_has(struct fork_src *f, const struct vma *v)
{
	const struct vma *c;
	int r;

	if (!(v->vmf & (VMF_DONTCOPY | VMF_WIPEONFORK)))
		return 1;
	if (!f->have_copy_vmas) {
		r = vma_list_read(f->copy, true, &f->copy_vmas);
		if (r < 0)
			return r;
		f->have_copy_vmas = true;
	}
	c = vma_list_find(&f->copy_vmas, v->start);
	if (c && c->start == v->start && c->end == v->end && !(c->vmf & VMF_WIPEONFORK))
		return 1;
	pr_warn("%#llx-%#llx is MADV_DONTFORK/WIPEONFORK: read from the live process %d",
		(unsigned long long)v->start, (unsigned long long)v->end, f->pid);
	return 0;
}

static int fork_scan(struct page_src *s, struct pm_ctx *pc, const struct mem_vma *mv,
		     uint32_t idx)
{
	struct fork_src *f = (struct fork_src *)s;
	const struct vma *v = mv->v;
	struct pm_from from = { .pm_pid = v->shared ? f->pid : f->copy, .obj_pid = f->copy,
				.reader = s };
	int r = copy_has(f, v);

	if (r <= 0)
		return r < 0 ? r : f->orig->ops->scan(f->orig, pc, mv, idx);
	if (mv->policy == MP_PRIV_FILE && (r = pm_has_pages(pc, f->copy, v->start, v->end)) <= 0) {
		/* fork() copies no page tables of a private file mapping that
		 * has no anonymous page: what the original has resident there
		 * was the file's at the fork. */
		struct mem_vma file = *mv;

		file.policy = MP_SHARED_FILE;
		return r < 0 ? r : f->orig->ops->scan(f->orig, pc, &file, idx);
	}
	return pm_scan_vma(pc, mv, idx, &from);
}

static int fork_read(struct page_src *s, struct page_batch *b, const int *idx, int n)
{
	struct fork_src *f = (struct fork_src *)s;

	for (int k = 0; k < n; k++) {
		int r = page_procmem_read(s, &f->mem_fd, f->copy, b, &b->seg[idx[k]], 0);

		if (r < 0)
			return r;
	}
	return 0;
}

static const struct page_src_ops fork_ops = {
	.name = "the fork()ed copy",
	.scan = fork_scan,
	.read = fork_read,
};

void fork_src_init(struct fork_src *f, pid_t pid, pid_t copy, struct page_src *orig)
{
	*f = (struct fork_src){ .s = { .ops = &fork_ops }, .orig = orig, .pid = pid, .copy = copy,
				.mem_fd = -1 };
}

void fork_src_fini(struct fork_src *f)
{
	if (f->mem_fd >= 0)
		close(f->mem_fd);
	f->mem_fd = -1;
	vma_list_free(&f->copy_vmas);
	f->have_copy_vmas = false;
}
