/* `criu-lite dump`: freeze the tree, capture each process, thaw, and only
 * then declare the directory complete by writing inventory.img last.
 * Reads like a script; each step lives in the module that knows its object. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fd/fd.h"
#include "common/kerndat.h"
#include "criu-lite/capture/capture.h"
#include "criu-lite/dump/dump.h"
#include "criu-lite/dump/dump_images.h"
#include "criu-lite/files/files.h"
#include "criu-lite/freeze/signals.h"
#include "criu-lite/snapshot/snapshot_fork.h"
#include "criu-lite/snapshot/snapshot_wp.h"
#include "criu-lite/incremental/track_mem.h"
#include "images/clock.h"
#include "images/log.h"

struct dump_ctx {
	const struct dump_opts *opts;
	int dirfd;
	struct dump_tree tree;
	struct dump_stats stats;
	uint64_t freeze_start_ns, frozen_ns, thaw_ns, realtime_ns;
	uint32_t xstate_len;		/* NT_X86_XSTATE bytes the kernel gave */
	sigset_t oldmask;
	struct snap_proc *snap;		/* --snapshot fork: one per process, or NULL */
	struct wp_proc **wp;		/* --snapshot wp: one per process, or NULL */
	struct wp_proc *wp_root;	/* armed before the freeze */
	struct track_parent tp;		/* --prev-images-dir */
	bool has_parent;
	int *track_fd;			/* --track-mem: per process, the tracker's fd or -1 */
	int *kept_fd;			/* --prev-images-dir: the parent's tracker in place, or -1 */
	struct vma_list prefetch;	/* the root's VMAs before the freeze (mem_read_vmas) */
};

static int check_interrupted(void)
{
	return dump_check_interrupted("dump");
}

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

static int minimal_proc_entry(const struct dump_proc *p, ProcEntry **out)
{
	ProcEntry *pe = malloc(sizeof(*pe));

	if (!pe)
		return -ENOMEM;
	proc_entry__init(pe);
	pe->pid = p->pid;
	pe->ppid = p->ppid;
	pe->pgid = p->pgid;
	pe->sid = p->sid;
	pe->comm = strdup("");
	if (!pe->comm) {
		free(pe);
		return -ENOMEM;
	}
	*out = pe;
	return 0;
}

static int set_state(char **field, char state)
{
	free(*field);
	*field = malloc(2);
	if (!*field)
		return -ENOMEM;
	(*field)[0] = state;
	(*field)[1] = '\0';
	return 0;
}

/* Registers first (plain ptrace reads), then what only the threads can
 * say, asked of all of them at once, then the image. */
static int dump_threads(struct dump_ctx *c, const struct dump_proc *p)
{
	ThreadEntry **tes = calloc(p->nr_threads, sizeof(*tes));
	struct img *img;
	int r = tes ? 0 : -ENOMEM;

	for (int i = 0; i < p->nr_threads && !r; i++) {
		r = regs_dump_thread(p->pid, p->tids[i], &tes[i]);
		if (!r)
			r = set_state(&tes[i]->state, p->thread_state[i]);
		if (!r && tes[i]->has_xstate && !c->xstate_len)
			c->xstate_len = tes[i]->xstate.len;
	}
	if (!r)
		r = sigstate_fill_threads(p->pid, p->nr_threads, p->tids, tes);
	img = r ? NULL : img_create(c->dirfd, IMG_THREADS, p->pid);
	if (!r && !img)
		r = -errno;
	for (int i = 0; i < p->nr_threads && !r; i++)
		r = img_write(img, tes[i]);
	for (int i = 0; tes && i < p->nr_threads; i++)
		img_free(tes[i]);
	free(tes);
	if (r) {
		if (img)
			img_abort(img, c->dirfd);
		return r;
	}
	return img_close(img);
}

