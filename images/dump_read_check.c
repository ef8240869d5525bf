/* The rules of dump_read.h on the inventory, the process tree and one
 * process's images, whichever backend read them. Each refusal is one line
 * naming the dump or the image and what is wrong. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/dump_read_backend.h"
#include "images/log.h"

#define GPREGS_SIZE	216	/* struct user_regs_struct */
#define FPREGS_SIZE	512	/* struct user_fpregs_struct (FXSAVE) */
#define XSTATE_MIN	576	/* legacy area + XSAVE header */
#define XSTATE_MAX	(1u << 20)

int dr_check_inventory(const InventoryEntry *inv, const char *dir, unsigned flags)
{
	if (inv->format_version != IMG_FORMAT_VERSION) {
		pr_err("%s: image format %u, this criu-lite reads format %d", dir,
		       inv->format_version, IMG_FORMAT_VERSION);
		return -EINVAL;
	}
	if (!(flags & DR_PREDUMP_OK) && inv->has_kind && inv->kind == INVENTORY_KIND_PREDUMP) {
		pr_err("%s is a pre-dump: it holds memory only; use the dump made after it", dir);
		return -EINVAL;
	}
	if (inv->arch && *inv->arch && strcmp(inv->arch, "x86_64")) {
		pr_err("%s: dump of a %s process; criu-lite reads x86_64 dumps only", dir, inv->arch);
		return -EINVAL;
	}
	if (inv->page_size != DR_PAGE) {
		pr_err("%s: inventory.img: page size %u is corrupt (x86_64 pages are %llu bytes)",
		       dir, inv->page_size, DR_PAGE);
		return -EINVAL;
	}
	return 0;
}

static ssize_t find_pid(PstreeEntry *const *ps, size_t n, uint32_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (ps[i]->pid == pid)
			return (ssize_t)i;
	return -1;
}

static int check_entries(const struct dump_read *d)
{
	if (!d->nr_ps) {
		pr_err("%s: pstree.img lists no process", d->dir);
		return -EINVAL;
	}
	for (size_t i = 0; i < d->nr_ps; i++) {
		const PstreeEntry *p = d->ps[i];

		if (!p->pid || !p->n_threads) {
			pr_err("%s: pstree.img: process %u has no threads", d->dir, p->pid);
			return -EINVAL;
		}
		if (find_pid(d->ps, i, p->pid) >= 0) {
			pr_err("%s: pstree.img: process %u is listed twice", d->dir, p->pid);
			return -EINVAL;
		}
	}
	if (find_pid(d->ps, d->nr_ps, d->inv->root_pid) < 0) {
		pr_err("%s: pstree.img lacks the root process %u", d->dir, d->inv->root_pid);
		return -EINVAL;
	}
	for (size_t i = 0; i < d->nr_ps; i++) {
		const PstreeEntry *p = d->ps[i];

		if (p->pid != d->inv->root_pid && find_pid(d->ps, d->nr_ps, p->ppid) < 0) {
			pr_err("%s: pstree.img: the parent %u of process %u is not in the dump",
			       d->dir, p->ppid, p->pid);
			return -EINVAL;
		}
	}
	return 0;
}

/* Parents before children, keeping the image's order where it already is
 * one: a pass takes every process whose parent was taken; a pass that
 * takes none means the rest are their own ancestors. */
static int order_tree(struct dump_read *d)
{
	PstreeEntry **out = calloc(d->nr_ps, sizeof(*out));
	bool *taken = calloc(d->nr_ps, sizeof(*taken));
	size_t n = 0, before;
	int r = 0;

	if (!out || !taken) {
		r = -ENOMEM;
		goto out;
	}
	do {
		before = n;
		for (size_t i = 0; i < d->nr_ps; i++) {
			const PstreeEntry *p = d->ps[i];

			if (taken[i] || (p->pid != d->inv->root_pid &&
					 find_pid(out, n, p->ppid) < 0))
				continue;
			taken[i] = true;
			out[n++] = d->ps[i];
		}
	} while (n < d->nr_ps && n > before);
	if (n < d->nr_ps) {
		for (size_t i = 0; i < d->nr_ps && !r; i++)
			if (!taken[i]) {
				pr_err("%s: pstree.img: process %u is its own ancestor", d->dir,
				       d->ps[i]->pid);
				r = -EINVAL;
			}
		goto out;
	}
	memcpy(d->ps, out, d->nr_ps * sizeof(*out));
	d->root = 0;
out:
	free(out);
	free(taken);
	return r;
}

