/* Processes sharing an fd table (CLONE_FILES) or fs info (CLONE_FS), as
 * pstree.img says (kcmp at the dump, common/fd/desc.c): which can come
 * back sharing, and the fd numbers the members of a table use for their mm
 * files, one after the other in the shared table. */
#include <errno.h>

#include "images/log.h"
#include "restore/rst.h"

/* The processes sharing one fd table (or fs info) are told by the first of
 * them in the tree, which the others name (desc.c). */
static uint32_t files_group(const struct rst_proc *p)
{
	return p->ps->has_files_with && p->ps->files_with ? p->ps->files_with : p->ps->pid;
}

static uint32_t fs_group(const struct rst_proc *p)
{
	return p->ps->has_fs_with && p->ps->fs_with ? p->ps->fs_with : p->ps->pid;
}

bool rst_fds_shares_table(const struct rst_tree *t, const struct rst_proc *p)
{
	return p->ps->has_files_with && p->ps->files_with && p->parent >= 0 &&
	       files_group(&t->procs[p->parent]) == p->ps->files_with;
}

/* Shared fd tables and fs info come back by creating the process with
 * CLONE_FILES / CLONE_FS (child.c), which shares with the creator only. A
 * process sharing its table is created once its parent is set up: it can
 * have no children of its own that do not share it too. */
int rst_fds_check_shares(struct rst_tree *t, struct rst_proc *p)
{
	const struct rst_proc *parent = p->parent >= 0 ? &t->procs[p->parent] : NULL;

	if (p->ps->has_files_with && p->ps->files_with && !rst_fds_shares_table(t, p)) {
		pr_err("cannot restore %u: it shares its fd table with %u (CLONE_FILES), but not "
		       "with its parent", p->ps->pid, p->ps->files_with);
		return -ENOTSUP;
	}
	for (size_t i = 0; rst_fds_shares_table(t, p) && i < t->nr_procs; i++)
		if (t->procs[i].parent == p - t->procs && !rst_fds_shares_table(t, &t->procs[i])) {
			pr_err("cannot restore %u: it shares its parent's fd table (CLONE_FILES) and "
			       "has a child, %u, with a table of its own", p->ps->pid,
			       t->procs[i].ps->pid);
			return -ENOTSUP;
		}
	if (p->ps->has_fs_with && p->ps->fs_with && (!parent || fs_group(parent) != p->ps->fs_with)) {
		pr_err("cannot restore %u: it shares its working directory with %u (CLONE_FS), "
		       "but not with its parent", p->ps->pid, p->ps->fs_with);
		return -ENOTSUP;
	}
	return 0;
}

/* Processes sharing a table each open their mm files in it: numbered one
 * after the other, in tree order. */
void rst_fds_sharers_mm_base(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];

		for (size_t k = i; rst_fds_shares_table(t, p) && k-- > 0; )
			if (files_group(&t->procs[k]) == files_group(p)) {
				p->mm_fd_base = t->procs[k].mm_fd_base + (int)t->procs[k].nr_mf;
				break;
			}
	}
}

unsigned int rst_fds_mm_close_to(const struct rst_tree *t, const struct rst_proc *p)
{
	for (size_t i = (size_t)(p - t->procs) + 1; i < t->nr_procs; i++)
		if (files_group(&t->procs[i]) == files_group(p))
			return (unsigned int)(p->mm_fd_base + (int)p->nr_mf) - 1;
	return ~0U;
}
