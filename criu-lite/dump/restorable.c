/* Would restore bring the tree back? Asked of the entries just written
 * (the files walk keeps them: fd.h, written), with the options the user
 * gave dump for state outside the tree, by the same checks restore runs
 * (common/fd/). `dump --kill` and `--leave-stopped` ask before they let go
 * of the tree and refuse while it still runs as it was; a plain dump warns,
 * naming each fd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/fd/fd.h"
#include "criu-lite/dump/dump_images.h"
#include "images/arena.h"
#include "images/log.h"

/* The view's entries are the files walk's; its proc entries in arena a. */
static void free_view(struct fd_rst *r, struct arena *a)
{
	free(r->procs);
	arena_free(a);
}

/* The controlling terminal of pid, from its proc image. */
static int proc_ctty(int dirfd, pid_t pid, struct arena *a, uint32_t *ctty)
{
	ProcEntry **pe = NULL;
	size_t n = 0;
	int rc = img_read_all_in(dirfd, IMG_PROC, pid, true, a, (void ***)&pe, &n);

	if (rc < 0)
		return rc;
	*ctty = n ? pe[0]->tty_nr : 0;
	free(pe);
	return 0;
}

/* The files walk's entries of pid, or NULL: not dumped. */
static const struct fd_rst_proc *written(const struct fd_dump_tree *files, pid_t pid)
{
	for (size_t i = 0; i < files->nr_written; i++)
		if (files->written[i].pid == (uint32_t)pid)
			return &files->written[i];
	return NULL;
}

static int load_view(int dirfd, const struct dump_tree *tree, const struct fd_dump_tree *files,
		     struct fd_rst *r, struct arena *a)
{
	if (!a)
		return -ENOMEM;
	r->procs = calloc(tree->nr_procs ? tree->nr_procs : 1, sizeof(*r->procs));
	if (!r->procs)
		return -ENOMEM;
	for (int i = 0; i < tree->nr_procs; i++) {
		struct fd_rst_proc *fp = &r->procs[r->nr_procs];
		const struct fd_rst_proc *w = written(files, tree->procs[i].pid);
		int rc;

		if (!w) {
			pr_err("process %d: no files entries to check", tree->procs[i].pid);
			return -EINVAL;
		}
		fp->pid = w->pid;
		fp->fd = w->fd;
		fp->nr_fd = w->nr_fd;
		r->nr_procs++;
		rc = proc_ctty(dirfd, tree->procs[i].pid, a, &fp->ctty);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One line per thing restore would refuse: a process (fd < 0) or an fd. */
static void say(const char *refusing, uint32_t pid, int fd, const char *why)
{
	char what[48];

	if (fd < 0)
		snprintf(what, sizeof(what), "process %u", pid);
	else
		snprintf(what, sizeof(what), "process %u fd %d", pid, fd);
	if (refusing)
		pr_err("%s: restore could not bring it back: %s", what, why);
	else
		pr_warn("%s: restore will refuse it: %s", what, why);
}

/* Processes sharing fd tables or fs info as restore can recreate it. */
static int check_shares(const struct dump_tree *tree, const struct fd_dump_tree *files,
			const char *refusing)
{
	pid_t *pid = calloc(tree->nr_procs + 1, 2 * sizeof(pid_t));
	char why[512];
	int rc;

	if (!pid)
		return -ENOMEM;
	for (int i = 0; i < tree->nr_procs; i++) {
		pid[i] = tree->procs[i].pid;
		pid[tree->nr_procs + 1 + i] = tree->procs[i].ppid;
	}
	rc = fd_dump_tree_check(files, pid, pid + tree->nr_procs + 1, (size_t)tree->nr_procs, why,
				sizeof(why));
	free(pid);
	if (!rc)
		return 0;
	if (!refusing) {
		pr_warn("restore will refuse the tree: %s", why);
		return 0;
	}
	pr_err("%s refused: restore could not bring it back: %s; the tree runs on as it was",
	       refusing, why);
	return rc;
}

int dump_check_restorable(int dirfd, const struct dump_tree *tree, const struct fd_rst_opts *opts,
			  struct fd_dump_tree *files, const char *refusing)
{
	struct fd_rst r = { .opts = *opts, .dirfd = dirfd, .kind_of = fd_kind_of };
	struct arena *a;
	int bad = 0, rc;
	char why[512];

	r.opts.at_dump = true;
	rc = check_shares(tree, files, refusing);
	if (rc)
		return rc;
	a = arena_new();
	rc = load_view(dirfd, tree, files, &r, a);
	for (size_t i = 0; !rc && i < r.nr_procs; i++) {
		if (fd_rst_check_proc(&r, &r.procs[i], why, sizeof(why)) < 0) {
			bad++;
			say(refusing, r.procs[i].pid, -1, why);
		}
		for (size_t j = 0; j < r.procs[i].nr_fd; j++) {
			const FdEntry *e = r.procs[i].fd[j];

			if (fd_rst_check(&r, e, why, sizeof(why)) >= 0)
				continue;
			bad++;
			say(refusing, r.procs[i].pid, (int)e->fd, why);
		}
	}
	free_view(&r, a);
	/* Not needed again. Freed now, before the kill, while the connections
	 * are silenced beside (socket_tcp_dump.c): after it, a thousand
	 * connections' entries cost the end of `dump --kill` ~1 ms. */
	fd_dump_tree_free_written(files);
	if (rc)
		return rc;
	if (bad && refusing) {
		pr_err("%s refused: restore could not bring back %d of the above; the tree runs "
		       "on as it was", refusing, bad);
		return -ENOTSUP;
	}
	return 0;
}
