/* What one dump or pre-dump holds while it runs, and its one teardown.
 *
 * DUMP_CTX_NULL(opts) holds nothing (fds at -1, no tree seized); each step
 * fills in a part, and dump_ctx_done(c, r) undoes whatever is there, on
 * every exit, in the one order that is right for all of them:
 *  1. failure: the tree thawed and detached (RELEASE_RUN), inventory.img
 *     removed, held signals drained; success with --kill: the tree killed;
 *  2. snapshots dropped, only now: a fork()ed copy's zombie is reaped
 *     inside its original, which must run again and be ours no more;
 *  3. write trackers that are not to go on taken down, the tree running
 *     (each leader is stopped for that alone): on success the parent's,
 *     unless tracking goes on (--track-mem, pre-dump); on failure ours,
 *     while the parent's stays (for a retry);
 *  4. memory freed, held signals drained (one that comes after a dump is
 *     complete is dropped, not left to kill us), the signal mask restored,
 *     the directory closed. */
#ifndef CRIU_LITE_DUMP_DUMP_CTX_H
#define CRIU_LITE_DUMP_DUMP_CTX_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fd/fd.h"
#include "common/vma.h"
#include "criu-lite/dump/dump.h"
#include "criu-lite/files/fcopy.h"
#include "criu-lite/freeze/seize.h"
#include "criu-lite/incremental/track_mem.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/snapshot/snapshot_fork.h"
#include "criu-lite/snapshot/snapshot_wp.h"

struct dump_ctx {
	const struct dump_opts *opts;
	int dirfd;			/* the images directory, or -1 */
	bool signals_held;
	sigset_t oldmask;		/* the mask before they were held */
	struct dump_tree tree;		/* released unless seized */
	struct dump_stats stats;
	uint64_t realtime_ns, freeze_start_ns, frozen_ns, thaw_ns;
	uint32_t xstate_len;		/* NT_X86_XSTATE bytes the kernel gave */
	struct vma_list prefetch;	/* the root's VMAs before the freeze (mem_read_vmas) */
	struct fd_dump_tree files;	/* what processes share: descriptions, fd tables */
	struct fcopy_set fcopy;		/* the files the tree could write, copied frozen */
	struct track_parent tp;		/* --prev-images-dir */
	bool has_parent;
	enum kd_track_mem method;	/* of a tracker armed now (--track-mem, pre-dump) */
	/* Per process of the tree, from dump_ctx_procs (NULL when unused): */
	int *track_fd;			/* the write tracker that goes on after this, or -1 */
	int *kept_fd;			/* the parent's tracker found in place, or -1 */
	struct vma_list *vl;		/* pre-dump: the VMAs read while frozen */
	bool *mem_done;			/* pre-dump: memory dumped while frozen */
	struct snap_proc *snap;		/* --snapshot fork */
	struct wp_proc **wp;		/* --snapshot wp */
	struct wp_proc *wp_root;	/* --snapshot wp: armed before the freeze */
	struct files_ahead *ahead;	/* the process being dumped: its files read ahead */
};

#define DUMP_CTX_NULL(o)                                                                 \
	((struct dump_ctx){ .opts = (o), .dirfd = -1, .tree = { .released = true },      \
			    .tp = { .d = { .dirfd = -1 } } })

/* The images directory (an old inventory removed first), the parent dump
 * (--prev-images-dir), the tracking method (probed now, not while the tree
 * is frozen), then the dumper's termination signals held. */
int dump_ctx_open(struct dump_ctx *c);
/* Tree seized: the per-process state the options call for, fds at -1. */
int dump_ctx_procs(struct dump_ctx *c);
/* Release the tree (no-op once released), noting when. */
void dump_ctx_release(struct dump_ctx *c, enum release_mode mode);
/* Undo everything c holds (see above); r: the outcome, 0 or -errno. */
void dump_ctx_done(struct dump_ctx *c, int r);

#endif
