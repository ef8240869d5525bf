/* The dump context and its teardown: see dump_ctx.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/infect.h"
#include "criu-lite/dump/dump_ctx.h"
#include "criu-lite/freeze/signals.h"
#include "criu-lite/survive/guardian.h"
#include "images/clock.h"
#include "images/log.h"

static int open_images_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return pr_perror("cannot open images directory %s", dir);
	/* Root passes access() checks on permissions, but not on a read-only
	 * mount; the probe file catches everything else (quota, ACLs). */
	if (faccessat(fd, ".", W_OK, AT_EACCESS)) {
		int r = pr_perror("images directory %s is not writable", dir);

		close(fd);
		return r;
	}
	/* A leftover inventory would claim completeness for a dump that may
	 * yet fail: it goes first. */
	if ((unlinkat(fd, "inventory.img", 0) && errno != ENOENT) ||
	    (unlinkat(fd, "inventory.img.tmp", 0) && errno != ENOENT)) {
		int r = pr_perror("cannot remove old inventory in %s", dir);

		close(fd);
		return r;
	}
	return fd;
}

int dump_ctx_open(struct dump_ctx *c)
{
	int r;

	/* Every thread we borrow can find its way home if we die. */
	infect_set_healing(true);
	c->dirfd = open_images_dir(c->opts->dir);
	if (c->dirfd < 0)
		return c->dirfd;
	c->files.dirfd = c->dirfd;
	c->files.ghost_limit = c->opts->fd.ghost_limit;
	if (c->opts->prev_dir) {
		r = track_parent_open(c->dirfd, c->opts->prev_dir, c->opts->pid, &c->tp);
		if (r)
			return r;
		c->has_parent = true;
	}
	if (c->opts->track_mem || c->opts->predump)
		c->method = track_method();
	/* Not torn down by ^C with the tree frozen or a tracker half set. */
	dump_hold_signals(&c->oldmask);
	c->signals_held = true;
	/* Before anything is done to the tree: what only a live criu-lite
	 * could undo is undone by the guardian if it dies (SIGKILL, OOM). */
	return guardian_start();
}

static int *fds_new(int n)
{
	int *fd = malloc((n + 1) * sizeof(*fd));

	for (int i = 0; fd && i < n; i++)
		fd[i] = -1;
	return fd;
}

int dump_ctx_procs(struct dump_ctx *c)
{
	const struct dump_opts *o = c->opts;
	int n = c->tree.nr_procs;

	if (o->snapshot_wp && !o->kill && !(c->wp = calloc(n, sizeof(*c->wp))))
		return -ENOMEM;
	if (o->snapshot_fork && !o->kill && !(c->snap = calloc(n, sizeof(*c->snap))))
		return -ENOMEM;
	if ((o->track_mem || o->predump) && !(c->track_fd = fds_new(n)))
		return -ENOMEM;
	if (c->has_parent && !(c->kept_fd = fds_new(n)))
		return -ENOMEM;
	if (o->predump && (!(c->vl = calloc(n + 1, sizeof(*c->vl))) ||
			   !(c->mem_done = calloc(n + 1, sizeof(*c->mem_done)))))
		return -ENOMEM;
	return 0;
}

void dump_ctx_release(struct dump_ctx *c, enum release_mode mode)
{
	if (c->tree.released)
		return;
	/* the kinds of file first (TCP connections leave repair mode, or are
	 * silenced for the kill; the network lock goes or stays) */
	fd_dump_end(&c->opts->fd, mode == RELEASE_KILL ? FD_DUMP_KILL : FD_DUMP_RESUME);
	seize_release(&c->tree, mode);
	if (mode == RELEASE_KILL)
		fd_dump_end(&c->opts->fd, FD_DUMP_KILLED);
	/* Killed: its downtime ended when the images were complete. */
	if (mode != RELEASE_KILL)
		c->thaw_ns = clock_ns(CLOCK_MONOTONIC);
}

static void drop_snapshots(struct dump_ctx *c)
{
	for (int n = 0; c->snap && n < c->tree.nr_procs; n++)
		snap_drop(&c->snap[n]);
	free(c->snap);
	c->snap = NULL;
	for (int n = 0; c->wp && n < c->tree.nr_procs; n++)
		if (c->wp[n]) {
			wp_drop(c->wp[n]);
			free(c->wp[n]);
		}
	free(c->wp);
	c->wp = NULL;
	if (c->wp_root) {
		wp_drop(c->wp_root);
		free(c->wp_root);
		c->wp_root = NULL;
	}
}

static void drop_trackers(struct dump_ctx *c, int r)
{
	bool goes_on = c->opts->track_mem || c->opts->predump;

	for (int n = 0; n < c->tree.nr_procs; n++) {
		int kept = c->kept_fd ? c->kept_fd[n] : -1;

		if (kept >= 0 && !r && !goes_on)
			track_disarm_running(c->tree.procs[n].pid, kept);
		if (r && c->track_fd && c->track_fd[n] >= 0 && kept < 0)
			track_disarm_running(c->tree.procs[n].pid, c->track_fd[n]);
	}
}

void dump_ctx_done(struct dump_ctx *c, int r)
{
	if (r) {
		dump_ctx_release(c, RELEASE_RUN);
		if (c->dirfd >= 0)
			unlinkat(c->dirfd, "inventory.img", 0);
		if (c->signals_held)
			dump_drain_signals();
	} else if (c->opts->kill) {
		dump_ctx_release(c, RELEASE_KILL);
	}
	drop_snapshots(c);
	drop_trackers(c, r);
	for (int n = 0; c->vl && n < c->tree.nr_procs; n++)
		vma_list_free(&c->vl[n]);
	free(c->vl);
	free(c->mem_done);
	free(c->track_fd);
	free(c->kept_fd);
	c->vl = NULL;
	c->mem_done = NULL;
	c->track_fd = c->kept_fd = NULL;
	track_parent_close(&c->tp);
	vma_list_free(&c->prefetch);
	dump_tree_free(&c->tree);
	fd_dump_tree_free(&c->files);
	fcopy_set_free(&c->fcopy);
	if (c->signals_held) {
		dump_drain_signals();
		sigprocmask(SIG_SETMASK, &c->oldmask, NULL);
		c->signals_held = false;
	}
	if (c->dirfd >= 0)
		close(c->dirfd);
	c->dirfd = -1;
	/* a tracker left armed is the images' (pre-dump, --track-mem) */
	guardian_stop(!r);
}
