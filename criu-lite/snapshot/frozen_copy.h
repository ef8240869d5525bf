/* What a snapshot cannot read once the tree runs again, read while it is
 * still frozen: shared memory (the original goes on writing its object),
 * and, for --snapshot fork, the ranges fork() leaves out of the copy
 * (MADV_DONTFORK) or empties in it (MADV_WIPEONFORK). The bytes go into a
 * memfd at offset == address; holes stay holes. Their size adds to the
 * downtime as in a plain dump. */
#ifndef CRIU_LITE_SNAPSHOT_FROZEN_COPY_H
#define CRIU_LITE_SNAPSHOT_FROZEN_COPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/vma.h"

/* One process of a snapshot: its VMAs at the freeze, what was copied while
 * frozen, and (--snapshot fork) its copy. */
struct snap_proc {
	pid_t pid;		/* the original (frozen, then running again) */
	pid_t copy;		/* its copy in our pid namespace; 0 when none */
	pid_t copy_ns;		/* the same as the original sees it (its wait4 argument) */
	int frozen_fd;		/* memfd of what was read while frozen, or -1 */
	bool *frozen;		/* per VMA of vl: taken from frozen_fd */
	bool *done;		/* per VMA of vl: already copied there */
	struct vma_list vl;	/* the original's VMAs at the freeze */
	uint64_t frozen_bytes;	/* copied while frozen */
	int guard_note;		/* the guardian's: kill and reap a copy if we die */
};

/* A VMA whose pages fork does not copy consistently (see above). */
bool snap_vma_frozen(const struct vma *v);

/* Frozen: copy every VMA marked in s->frozen and not yet in s->done into
 * s->frozen_fd (created if -1) at offset == address; holes stay holes. */
int snap_copy_frozen(struct snap_proc *s);
/* Close and free what s holds (not its copy: snap_drop does that). */
void snap_proc_free(struct snap_proc *s);

#endif
