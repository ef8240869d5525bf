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
#include <time.h>

#include "common/fault.h"
#include "criu-lite/dump/dump.h"
#include "criu-lite/dump/dump_ctx.h"
#include "criu-lite/dump/dump_images.h"
#include "criu-lite/freeze/signals.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/memory/page_src.h"
#include "criu-lite/incremental/track_mem.h"
#include "images/clock.h"
#include "images/log.h"

/* Frozen: what changed since the parent (consistent only now), then the
 * parent's tracker down and ours up. */
static int frozen_one(struct dump_ctx *c, int n)
{
	pid_t pid = c->tree.procs[n].pid;
	int r = mem_read_vmas_frozen(pid, n == 0 ? &c->prefetch : NULL, &c->vl[n]);

	if (r < 0)
		return r;
	if (c->has_parent) {
		struct live_src live;
		struct parent_src parent;

		live_src_init(&live, pid, false);
		r = track_prepare(&c->tp, pid, &live.s, &parent, &c->kept_fd[n]);
		if (r > 0) {
			r = mem_dump_src(c->dirfd, pid, &c->vl[n], &parent.s, &c->stats);
			c->mem_done[n] = !r;
		}
		parent_src_close(&parent);
		live_src_fini(&live);
		r = r < 0 ? r : 0;
	}
	/* The parent's tracker goes on, protected again; else a new one. */
	if (!r && c->kept_fd && c->kept_fd[n] >= 0) {
		c->track_fd[n] = c->kept_fd[n];
		return track_protect(pid, &c->vl[n]);
	}
	return r ? r : track_arm(pid, c->method, &c->vl[n], &c->track_fd[n]);
}

static int write_stats(struct dump_ctx *c)
{
	const struct dump_times t = { c->tree.freeze_start_ns, c->frozen_ns, c->thaw_ns };

	return dump_write_stats(c->dirfd, &c->tree, &c->stats, &t, "none");
}

static int write_inventory(struct dump_ctx *c)
{
	return dump_write_inventory(c->dirfd, c->opts, INVENTORY_KIND_PREDUMP, c->realtime_ns,
				    kerndat_track_mem_name(c->method), 0);
}

static int predump_tree(struct dump_ctx *c)
{
	int r;

	/* smaps walks every page table: read it while the tree still runs. */
	if (mem_read_vmas(c->opts->pid, &c->prefetch) < 0)
		vma_list_free(&c->prefetch);
	r = seize_tree(c->opts->pid, &c->opts->seize, &c->tree);

	c->frozen_ns = clock_ns(CLOCK_MONOTONIC);
	if (r)
		return r;
	r = dump_ctx_procs(c);
	for (int n = 0; !r && n < c->tree.nr_procs; n++)
		r = frozen_one(c, n);
	dump_ctx_release(c, RELEASE_RUN);
	/* Running again: the first pre-dump's pages, best effort, yielding
	 * the CPU to the tree. */
	mem_yield(YIELD_NICE);
	for (int n = 0; !r && n < c->tree.nr_procs; n++) {
		struct live_src live;
		pid_t pid = c->tree.procs[n].pid;

		if (c->mem_done[n])
			continue;
		/* A range unmapped meanwhile is left out. */
		live_src_init(&live, pid, true);
		r = mem_dump_src(c->dirfd, pid, &c->vl[n], &live.s, &c->stats);
		live_src_fini(&live);
	}
	mem_yield(YIELD_OFF);
	if (!r)
		r = dump_write_pstree(c->dirfd, &c->tree, c->track_fd, NULL);
	if (!r)
		r = write_stats(c);
	if (!r)
		r = fault_step("pre-dump: images written, inventory next");
	if (!r)
		r = write_inventory(c);
	return r;
}

int predump_run(const struct dump_opts *opts)
{
	struct dump_ctx c = DUMP_CTX_NULL(opts);
	int r;

	if (opts->kill || opts->leave_stopped || opts->snapshot_fork || opts->snapshot_wp) {
		pr_err("pre-dump leaves the tree running and reads no copy: "
		       "--kill, --leave-stopped and --snapshot are for dump");
		return -EINVAL;
	}
	r = dump_ctx_open(&c);
	c.realtime_ns = clock_ns(CLOCK_REALTIME);
	if (!r)
		r = predump_tree(&c);
	dump_ctx_release(&c, RELEASE_RUN);
	if (!r)
		r = dump_check_interrupted("pre-dump");
	if (!r)
		pr_info("pre-dump of %d complete in %s (downtime %.3f ms, tracking by %s)", opts->pid,
			opts->dir, (c.thaw_ns - c.tree.freeze_start_ns) / 1e6,
			kerndat_track_mem_name(c.method));
	dump_ctx_done(&c, r);
	return r;
}
