/* `criu-lite dump`: freeze the tree, capture each process, thaw, and only
 * then declare the directory complete by writing inventory.img last.
 * Reads like a script; each step lives in the module that knows its object. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fault.h"
#include "common/fd/fd.h"
#include "common/kerndat.h"
#include "common/procfs.h"
#include "criu-lite/capture/capture.h"
#include "criu-lite/dump/dump.h"
#include "criu-lite/dump/dump_ctx.h"
#include "criu-lite/dump/dump_images.h"
#include "criu-lite/files/fcopy.h"
#include "criu-lite/files/files.h"
#include "criu-lite/files/files_ahead.h"
#include "criu-lite/freeze/signals.h"
#include "criu-lite/snapshot/snapshot_fork.h"
#include "criu-lite/snapshot/snapshot_wp.h"
#include "criu-lite/incremental/track_mem.h"
#include "images/clock.h"
#include "images/heap.h"
#include "images/log.h"

static int check_interrupted(void)
{
	return dump_check_interrupted("dump");
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
		r = procstate_fill(&c->tree, p, pe);
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

/* The fds of p, which may refer to what other processes of the tree hold
 * (epoll targets, namespaces): the tree's pids are given once. */
static int dump_files(struct dump_ctx *c, const struct dump_proc *p)
{
	if (!c->files.pids) {
		c->files.pids = malloc(c->tree.nr_procs * sizeof(*c->files.pids));
		if (!c->files.pids)
			return -ENOMEM;
		for (int i = 0; i < c->tree.nr_procs; i++)
			c->files.pids[i] = c->tree.procs[i].pid;
		c->files.nr_pids = (size_t)c->tree.nr_procs;
	}
	return files_dump_ahead(c->dirfd, p->pid, &c->files, &c->fcopy, c->ahead);
}

/* --snapshot fork: what must be taken while frozen (the fds, the fork);
 * memory comes from the copy once the tree runs again. */
static int snapshot_one(struct dump_ctx *c, const struct dump_proc *p)
{
	int n = (int)(p - c->tree.procs);
	int r = dump_files(c, p);

	return r ? r : snap_take(&c->snap[n], p, n == 0 ? &c->prefetch : NULL);
}

/* --snapshot wp: the fds and the snapshot's frozen part; memory is read
 * live once the tree runs again. */
static int wp_one(struct dump_ctx *c, const struct dump_proc *p)
{
	int n = (int)(p - c->tree.procs);
	int r = dump_files(c, p);

	if (!r && n == 0 && c->wp_root && c->wp_root->s.pid == p->pid)
		c->wp[0] = c->wp_root, c->wp_root = NULL;
	else if (!r && !(c->wp[n] = calloc(1, sizeof(*c->wp[n]))))
		r = -ENOMEM;
	return r ? r : wp_take(c->wp[n], p, n == 0 ? &c->prefetch : NULL);
}

/* The memory of a plain dump, read without injecting anything: the
 * connections' reads may start beside it (files_ahead.c). */
static int mem_go_dump(struct dump_ctx *c, const struct dump_proc *p)
{
	files_ahead_go(c->ahead);
	return mem_dump(c->dirfd, p->pid, &c->stats);
}

static int dump_proc(struct dump_ctx *c, const struct dump_proc *p)
{
	int n = (int)(p - c->tree.procs);
	int r;

	pr_info("dumping process %d (%d threads)", p->pid, p->nr_threads);
	r = fault_step("dump: process begins");
	if (!r)
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
		r = mem_go_dump(c, p);
	if (!r)
		r = fault_step("dump: memory done");
	if (!r)
		r = dump_files(c, p);
	/* The tracker's fd is criu-lite's, not the process's. */
	if (!r && c->kept_fd && c->kept_fd[n] >= 0)
		r = track_forget_fd(c->dirfd, p->pid, c->kept_fd[n]);
	if (!r && c->track_fd && c->kept_fd && c->kept_fd[n] >= 0)
		c->track_fd[n] = c->kept_fd[n];		/* protected again: it goes on */
	else if (!r && c->track_fd)
		r = track_arm(p->pid, c->method, NULL, &c->track_fd[n]);
	if (!r)
		r = check_interrupted();
	return r;
}

