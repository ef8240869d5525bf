/* The images that describe a dump as a whole, for dump and pre-dump alike:
 * pstree.img, stats.img and inventory.img (published last). */
#ifndef CRIU_LITE_DUMP_IMAGES_H
#define CRIU_LITE_DUMP_IMAGES_H

#include <stdint.h>

#include "common/fd/fd.h"
#include "common/ploss.h"
#include "criu-lite/dump/dump.h"
#include "criu-lite/memory/mem.h"

/* pstree.img of the tree; track_fd[n]: the write tracker left in process n
 * (or -1), NULL when there is none; files: what the processes share (fd
 * tables, fs info), NULL when not looked at. */
int dump_write_pstree(int dirfd, const struct dump_tree *tree, const int *track_fd,
		      const struct fd_dump_tree *files);
/* stats.img; snapshot: "none", "fork" or "wp". Times: CLOCK_MONOTONIC ns. */
struct dump_times {
	uint64_t freeze_start, frozen, thaw;
};
int dump_write_stats(int dirfd, const struct dump_tree *tree, const struct dump_stats *st,
		     const struct dump_times *t, const char *snapshot);
/* inventory.img, published last. kind: INVENTORY_KIND_*; track_mem: the
 * tracker left armed (its name) or NULL; xsave_size: the NT_X86_XSTATE size
 * the threads really had, 0 to keep what CPUID says. */
int dump_write_inventory(int dirfd, const struct dump_opts *opts, int kind, uint64_t realtime_ns,
			 const char *track_mem, uint32_t xsave_size);

/* restorable.c: could restore bring back every fd of the tree's images,
 * with opts, and what its processes share (files)? refusing: the verb
 * refusing when not ("dump --kill"), so that each fd in the way is an
 * error and the result -ENOTSUP; NULL: a warning for each, and 0. The
 * entries the files walk kept for it (files->written) are freed once
 * checked. */
int dump_check_restorable(int dirfd, const struct dump_tree *tree, const struct fd_rst_opts *opts,
			  struct fd_dump_tree *files, const char *refusing);
/* restorable_proc.c: the same for process state (common/ploss.h). */
int dump_check_proc_restorable(int dirfd, const struct dump_tree *tree,
			       const struct ploss_opts *opts, const char *refusing);

#endif
