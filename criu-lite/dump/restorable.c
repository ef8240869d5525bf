/* Would restore bring the tree back? Asked of the images just written,
 * with the options the user gave dump for state outside the tree, by the
 * same checks restore runs (common/fd/). `dump --kill` and `--leave-stopped`
 * ask before they let go of the tree and refuse while it still runs as it
 * was; a plain dump warns, naming each fd. */
#include <errno.h>
#include <stdlib.h>

#include "common/fd/fd.h"
#include "criu-lite/dump/dump_images.h"
#include "images/log.h"

static void free_view(struct fd_rst *r)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		img_free_all((void **)r->procs[i].fd, r->procs[i].nr_fd);
	free(r->procs);
}

static int load_view(int dirfd, const struct dump_tree *tree, struct fd_rst *r)
{
	r->procs = calloc(tree->nr_procs ? tree->nr_procs : 1, sizeof(*r->procs));
	if (!r->procs)
		return -ENOMEM;
	for (int i = 0; i < tree->nr_procs; i++) {
		struct fd_rst_proc *fp = &r->procs[r->nr_procs];
		int rc = img_read_all(dirfd, IMG_FILES, tree->procs[i].pid, true, NULL,
				      (void ***)&fp->fd, &fp->nr_fd);

		if (rc < 0)
			return rc;
		fp->pid = (uint32_t)tree->procs[i].pid;
		r->nr_procs++;
	}
	return 0;
}

int dump_check_restorable(int dirfd, const struct dump_tree *tree, const struct fd_rst_opts *opts,
			  const char *refusing)
{
	struct fd_rst r = { .opts = *opts, .kind_of = fd_kind_of };
	int bad = 0, rc;

	r.opts.at_dump = true;
	rc = load_view(dirfd, tree, &r);
	for (size_t i = 0; !rc && i < r.nr_procs; i++)
		for (size_t j = 0; j < r.procs[i].nr_fd; j++) {
			const FdEntry *e = r.procs[i].fd[j];
			char why[512];

			if (fd_rst_check(&r, e, why, sizeof(why)) >= 0)
				continue;
			bad++;
			if (refusing)
				pr_err("process %u fd %u: restore could not bring it back: %s",
				       r.procs[i].pid, e->fd, why);
			else
				pr_warn("process %u fd %u: restore will refuse it: %s",
					r.procs[i].pid, e->fd, why);
		}
	free_view(&r);
	if (rc)
		return rc;
	if (bad && refusing) {
		pr_err("%s refused: restore could not bring back %d fd%s (above); the tree runs "
		       "on as it was", refusing, bad, bad > 1 ? "s" : "");
		return -ENOTSUP;
	}
	return 0;
}