/* The process's fds listed first, and a server's socket tables read on a
 * second thread while its threads and memory are dumped (files_ahead.c). */
static int dump_one(struct dump_ctx *c, const struct dump_proc *p)
{
	int r;

	c->ahead = files_ahead_start(p->pid);
	r = dump_proc(c, p);
	files_ahead_free(c->ahead);
	c->ahead = NULL;
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
				    c->opts->track_mem ? kerndat_track_mem_name(c->method) : NULL,
				    c->xstate_len);
}

/* Before the freeze: --snapshot wp arms the root while it runs, and the
 * root's VMAs are read ahead (not fatal: without them, smaps is read while
 * frozen; a plain dump reads all memory frozen anyway, the walk is a small
 * part of it). */
static int before_freeze(struct dump_ctx *c)
{
	const struct dump_opts *opts = c->opts;
	int r;

	if (opts->snapshot_wp && !opts->kill) {
		c->wp_root = calloc(1, sizeof(*c->wp_root));
		r = c->wp_root ? wp_arm_running(c->wp_root, opts->pid) : -ENOMEM;
		if (r)
			return r;
	}
	if ((opts->snapshot_fork || opts->snapshot_wp || c->has_parent) && !opts->kill &&
	    mem_read_vmas(opts->pid, &c->prefetch) < 0)
		vma_list_free(&c->prefetch);
	return 0;
}

/* Frozen, every process captured: the files the tree could write, copied
 * where their bytes agree with the memory dumped (criu-lite/files/fcopy.c). */
static int copy_files(struct dump_ctx *c)
{
	int r = 0;

	c->fcopy.limit = c->opts->file_copy_limit;
	for (int n = 0; !r && n < c->tree.nr_procs; n++)
		r = fcopy_note_maps(&c->fcopy, c->tree.procs[n].pid);
	return r ? r : fcopy_take(&c->fcopy, c->dirfd);
}

/* Frozen: every process captured (its memory too, unless a snapshot
 * reads it later); released at once unless --kill. */
static int frozen(struct dump_ctx *c)
{
	const struct dump_opts *opts = c->opts;
	int r;

	c->realtime_ns = clock_ns(CLOCK_REALTIME);
	c->freeze_start_ns = clock_ns(CLOCK_MONOTONIC);
	r = seize_tree(opts->pid, &opts->seize, &c->tree);
	c->frozen_ns = clock_ns(CLOCK_MONOTONIC);
	/* seize_tree's first look at /proc leaves the tree running. */
	if (!r && c->tree.freeze_start_ns)
		c->freeze_start_ns = c->tree.freeze_start_ns;
	if (!r && (opts->snapshot_fork || opts->snapshot_wp) && opts->kill)
		pr_info("--kill keeps the tree frozen to the end: --snapshot not needed");
	if (!r)
		r = dump_ctx_procs(c);
	for (int n = 0; !r && n < c->tree.nr_procs; n++)
		r = dump_one(c, &c->tree.procs[n]);
	if (!r)
		r = copy_files(c);
	/* Before the tree is killed or left stopped: a restore that would be
	 * refused makes this an outage; the tree runs on instead. What
	 * prepares the kill starts meanwhile (undone if refused). */
	if (!r && opts->kill)
		fd_dump_end(&opts->fd, FD_DUMP_KILL_AHEAD);
	if (!r && (opts->kill || opts->leave_stopped))
		r = dump_check_restorable(c->dirfd, &c->tree, &opts->fd, &c->files,
					  opts->kill ? "dump --kill" : "dump --leave-stopped");
	if (!r && (opts->kill || opts->leave_stopped))
		r = dump_check_proc_restorable(c->dirfd, &c->tree, &opts->ploss,
					       opts->kill ? "dump --kill" : "dump --leave-stopped");
	/* With --kill the tree stays frozen until the images are complete:
	 * killing it before would lose it if a last write failed. */
	if (!r && !opts->kill)
		dump_ctx_release(c, opts->leave_stopped ? RELEASE_STOPPED : RELEASE_RUN);
	if (!r && !opts->kill && !opts->leave_stopped)
		r = dump_check_restorable(c->dirfd, &c->tree, &opts->fd, &c->files, NULL);
	if (!r && !opts->kill && !opts->leave_stopped)
		r = dump_check_proc_restorable(c->dirfd, &c->tree, &opts->ploss, NULL);
	return r;
}

