/* `dump --snapshot fork`: while the tree is frozen, each process forks a
 * copy of itself (an injected clone); the tree then runs on and memory is
 * read from the copies, which never run. Downtime becomes the time to
 * capture registers and the rest, plus the fork (copying page tables).
 *
 * What fork does not give a consistent copy of is read from the original
 * while it is still frozen (frozen_copy.h). Shared mappings of files still
 * on disk are recorded as the file (PE_FILE), as always.
 *
 * The copy is created with exit_signal 0, so its death sends the original no
 * SIGCHLD; it is killed after the dump and reaped inside the original
 * (wait4 injected through a briefly re-seized leader), so no zombie is left. */
#ifndef CRIU_LITE_SNAPSHOT_FORK_H
#define CRIU_LITE_SNAPSHOT_FORK_H

#include <sys/types.h>

#include "common/vma.h"
#include "criu-lite/freeze/seize.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/snapshot/frozen_copy.h"

/* Tree frozen, p's registers and the rest captured, no scratch memory left
 * in it: read its VMAs (pre: read before the freeze, or NULL), copy what
 * fork does not cover, fork it. */
int snap_take(struct snap_proc *s, const struct dump_proc *p, const struct vma_list *pre);
/* Tree running again: mm, pagemap and pages images of s->pid from the copy. */
int snap_dump_mem(struct snap_proc *s, int dirfd, struct dump_stats *st);

/* Kill and reap the copy (safe on a failed or empty snap_proc), free all.
 * -ECHILD if its zombie may stay (the guardian tries once more). */
int snap_drop(struct snap_proc *s);

#endif
