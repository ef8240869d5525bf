/* `dump --snapshot wp`: the tree is frozen only while registers and the
 * rest are captured; memory is read from the live processes afterwards,
 * kept as it was at the freeze by userfaultfd write-protection.
 *
 * Why not fork: fork copies one page-table entry per 4 KiB page while the
 * tree is frozen (34-127 ms for 4 GiB on this VM). Write-protecting that
 * much costs as long, but it is done *before* the freeze, while the tree
 * runs; the freeze then only re-protects what was written since.
 *
 *  1. armed (running): a userfaultfd is created inside the process (one
 *     injected syscall; its leader stops for that only) and taken out with
 *     pidfd_getfd; its private anonymous VMAs are registered and
 *     write-protected. A handler thread answers each write fault by
 *     unprotecting the page.
 *  2. frozen: from now on the handler copies a page into the save file
 *     (a memfd, offset == address) before unprotecting it. The populated
 *     pages are listed with PAGEMAP_SCAN and those written since step 1 are
 *     protected again. What write-protection cannot keep (shared memory,
 *     private file pages of the process's own, VMAs born after step 1) is
 *     copied into the same memfd now, as --snapshot fork does.
 *  3. running: the listed pages are read from the live process; saved
 *     pages replace what was read of them. Then everything is unregistered.
 *
 * What it refuses rather than get wrong: a process that unmaps, moves or
 * discards (MADV_DONTNEED) memory not read yet, execs or exits before its
 * pages are read fails the dump (userfaultfd events tell); so does a target
 * that may not create a userfaultfd that also catches kernel writes (a
 * root target here: vm.unprivileged_userfaultfd is 0). */
#ifndef CRIU_LITE_SNAPSHOT_WP_H
#define CRIU_LITE_SNAPSHOT_WP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "criu-lite/freeze/seize.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/snapshot/frozen_copy.h"
#include "criu-lite/snapshot/snap_src.h"

enum wp_phase { WPP_ARMED, WPP_SAVING, WPP_DONE };

struct wp_proc {
	struct snap_proc s;	/* pid, VMAs at the freeze, frozen copies; s.frozen_fd also
				 * holds the saved pages */
	int uffd;		/* ours, or -1 */
	int stop_fd;		/* eventfd: the handler leaves */
	int mem_fd;		/* /proc/PID/mem, for the handler's saves */
	pthread_t handler;
	bool handler_running;
	pthread_mutex_t mu;	/* the phase, and one fault's save + unprotect */
	enum wp_phase phase;
	struct wp_run *reg;	/* ranges registered */
	size_t nr_reg;
	uint8_t *kind;		/* per VMA of s.vl: enum wp_kind */
	struct wp_run *runs;	/* populated at the freeze, sorted */
	size_t nr_runs, cap_runs;
	_Atomic uint64_t read_upto;
	bool broken;		/* the process changed memory not read yet */
	char why[160];
	uint64_t saved;		/* pages saved by the handler */
};

/* Step 1 on a running process (its leader is seized and stopped for the
 * injection only). 0, or <0 with nothing left behind. */
int wp_arm_running(struct wp_proc *w, pid_t pid);
/* Step 2, tree frozen, p's registers and the rest captured. Arms first
 * if wp_arm_running did not (the other processes of a tree). */
int wp_take(struct wp_proc *w, const struct dump_proc *p, const struct vma_list *pre);
/* Step 3, tree running: mm, pagemap and pages images of the process. */
int wp_dump_mem(struct wp_proc *w, int dirfd, struct dump_stats *st);
/* Unregister, stop the handler, free all (safe on any state). */
void wp_drop(struct wp_proc *w);

/* snapshot_wp_handler.c, for snapshot_wp.c: the fault handler thread. */
int wp_handler_start(struct wp_proc *w);
void wp_handler_stop(struct wp_proc *w);

#endif