static int dump_proc_entry(struct dump_ctx *c, const struct dump_proc *p)
{
	ProcEntry *pe = NULL;
	struct img *img;
	int r;

	r = procinfo_collect(p, &pe);
	if (!r && !pe)
		r = minimal_proc_entry(p, &pe);
	if (!r)
		r = set_state(&pe->state, p->state);
	if (!r)
		r = sigstate_fill_proc(p->pid, pe);
	if (!r)
		r = regs_shared_pending(p->pid, pe);
	if (!r) {
		img = img_create(c->dirfd, IMG_PROC, p->pid);
		if (!img)
			r = -errno;
		else if ((r = img_write(img, pe)))
			img_abort(img, c->dirfd);
		else
			r = img_close(img);
	}
	if (pe)
		img_free(pe);
	return r;
}

/* --snapshot fork: what must be taken while frozen (the fds, the fork);
 * memory comes from the copy once the tree runs again. */
static int snapshot_one(struct dump_ctx *c, const struct dump_proc *p)
{
	int n = (int)(p - c->tree.procs);
	int r = files_dump(c->dirfd, p->pid);

	return r ? r : snap_take(&c->snap[n], p, n == 0 ? &c->prefetch : NULL);
}

/* --snapshot wp: the fds and the snapshot's frozen part; memory is read
 * live once the tree runs again. */
static int wp_one(struct dump_ctx *c, const struct dump_proc *p)
{
	int n = (int)(p - c->tree.procs);
	int r = files_dump(c->dirfd, p->pid);

	if (!r && n == 0 && c->wp_root && c->wp_root->s.pid == p->pid)
		c->wp[0] = c->wp_root, c->wp_root = NULL;
	else if (!r && !(c->wp[n] = calloc(1, sizeof(*c->wp[n]))))
		r = -ENOMEM;
	return r ? r : wp_take(c->wp[n], p, n == 0 ? &c->prefetch : NULL);
}

static int dump_one(struct dump_ctx *c, const struct dump_proc *p)
{
	int n = (int)(p - c->tree.procs);
	int r;

	pr_info("dumping process %d (%d threads)", p->pid, p->nr_threads);
	r = sigstate_begin(p->pid);
	if (!r)
		r = dump_threads(c, p);
	if (!r)
		r = dump_proc_entry(c, p);
	/* The scratch page must be gone before memory is read. */
	if (sigstate_end() && !r)
		r = -EIO;
	if (!r)
		r = check_interrupted();
	if (!r && c->snap)
		return snapshot_one(c, p);
	if (!r && c->wp)
		return wp_one(c, p);
	if (!r && c->has_parent)
		r = track_mem_dump(&c->tp, c->dirfd, p->pid, c->opts->track_mem,
				   n == 0 ? &c->prefetch : NULL, &c->stats, &c->kept_fd[n]);
	else if (!r)
		r = mem_dump(c->dirfd, p->pid, p->pid, &c->stats);
	if (!r)
		r = files_dump(c->dirfd, p->pid);
	/* The tracker's fd is criu-lite's, not the process's. */
	if (!r && c->kept_fd && c->kept_fd[n] >= 0)
		r = track_forget_fd(c->dirfd, p->pid, c->kept_fd[n]);
	if (!r && c->track_fd && c->kept_fd && c->kept_fd[n] >= 0)
		c->track_fd[n] = c->kept_fd[n];		/* protected again: it goes on */
	else if (!r && c->track_fd)
		r = track_arm(p->pid, track_method(), NULL, &c->track_fd[n]);
	if (!r)
		r = check_interrupted();
	return r;
}

static int write_stats(struct dump_ctx *c)
{
	const struct dump_times t = { c->freeze_start_ns, c->frozen_ns, c->thaw_ns };

	return dump_write_stats(c->dirfd, &c->tree, &c->stats, &t,
				c->opts->snapshot_fork ? "fork" : c->opts->snapshot_wp ? "wp" : "none");
}

static int write_inventory(struct dump_ctx *c)
{
	return dump_write_inventory(c->dirfd, c->opts, INVENTORY_KIND_DUMP, c->realtime_ns,
				    c->opts->track_mem ? kerndat_track_mem_name(track_method()) : NULL,
				    c->xstate_len);
}

