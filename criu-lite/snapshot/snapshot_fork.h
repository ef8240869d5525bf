/* `dump --snapshot fork`: while the tree is frozen, each process forks a
 * copy of itself (an injected clone); the tree then runs on and memory is
 * read from the copies, which never run. Downtime becomes the time to
 * capture registers and the rest, plus the fork (copying page tables).
 *
 * What fork does not give a consistent copy of is read from the original
 * while it is still frozen, into a memfd at offset == address:
 *  - shared memory (shared anonymous, memfd, SysV shm, deleted shared files):
 *    the copy shares it with the original, which goes on writing it;
 *  - MADV_DONTFORK ranges: absent from the copy;
 *  - MADV_WIPEONFORK ranges: empty in the copy.
 * Their size adds to the downtime as in a plain dump. Shared mappings of
 * files still on disk are recorded as the file (PE_FILE), as always.
 *
 * The copy is created with exit_signal 0, so its death sends the original no
 * SIGCHLD; it is killed after the dump and reaped inside the original
 * (wait4 injected through a briefly re-seized leader), so no zombie is left. */
#ifndef CRIU_LITE_SNAPSHOT_FORK_H
#define CRIU_LITE_SNAPSHOT_FORK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "criu-lite/dump/dump.h"
#include "common/vma.h"

struct snap_proc {
	pid_t pid;		/* the original (frozen, then running again) */
	pid_t copy;		/* its copy in our pid namespace; 0 when none */
	pid_t copy_ns;		/* the same as the original sees it (its wait4 argument) */
	int frozen_fd;		/* memfd of what was read while frozen, or -1 */
	bool *frozen;		/* per VMA of vl: taken from frozen_fd */
	bool *done;		/* per VMA of vl: already copied there */
	struct vma_list vl;	/* the original's VMAs at the fork */
	uint64_t frozen_bytes;	/* copied while frozen */
};

/* A VMA whose pages fork does not copy consistently (see above). */
bool snap_vma_frozen(const struct vma *v);

/* After the thaw memory is read at leisure: the tree's threads should get
 * the CPU first, or a small machine makes them wait for us even though
 * nothing stops them. YIELD_NICE: nice 10. YIELD_IDLE: SCHED_IDLE, so any
 * thread of theirs that wakes takes the CPU at once (--snapshot wp: gaps
 * 30-48 ms against 67-152 at nice 10; reading a fork()ed copy page by page
 * through /proc/PID/mem went 1.1-4x slower that way, so fork keeps nice).
 * Threads started meanwhile inherit it. YIELD_OFF: back to what it was. */
enum snap_yield { YIELD_OFF, YIELD_NICE, YIELD_IDLE };
void snap_yield(enum snap_yield how);

/* Before the freeze: pid's VMAs with their smaps flags. Reading smaps
 * walks every page table (60 ms for 4 GiB here): done while the process
 * still runs, the frozen phase reads only maps and takes the flags from
 * here for every VMA that is still the same. */
int snap_prefetch(pid_t pid, struct vma_list *pre);
/* Frozen: pid's VMAs, from maps + the prefetch when every VMA is still the
 * one prefetched, else from smaps. Any frozen phase may use it. */
int snap_read_vmas(pid_t pid, const struct vma_list *pre, struct vma_list *vl);

/* Tree frozen, p's registers and the rest captured, no scratch memory left
 * in it: read its VMAs (pre: snap_prefetch's, or NULL), copy what fork
 * does not cover, fork it. */
int snap_take(struct snap_proc *s, const struct dump_proc *p, const struct vma_list *pre);
/* Tree running again: mm, pagemap and pages images of s->pid from the copy. */
int snap_dump_mem(struct snap_proc *s, int dirfd, const struct dump_opts *opts,
		  struct dump_stats *st);
/* After PTRACE_SEIZE + PTRACE_INTERRUPT of a running task: wait (5 s at
 * most) for its PTRACE_EVENT_STOP, passing on the signals it meets first.
 * 0 stopped, <0 gone or stuck. */
int snap_wait_stop(pid_t pid);

/* Frozen: copy every VMA marked in s->frozen and not yet in s->done into
 * s->frozen_fd (created if -1) at offset == address; holes stay holes. */
int snap_copy_frozen(struct snap_proc *s);

/* Kill and reap the copy (safe on a failed or empty snap_proc), free all. */
void snap_drop(struct snap_proc *s);

#endif
