/* The process-state half of "would restore bring the tree back?": asked of
 * the proc and threads images just written, by the check restore itself
 * runs (common/ploss.c). What cannot come back exactly and was not
 * accepted with --accept-loss makes `dump --kill` and `--leave-stopped`
 * refuse while the tree still runs; a plain dump warns, naming each. */
#include <errno.h>
#include <stdlib.h>

#include "common/ploss.h"
#include "criu-lite/dump/dump_images.h"
#include "images/arena.h"
#include "images/log.h"

static void say(void *ctx, uint32_t pid, enum ploss_kind kind, const char *what, bool accepted)
{
	const char *refusing = ctx;

	if (accepted)
		pr_info("process %u: %s (accepted: --accept-loss %s)", pid, what, ploss_name(kind));
	else if (refusing)
		pr_err("process %u: restore could not bring it back exactly: %s (--accept-loss %s)",
		       pid, what, ploss_name(kind));
	else
		pr_warn("process %u: restore will refuse it: %s (unless --accept-loss %s)", pid, what,
			ploss_name(kind));
}

static int check_one(int dirfd, pid_t pid, const struct ploss_opts *opts, const char *refusing)
{
	struct arena *a = arena_new();
	ProcEntry *pe = NULL;
	ThreadEntry **th = NULL;
	size_t nr_th = 0;
	int r = a ? img_read_one_in(dirfd, IMG_PROC, pid, true, a, (void **)&pe) : -ENOMEM;

	if (r >= 0)
		r = img_read_all_in(dirfd, IMG_THREADS, pid, true, a, (void ***)&th, &nr_th);
	if (r >= 0)
		r = ploss_check(opts, pe, th, nr_th, say, (void *)refusing);
	free(th);
	arena_free(a);
	return r;
}

int dump_check_proc_restorable(int dirfd, const struct dump_tree *tree,
			       const struct ploss_opts *opts, const char *refusing)
{
	int bad = 0;

	for (int i = 0; i < tree->nr_procs; i++) {
		int r = check_one(dirfd, tree->procs[i].pid, opts, refusing);

		if (r < 0)
			return r;
		bad += r;
	}
	if (bad && refusing) {
		pr_err("%s refused: restore could not bring back %d piece%s of process state "
		       "exactly (above); the tree runs on as it was", refusing, bad, bad > 1 ? "s" : "");
		return -ENOTSUP;
	}
	return 0;
}