static void release(struct dump_ctx *c, enum release_mode mode)
{
	if (c->tree.released)
		return;
	/* the kinds of file first (TCP connections leave repair mode, or are
	 * silenced for the kill; the network lock goes or stays) */
	fd_dump_end(&c->opts->fd, mode == RELEASE_KILL ? FD_DUMP_KILL : FD_DUMP_RESUME);
	seize_release(&c->tree, mode);
	if (mode == RELEASE_KILL)
		fd_dump_end(&c->opts->fd, FD_DUMP_KILLED);
	c->thaw_ns = clock_ns(CLOCK_MONOTONIC);
}

int dump_run(const struct dump_opts *opts)
{
	struct dump_ctx c = { .opts = opts, .dirfd = -1, .tree = { .released = true } };
	enum release_mode mode = opts->leave_stopped ? RELEASE_STOPPED : RELEASE_RUN;
	int r;

	c.tp.dirfd = -1;
	if ((opts->snapshot_fork || opts->snapshot_wp) && (opts->prev_dir || opts->track_mem)) {
		pr_err("--snapshot does not go with --track-mem or --prev-images-dir yet");
		return -ENOTSUP;
	}
	c.dirfd = open_images_dir(opts->dir);
	if (c.dirfd < 0)
		return c.dirfd;
	if (opts->prev_dir) {
		r = track_parent_open(c.dirfd, opts->prev_dir, opts->pid, &c.tp);
		if (r) {
			track_parent_close(&c.tp);
			close(c.dirfd);
			return r;
		}
		c.has_parent = true;
	}
	dump_hold_signals(&c.oldmask);
	if (opts->snapshot_wp && !opts->kill) {
		c.wp_root = calloc(1, sizeof(*c.wp_root));
		r = c.wp_root ? wp_arm_running(c.wp_root, opts->pid) : -ENOMEM;
		if (r) {
			free(c.wp_root);
			sigprocmask(SIG_SETMASK, &c.oldmask, NULL);
			track_parent_close(&c.tp);
			close(c.dirfd);
			return r;
		}
	}
	/* Not fatal: without it, smaps is read while frozen. (A plain dump
	 * reads all memory frozen anyway: the walk is a small part of it.) */
	if ((opts->snapshot_fork || opts->snapshot_wp || c.has_parent) && !opts->kill &&
	    mem_read_vmas(opts->pid, &c.prefetch) < 0)
		vma_list_free(&c.prefetch);
	c.realtime_ns = clock_ns(CLOCK_REALTIME);
	c.freeze_start_ns = clock_ns(CLOCK_MONOTONIC);
	r = seize_tree(opts->pid, &opts->seize, &c.tree);
	c.frozen_ns = clock_ns(CLOCK_MONOTONIC);
	/* seize_tree's first look at /proc leaves the tree running. */
	if (!r && c.tree.freeze_start_ns)
		c.freeze_start_ns = c.tree.freeze_start_ns;
	if (!r && (opts->snapshot_fork || opts->snapshot_wp) && opts->kill)
		pr_info("--kill keeps the tree frozen to the end: --snapshot not needed");
	else if (!r && opts->snapshot_wp &&
		 !(c.wp = calloc(c.tree.nr_procs, sizeof(*c.wp))))
		r = -ENOMEM;
	else if (!r && opts->snapshot_fork &&
		 !(c.snap = calloc(c.tree.nr_procs, sizeof(*c.snap))))
		r = -ENOMEM;
	if (!r && opts->track_mem && !(c.track_fd = malloc(c.tree.nr_procs * sizeof(int))))
		r = -ENOMEM;
	if (!r && c.has_parent && !(c.kept_fd = malloc(c.tree.nr_procs * sizeof(int))))
		r = -ENOMEM;
	for (int n = 0; !r && n < c.tree.nr_procs; n++) {
		if (c.track_fd)
			c.track_fd[n] = -1;
		if (c.kept_fd)
			c.kept_fd[n] = -1;
	}
	for (int n = 0; !r && n < c.tree.nr_procs; n++)
		r = dump_one(&c, &c.tree.procs[n]);
	/* Before the tree is killed or left stopped: a restore that would be
	 * refused makes this an outage; the tree runs on instead. */
	if (!r && (opts->kill || opts->leave_stopped))
		r = dump_check_restorable(c.dirfd, &c.tree, &opts->fd,
					  opts->kill ? "dump --kill" : "dump --leave-stopped");
	/* With --kill the tree stays frozen until the images are complete:
	 * killing it before would lose it if a last write failed. */
	if (!r && !opts->kill)
		release(&c, mode);
	if (!r && !opts->kill && !opts->leave_stopped)
		r = dump_check_restorable(c.dirfd, &c.tree, &opts->fd, NULL);
	if (c.snap || c.wp)
		mem_yield(c.wp ? YIELD_IDLE : YIELD_NICE);
	for (int n = 0; !r && c.snap && n < c.tree.nr_procs; n++)
		r = snap_dump_mem(&c.snap[n], c.dirfd, &c.stats);
	for (int n = 0; !r && c.wp && n < c.tree.nr_procs; n++)
		r = wp_dump_mem(c.wp[n], c.dirfd, &c.stats);
	mem_yield(YIELD_OFF);
	if (!r)
		r = dump_write_pstree(c.dirfd, &c.tree, c.track_fd);
	if (!r && opts->kill)
		c.thaw_ns = clock_ns(CLOCK_MONOTONIC);
	if (!r)
		r = write_stats(&c);
	if (!r)
		r = check_interrupted();
	if (!r)
		r = write_inventory(&c);
	/* The inventory's syncfs may take a while: a signal that came during
	 * it still abandons the dump. One that comes after this point finds
	 * the dump complete and reported; it is dropped, not left to kill us
	 * once the mask is lifted. */
	if (!r)
		r = check_interrupted();
	if (r) {
		release(&c, RELEASE_RUN);
		unlinkat(c.dirfd, "inventory.img", 0);
		dump_drain_signals();
	} else if (opts->kill) {
		release(&c, RELEASE_KILL);
	}
	/* After the release: a copy's zombie is reaped inside the original. */
	for (int n = 0; c.snap && n < c.tree.nr_procs; n++)
		snap_drop(&c.snap[n]);
	free(c.snap);
	for (int n = 0; c.wp && n < c.tree.nr_procs; n++)
		if (c.wp[n]) {
			wp_drop(c.wp[n]);
			free(c.wp[n]);
		}
	free(c.wp);
	if (c.wp_root) {
		wp_drop(c.wp_root);
		free(c.wp_root);
	}
	/* Trackers that are not to go on are taken down, now that the tree
	 * runs (a stop of the leader only): the parent's unless --track-mem,
	 * ours if the dump failed (the parent's then stays, for a retry). */
	for (int n = 0; n < c.tree.nr_procs; n++) {
		bool kept = c.kept_fd && c.kept_fd[n] >= 0;

		if (kept && !r && !opts->track_mem)
			track_disarm_running(c.tree.procs[n].pid, c.kept_fd[n]);
		if (r && c.track_fd && c.track_fd[n] >= 0 && !kept)
			track_disarm_running(c.tree.procs[n].pid, c.track_fd[n]);
	}
	free(c.track_fd);
	free(c.kept_fd);
	track_parent_close(&c.tp);
	vma_list_free(&c.prefetch);
	dump_tree_free(&c.tree);
	if (!r)
		dump_drain_signals();
	sigprocmask(SIG_SETMASK, &c.oldmask, NULL);
	close(c.dirfd);
	if (!r)
		pr_info("dump of %d complete in %s (downtime %.3f ms)", opts->pid, opts->dir,
			(c.thaw_ns - c.freeze_start_ns) / 1e6);
	return r;
}
