/* The live process as a page source: its pagemap says what is populated,
 * process_vm_readv reads a whole batch in one call, /proc/PID/mem what
 * that refuses. */
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "criu-lite/memory/page_src.h"
#include "images/log.h"

/* via: how a run is read */
enum { LIVE_VM, LIVE_PROCMEM };

static int live_scan(struct page_src *s, struct pm_ctx *pc, const struct mem_vma *mv,
		     uint32_t idx)
{
	struct live_src *l = (struct live_src *)s;
	/* PROT_NONE and exec-only: process_vm_readv refuses them for sure. */
	struct pm_from f = { .pm_pid = l->pid, .obj_pid = l->pid, .reader = s,
			     .via = (mv->v->prot & PROT_READ) ? LIVE_VM : LIVE_PROCMEM };

	return pm_scan_vma(pc, mv, idx, &f);
}

/* One process_vm_readv for the runs of idx[from..n) read that way. Where
 * the kernel stops short (a range it refuses, e.g. VM_READ cleared by
 * mprotect after the pagemap said present), the rest of that run comes
 * from /proc/PID/mem. Returns where the next call starts: n when all are
 * read. */
static int read_vm(struct live_src *l, struct page_batch *b, const int *idx, int from, int n)
{
	int *map = b->map, m = 0;
	size_t done = 0;
	ssize_t got;

	for (int k = from; k < n; k++) {
		struct page_seg *g = &b->seg[idx[k]];

		if (g->via != LIVE_VM)
			continue;
		b->liov[m].iov_base = b->mem + g->buf_off;
		b->riov[m].iov_base = (void *)(uintptr_t)g->vaddr;
		b->liov[m].iov_len = b->riov[m].iov_len = g->nr * MEM_PAGE;
		map[m++] = k;
	}
	if (!m)
		return n;
	got = process_vm_readv(l->pid, b->liov, m, b->riov, m, 0);
	/* (no such process: it exited meanwhile, which is what the user must
	 * learn; a snapshot reads a process that runs on) */
	if (got < 0 && errno == ESRCH) {
		pr_err("process %d exited while its memory was read", l->pid);
		return -ESRCH;
	}
	if (got < 0)
		got = 0;	/* refused at the first range */
	for (int q = 0; q < m; q++) {
		struct page_seg *g = &b->seg[idx[map[q]]];
		size_t len = g->nr * MEM_PAGE, skip;
		int r;

		if (done + len <= (size_t)got) {
			done += len;
			continue;
		}
		skip = ((size_t)got - done) & ~(MEM_PAGE - 1);
		r = page_procmem_read(&l->s, &l->mem_fd, l->pid, b, g, skip);
		return r < 0 ? r : map[q] + 1;
	}
	return n;
}

static int live_read(struct page_src *s, struct page_batch *b, const int *idx, int n)
{
	struct live_src *l = (struct live_src *)s;
	int r = 0;

	for (int k = 0; k < n && r >= 0; k++)
		if (b->seg[idx[k]].via == LIVE_PROCMEM)
			r = page_procmem_read(s, &l->mem_fd, l->pid, b, &b->seg[idx[k]], 0);
	for (int from = 0; from < n && r >= 0; from = r)
		r = read_vm(l, b, idx, from, n);
	return r < 0 ? r : 0;
}

static const struct page_src_ops live_ops = {
	.name = "the process",
	.scan = live_scan,
	.read = live_read,
};

void live_src_init(struct live_src *l, pid_t pid, bool best_effort)
{
	*l = (struct live_src){ .s = { .ops = &live_ops, .best_effort = best_effort }, .pid = pid,
				.mem_fd = -1 };
}

void live_src_fini(struct live_src *l)
{
	if (l->mem_fd >= 0)
		close(l->mem_fd);
	l->mem_fd = -1;
}