/* Running again (unless --kill): the snapshots' memory, then the images
 * of the whole, the inventory last. */
static int after_thaw(struct dump_ctx *c)
{
	int r = 0;

	if (c->snap || c->wp)
		mem_yield(c->wp ? YIELD_IDLE : YIELD_NICE);
	for (int n = 0; !r && c->snap && n < c->tree.nr_procs; n++)
		r = snap_dump_mem(&c->snap[n], c->dirfd, &c->stats);
	/* The copies go before the images are declared complete: one left as
	 * a zombie of the tree fails the dump. */
	for (int n = 0; !r && c->snap && n < c->tree.nr_procs; n++)
		r = snap_drop(&c->snap[n]);
	for (int n = 0; !r && c->wp && n < c->tree.nr_procs; n++)
		r = wp_dump_mem(c->wp[n], c->dirfd, &c->stats);
	mem_yield(YIELD_OFF);
	if (!r)
		r = fcopy_write(&c->fcopy, c->dirfd);
	if (!r)
		r = dump_write_pstree(c->dirfd, &c->tree, c->track_fd, &c->files);
	if (!r && c->opts->kill)
		c->thaw_ns = clock_ns(CLOCK_MONOTONIC);
	if (!r)
		r = write_stats(c);
	if (!r)
		r = check_interrupted();
	if (!r)
		r = fault_step("dump: images written, inventory next");
	if (!r)
		r = write_inventory(c);
	/* The inventory's syncfs may take a while: a signal that came during
	 * it still abandons the dump. One that comes after this point finds
	 * the dump complete and reported; it is dropped, not left to kill us
	 * once the mask is lifted. */
	if (!r)
		r = check_interrupted();
	return r;
}

/* Measured on a server with 1,000 connections: some 4.5 KiB of heap a fd
 * (the records of its socket, its entry, the copies' bookkeeping). Below a
 * few hundred fds the faults cost less than the populating. */
#define WARM_PER_FD (4u << 10)
#define WARM_MIN_FDS 256

static void warm_heap(pid_t pid)
{
	size_t n = procfs_nr_fds(pid);

	if (n >= WARM_MIN_FDS)
		heap_warm(n * WARM_PER_FD + (1u << 20));
}

int dump_run(const struct dump_opts *opts)
{
	struct dump_ctx c = DUMP_CTX_NULL(opts);
	int r;

	if ((opts->snapshot_fork || opts->snapshot_wp) && (opts->prev_dir || opts->track_mem)) {
		pr_err("--snapshot does not go with --track-mem or --prev-images-dir yet");
		return -ENOTSUP;
	}
	r = dump_ctx_open(&c);
	/* a process with many fds: the heap its records will take, at
	 * once, before the freeze and before any thread (images/heap.c) */
	if (!r)
		warm_heap(opts->pid);
	/* a server with many connections: BPF reads them (socket_bpf.c);
	 * after the guardian's fork, which the load would slow */
	if (!r)
		sk_bpf_load_early(opts->pid);
	if (!r)
		r = before_freeze(&c);
	if (!r)
		r = frozen(&c);
	if (!r)
		r = after_thaw(&c);
	dump_ctx_done(&c, r);
	sk_bpf_load_end();
	if (!r)
		pr_info("dump of %d complete in %s (downtime %.3f ms)", opts->pid, opts->dir,
			(c.thaw_ns - c.freeze_start_ns) / 1e6);
	return r;
}