int dr_check_pstree(struct dump_read *d)
{
	int r = check_entries(d);

	if (!r)
		r = order_tree(d);
	if (!r && d->nr_counted && d->nr_counted != d->nr_ps) {
		pr_err("%s: pstree.img lists %zu processes where the dump counted %u (image cut "
		       "short?)", d->dir, d->nr_ps, d->nr_counted);
		r = -EINVAL;
	}
	return r;
}

static int check_thread(const struct dr_proc *p, const ThreadEntry *t)
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
	pr_err("threads-%u.img: thread %u: corrupt %s", p->ps->pid, t->tid, what);
	return -EINVAL;
}

static bool has_thread(const struct dr_proc *p, uint32_t tid)
{
	for (size_t i = 0; i < p->nr_th; i++)
		if (p->th[i]->tid == tid)
			return true;
	return false;
}

static int check_threads(const struct dump_read *d, const struct dr_proc *p)
{
	uint32_t pid = p->ps->pid;
	int r;

	if (!p->nr_th || p->th[0]->tid != pid) {
		pr_err("%s: threads-%u.img: %s", d->dir, pid, p->nr_th ?
		       "the thread-group leader is not the first thread" : "lists no thread");
		return -EINVAL;
	}
	for (size_t i = 0; i < p->nr_th; i++)
		if ((r = check_thread(p, p->th[i])) < 0)
			return r;
	/* The entries carry no count; pstree.img's list of threads does. */
	for (size_t i = 0; i < p->ps->n_threads; i++)
		if (!has_thread(p, p->ps->threads[i])) {
			pr_err("%s: threads-%u.img lacks thread %u that pstree.img lists (image "
			       "cut short?)", d->dir, pid, p->ps->threads[i]);
			return -EINVAL;
		}
	return 0;
}

static int check_vmas(const struct dump_read *d, const struct dr_proc *p)
{
	for (size_t i = 0; i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];
		const char *why = NULL;

		if (v->start >= v->end || (v->start & (DR_PAGE - 1)) || (v->end & (DR_PAGE - 1)))
			why = "is not page-aligned, or empty";
		else if (i && v->start < p->vma[i - 1]->start)
			why = "is out of order";
		else if (i && v->start < p->vma[i - 1]->end)
			why = "overlaps the VMA before it";
		if (why) {
			pr_err("%s: mm-%u.img: VMA %#llx-%#llx %s", d->dir, p->ps->pid,
			       (unsigned long long)v->start, (unsigned long long)v->end, why);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_pe(const struct dump_read *d, const struct dr_proc *p)
{
	if (p->pe->pid != p->ps->pid) {
		pr_err("%s: proc-%u.img describes process %u", d->dir, p->ps->pid, p->pe->pid);
		return -EINVAL;
	}
	if (p->pe->has_auxv && p->pe->auxv.len % 16) {
		pr_err("%s: proc-%u.img: auxv of %zu bytes is corrupt", d->dir, p->ps->pid,
		       p->pe->auxv.len);
		return -EINVAL;
	}
	return 0;
}

int dr_check_proc(const struct dump_read *d, const struct dr_proc *p)
{
	int r = 0;

	if (p->loaded & DR_PROC)
		r = check_pe(d, p);
	if (!r && (p->loaded & DR_THREADS))
		r = check_threads(d, p);
	if (!r && (p->loaded & DR_VMAS))
		r = check_vmas(d, p);
	if (!r && (p->loaded & DR_PAGES))
		r = dr_pages_check(p->pages, true);
	return r;
}
