/* Reading a dump for convert: everything is checked here, once, so that the
 * writers after it may trust sizes and ranges. Images may come from another
 * machine or be damaged: a bad one is refused with one line naming it. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/convert.h"
#include "images/log.h"

#define GPREGS_SIZE	216	/* struct user_regs_struct */
#define FPREGS_SIZE	512	/* struct user_fpregs_struct (FXSAVE) */
#define XSTATE_MIN	576	/* legacy area + XSAVE header */
#define XSTATE_MAX	(1u << 20)
#define PARENT_DEPTH	16

static int check_inventory(const struct conv_dump *d)
{
	const InventoryEntry *inv = d->inv;

	if (inv->format_version != IMG_FORMAT_VERSION) {
		pr_err("%s: image format %u, this criu-lite reads format %d", d->dir,
		       inv->format_version, IMG_FORMAT_VERSION);
		return -EINVAL;
	}
	if (inv->has_kind && inv->kind == INVENTORY_KIND_PREDUMP) {
		pr_err("%s: a pre-dump holds memory only; convert the dump made after it", d->dir);
		return -EINVAL;
	}
	if (inv->arch && *inv->arch && strcmp(inv->arch, "x86_64")) {
		pr_err("%s: dump of a %s process; convert writes x86_64 cores only", d->dir,
		       inv->arch);
		return -EINVAL;
	}
	if (inv->page_size < 4096 || inv->page_size > (1u << 21) ||
	    (inv->page_size & (inv->page_size - 1))) {
		pr_err("%s: inventory.img: page size %u is corrupt", d->dir, inv->page_size);
		return -EINVAL;
	}
	return 0;
}

static int check_tree(const struct conv_dump *d)
{
	bool root = false;

	if (!d->nr_tree) {
		pr_err("%s: pstree.img lists no process", d->dir);
		return -EINVAL;
	}
	for (size_t i = 0; i < d->nr_tree; i++) {
		if (!d->tree[i]->n_threads || !d->tree[i]->pid) {
			pr_err("%s: pstree.img: process %u has no threads", d->dir,
			       d->tree[i]->pid);
			return -EINVAL;
		}
		root |= d->tree[i]->pid == d->inv->root_pid;
	}
	if (!root) {
		pr_err("%s: pstree.img lacks the root process %u", d->dir, d->inv->root_pid);
		return -EINVAL;
	}
	return 0;
}

int conv_dump_open(const char *dir, struct conv_dump *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->dir = dir;
	d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0)
		return pr_perror("cannot open dump directory %s", dir);
	r = img_read_one(d->dirfd, IMG_INVENTORY, 0, false, (void **)&d->inv);
	if (r == -ENOENT)
		pr_err("%s: not a complete dump (no inventory.img)", dir);
	if (r < 0)
		goto fail;
	r = check_inventory(d);
	if (r < 0)
		goto fail;
	d->page_size = d->inv->page_size;
	r = img_read_all(d->dirfd, IMG_PSTREE, 0, true, NULL, (void ***)&d->tree, &d->nr_tree);
	if (r < 0)
		goto fail;
	r = check_tree(d);
	if (r < 0)
		goto fail;
	return 0;
fail:
	conv_dump_close(d);
	return r;
}

void conv_dump_close(struct conv_dump *d)
{
	img_free_all((void **)d->tree, d->nr_tree);
	img_free(d->inv);
	if (d->dirfd >= 0)
		close(d->dirfd);
	memset(d, 0, sizeof(*d));
	d->dirfd = -1;
}

static int check_thread(const struct conv_proc *p, const ThreadEntry *t)
{
	const char *what = NULL;

	if (t->gpregs.len != GPREGS_SIZE)
		what = "general registers";
	else if (t->has_fpregs && t->fpregs.len && t->fpregs.len != FPREGS_SIZE)
		what = "FPU registers";
	else if (t->has_xstate && t->xstate.len &&
		 (t->xstate.len < XSTATE_MIN || t->xstate.len > XSTATE_MAX))
		what = "XSAVE area";
	if (!what)
		return 0;
	pr_err("threads-%d.img: thread %u: corrupt %s", p->pid, t->tid, what);
	return -EINVAL;
}

static int load_threads(const struct conv_dump *d, struct conv_proc *p)
{
	int r = img_read_all(d->dirfd, IMG_THREADS, p->pid, true, NULL, (void ***)&p->th, &p->nr_th);

	if (r < 0)
		return r;
	if (!p->nr_th) {
		pr_err("threads-%d.img lists no thread", p->pid);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->nr_th; i++) {
		r = check_thread(p, p->th[i]);
		if (r < 0)
			return r;
		/* The leader's PRSTATUS comes first, as the kernel's dumping thread. */
		if (p->th[i]->tid == (uint32_t)p->pid && i) {
			ThreadEntry *t = p->th[0];

			p->th[0] = p->th[i];
			p->th[i] = t;
		}
	}
	return 0;
}

static int load_vmas(const struct conv_dump *d, struct conv_proc *p)
{
	uint64_t mask = d->page_size - 1, prev_end = 0;
	int r = img_read_all(d->dirfd, IMG_MM, p->pid, true, NULL, (void ***)&p->vma, &p->nr_vma);

	if (r < 0)
		return r;
	for (size_t i = 0; i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];

		if (v->start >= v->end || (v->start & mask) || (v->end & mask) ||
		    (i && v->start < prev_end)) {
			pr_err("mm-%d.img: VMA %#lx-%#lx is corrupt or out of order", p->pid,
			       (unsigned long)v->start, (unsigned long)v->end);
			return -EINVAL;
		}
		prev_end = v->end;
	}
	return 0;
}

int conv_proc_load(const struct conv_dump *d, const PstreeEntry *ps, struct conv_proc *p)
{
	int r;

	memset(p, 0, sizeof(*p));
	p->pid = ps->pid;
	r = img_read_one(d->dirfd, IMG_PROC, p->pid, true, (void **)&p->pe);
	if (r < 0)
		goto fail;
	if (p->pe->pid != (uint32_t)p->pid) {
		pr_err("proc-%d.img describes process %u", p->pid, p->pe->pid);
		r = -EINVAL;
		goto fail;
	}
	if (p->pe->has_auxv && p->pe->auxv.len % 16) {
		pr_err("proc-%d.img: auxv of %zu bytes is corrupt", p->pid, p->pe->auxv.len);
		r = -EINVAL;
		goto fail;
	}
	r = load_threads(d, p);
	if (r < 0)
		goto fail;
	r = load_vmas(d, p);
	if (r < 0)
		goto fail;
	r = conv_pages_load(d->dirfd, d->dir, p->pid, d->inv, d->page_size, PARENT_DEPTH,
			    &p->pages);
	if (r < 0)
		goto fail;
	return 0;
fail:
	conv_proc_free(p);
	return r;
}

void conv_proc_free(struct conv_proc *p)
{
	conv_pages_free(p->pages);
	img_free_all((void **)p->vma, p->nr_vma);
	img_free_all((void **)p->th, p->nr_th);
	img_free(p->pe);
	memset(p, 0, sizeof(*p));
}
