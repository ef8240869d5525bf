/* Memory capture, for the dump orchestrators and the snapshot and
 * incremental stages. mem_dump() reads the VMAs and the pages of a frozen
 * process in one go; the stages read the VMA list while the tree is frozen
 * and dump pages later, or from elsewhere, through the page sources they
 * compose (page_src.h). */
#ifndef CRIU_LITE_MEM_H
#define CRIU_LITE_MEM_H

#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#include "common/vma.h"

/* Counters every memory path adds to; the dump writes them into stats.img. */
struct dump_stats {
	uint64_t bytes_scanned, bytes_written;
	uint64_t pages_scanned, pages_written, pages_zero, pages_unpopulated;
	uint64_t pages_file, pages_parent;
};

struct page_src;

/* VMAs into mm-PID.img, page runs into pagemap-PID.img and the bytes into
 * pages-PID.img, pagemap-guided (never reading an unpopulated page), of a
 * frozen process. */
int mem_dump(int dirfd, pid_t pid, struct dump_stats *st);

/* vma_read.c: the VMAs to dump, from /proc/PID/smaps (the process must be
 * frozen, or the list is read ahead: see below). */
int mem_read_vmas(pid_t pid, struct vma_list *vl);
/* Frozen: pid's VMAs, from maps + `pre` (mem_read_vmas before the freeze:
 * reading smaps walks every page table, 60 ms for 4 GiB here) when every
 * VMA is still the one read then, else from smaps. */
int mem_read_vmas_frozen(pid_t pid, const struct vma_list *pre, struct vma_list *vl);

/* yield.c: after the thaw memory is read at leisure: the tree's threads
 * should get the CPU first, or a small machine makes them wait for us even
 * though nothing stops them. YIELD_NICE: nice 10. YIELD_IDLE: SCHED_IDLE,
 * so any thread of theirs that wakes takes the CPU at once (--snapshot wp:
 * gaps 30-48 ms against 67-152 at nice 10; reading a fork()ed copy page by
 * page through /proc/PID/mem went 1.1-4x slower that way, so fork keeps
 * nice). Threads started meanwhile inherit it; if other work on the
 * machine starves them for a second, they go back to our own priority.
 * YIELD_OFF: back to what it was. */
enum mem_yield { YIELD_OFF, YIELD_NICE, YIELD_IDLE };
void mem_yield(enum mem_yield how);

/* Write mm-PID.img, pagemap-PID.img and pages-PID.img of pid for the VMAs
 * in `vl` (taken from pid), the pages as `src` (page_src.h) gives them. On
 * failure no half images are left. */
int mem_dump_src(int dirfd, pid_t pid, const struct vma_list *vl, struct page_src *src,
		 struct dump_stats *st);

#endif
