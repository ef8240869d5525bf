/* `criu-lite pre-dump -t PID -D DIR [--prev-images-dir PREV]`: memory only,
 * and tracking of what the tree writes from then on, so that a later
 * `dump --prev-images-dir DIR` stores only that.
 *
 * The tree is frozen only to read its VMAs and arm the tracker (and, with
 * PREV, to store what changed since PREV: consistent pages need a frozen
 * tree). A first pre-dump then reads memory while the tree runs again: a
 * page torn by a write meanwhile does not matter, since that write marks it
 * for the next dump, which stores it again. Images: mm, pagemap and pages
 * per process, pstree (with each tracker's fd), stats, and the inventory
 * (kind PREDUMP, track_mem, parent_dir) written last. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "criu-lite/dump/dump.h"
#include "criu-lite/dump/dump_images.h"
#include "criu-lite/freeze/signals.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/incremental/track_mem.h"
#include "images/clock.h"
#include "images/log.h"

struct pd_proc {
	struct vma_list vl;
	int track_fd;
	bool armed, done;	/* done: memory dumped while frozen */
};

struct pd_ctx {
	const struct dump_opts *opts;
	int dirfd;
	struct dump_tree tree;
	struct pd_proc *p;
	struct track_parent tp;
	bool has_parent;
	enum kd_track_mem method;
	struct vma_list prefetch;	/* the root's VMAs, read before the freeze */
	struct dump_stats stats;
	uint64_t realtime_ns, frozen_ns, thaw_ns;
};

static int open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return pr_perror("cannot open images directory %s", dir);
	if (faccessat(fd, ".", W_OK, AT_EACCESS) ||
	    (unlinkat(fd, "inventory.img", 0) && errno != ENOENT)) {
		int r = pr_perror("images directory %s is not writable", dir);

		close(fd);
		return r;
	}
	return fd;
}

/* Frozen: what changed since the parent (consistent only now), then the
 * parent's tracker down and ours up. */
static int frozen_one(struct pd_ctx *c, int n)
{
	struct pd_proc *pp = &c->p[n];
	pid_t pid = c->tree.procs[n].pid;
	int r = mem_read_vmas_frozen(pid, n == 0 ? &c->prefetch : NULL, &pp->vl);

	if (r < 0)
		return r;
	if (c->has_parent) {
		struct mem_extra x = { .frozen_fd = -1 };
		struct pmr pm = { .pages_fd = -1 };

		r = track_prepare(&c->tp, pid, &pm, &x, &pp->track_fd);
		if (!r && x.parent) {
			r = mem_dump_ex(c->dirfd, pid, pid, &pp->vl, &x, &c->stats);
			pp->done = !r;
		}
		pmr_close(&pm);
	}
	/* The parent's tracker goes on, protected again; else a new one. */
	if (!r && pp->track_fd >= 0)
		return track_protect(pid, &pp->vl);
	if (!r)
		r = track_arm(pid, c->method, &pp->vl, &pp->track_fd);
	pp->armed = !r;
	return r;
}

static int write_pstree(struct pd_ctx *c)
{
	int *fds = malloc((c->tree.nr_procs + 1) * sizeof(*fds)), r;

	if (!fds)
		return -ENOMEM;
	for (int n = 0; n < c->tree.nr_procs; n++)
		fds[n] = c->p[n].track_fd;
	r = dump_write_pstree(c->dirfd, &c->tree, fds, NULL);
	free(fds);
	return r;
}

static int write_stats(struct pd_ctx *c)
{
	const struct dump_times t = { c->tree.freeze_start_ns, c->frozen_ns, c->thaw_ns };

	return dump_write_stats(c->dirfd, &c->tree, &c->stats, &t, "none");
}

static int write_inventory(struct pd_ctx *c)
{
	return dump_write_inventory(c->dirfd, c->opts, INVENTORY_KIND_PREDUMP, c->realtime_ns,
				    kerndat_track_mem_name(c->method), 0);
}

static int predump_tree(struct pd_ctx *c)
{
	int r;

	/* smaps walks every page table: read it while the tree still runs. */
	if (mem_read_vmas(c->opts->pid, &c->prefetch) < 0)
		vma_list_free(&c->prefetch);
	r = seize_tree(c->opts->pid, &c->opts->seize, &c->tree);

	c->frozen_ns = clock_ns(CLOCK_MONOTONIC);
	if (r)
		return r;
	c->p = calloc(c->tree.nr_procs, sizeof(*c->p));
	if (!c->p)
		r = -ENOMEM;
	for (int n = 0; c->p && n < c->tree.nr_procs; n++)
		c->p[n].track_fd = -1;
	for (int n = 0; !r && n < c->tree.nr_procs; n++)
		r = frozen_one(c, n);
	seize_release(&c->tree, RELEASE_RUN);
	c->thaw_ns = clock_ns(CLOCK_MONOTONIC);
	/* Running again: the first pre-dump's pages, best effort, yielding
	 * the CPU to the tree. */
	mem_yield(YIELD_NICE);
	for (int n = 0; !r && n < c->tree.nr_procs; n++) {
		struct mem_extra x = { .frozen_fd = -1, .best_effort = true };
		pid_t pid = c->tree.procs[n].pid;

		if (!c->p[n].done)
			r = mem_dump_ex(c->dirfd, pid, pid, &c->p[n].vl, &x, &c->stats);
	}
	mem_yield(YIELD_OFF);
	if (!r)
		r = write_pstree(c);
	if (!r)
		r = write_stats(c);
	if (!r)
		r = write_inventory(c);
	return r;
}

int predump_run(const struct dump_opts *opts)
{
	struct pd_ctx c = { .opts = opts, .tree = { .released = true } };
	sigset_t old;
	int r;

	if (opts->kill || opts->leave_stopped || opts->snapshot_fork || opts->snapshot_wp) {
		pr_err("pre-dump leaves the tree running and reads no copy: "
		       "--kill, --leave-stopped and --snapshot are for dump");
		return -EINVAL;
	}
	c.tp.dirfd = -1;
	c.dirfd = open_dir(opts->dir);
	if (c.dirfd < 0)
		return c.dirfd;
	c.method = track_method();
	r = 0;
	if (opts->prev_dir) {
		r = track_parent_open(c.dirfd, opts->prev_dir, opts->pid, &c.tp);
		c.has_parent = !r;
	}
	/* Not torn down by ^C with the tree frozen or a tracker half set. */
	dump_hold_signals(&old);
	c.realtime_ns = clock_ns(CLOCK_REALTIME);
	if (!r)
		r = predump_tree(&c);
	seize_release(&c.tree, RELEASE_RUN);
	if (!r)
		r = dump_check_interrupted("pre-dump");
	if (r) {
		unlinkat(c.dirfd, "inventory.img", 0);
		for (int n = 0; c.p && n < c.tree.nr_procs; n++)
			if (c.p[n].armed)
				track_disarm_running(c.tree.procs[n].pid, c.p[n].track_fd);
	} else {
		pr_info("pre-dump of %d complete in %s (downtime %.3f ms, tracking by %s)", opts->pid,
			opts->dir, (c.thaw_ns - c.tree.freeze_start_ns) / 1e6,
			kerndat_track_mem_name(c.method));
	}
	for (int n = 0; c.p && n < c.tree.nr_procs; n++)
		vma_list_free(&c.p[n].vl);
	free(c.p);
	vma_list_free(&c.prefetch);
	dump_tree_free(&c.tree);
	track_parent_close(&c.tp);
	close(c.dirfd);
	dump_drain_signals();
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}
