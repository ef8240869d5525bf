/* Memory capture, for the dump orchestrator and --snapshot fork. mem_dump()
 * is both steps below in one; --snapshot fork splits them: read the
 * VMA list while the tree is frozen, then dump pages from the forked copy
 * once the tree runs again. */
#ifndef CRIU_LITE_MEM_H
#define CRIU_LITE_MEM_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#include "common/vma.h"
#include "images/dump_read.h"

/* Counters every memory path adds to; the dump writes them into stats.img. */
struct dump_stats {
	uint64_t bytes_scanned, bytes_written;
	uint64_t pages_scanned, pages_written, pages_zero, pages_unpopulated;
	uint64_t pages_file, pages_parent;
};

/* VMAs into mm-PID.img, page runs into pagemap-PID.img and the bytes into
 * pages-PID.img, pagemap-guided (never reading an unpopulated page).
 * `mem_pid` is where memory is read from: the frozen process itself, or its
 * forked copy with --snapshot fork. */
int mem_dump(int dirfd, pid_t pid, pid_t mem_pid, struct dump_stats *st);

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

/* Write mm-PID.img, pagemap-PID.img and pages-PID.img for the VMAs in `vl`
 * (taken from `pid`), reading page contents from `mem_pid`. When mem_pid is
 * a fork()ed copy, ranges the copy lacks (MADV_DONTFORK) or has wiped
 * (MADV_WIPEONFORK) are read from `pid`, with a warning, unless the copy has
 * them intact (a snapshot that cleared those flags around its fork()). */
int mem_dump_vmas(int dirfd, pid_t pid, pid_t mem_pid, const struct vma_list *vl,
		  struct dump_stats *st);

/* --snapshot wp: pages populated at the freeze, [start, end) bytes. */
struct wp_run {
	uint64_t start, end;
};

/* The first of runs[0..nr) (sorted, disjoint) that ends after addr; nr if
 * none. */
size_t wp_run_first_after(const struct wp_run *runs, size_t nr, uint64_t addr);

/* --snapshot wp: how a VMA was kept at the freeze. */
enum wp_kind {
	WPK_NONE,	/* as a plain dump: read now (vdso, shared files) or frozen[] */
	WPK_PROTECTED,	/* write-protected: its wp_runs, read live, saved pages over them */
	WPK_FILE,	/* private file mapping with no page of its own: the file */
};

/* What a dump may add to mem_dump_vmas. */
struct mem_extra {
	/* --snapshot fork: frozen[i] marks vl->v[i] as copied, while the
	 * original was frozen, into frozen_fd at offset == address (holes
	 * there were never populated); the copy is not consulted for it. */
	int frozen_fd;
	const bool *frozen;
	/* Incremental dump (--prev-images-dir): the parent's runs of this pid.
	 * Pages that `track` (enum kd_track_mem) says were not written since,
	 * and that the parent holds, become PE_PARENT; with KD_TRACK_HASHES
	 * every page is read and compared with the parent's bytes instead. */
	const struct dr_pages *parent;
	int track;
	/* Pre-dump of a running process: a range unmapped meanwhile is left
	 * out instead of failing the dump. */
	bool best_effort;
	/* --snapshot wp (snapshot_wp.h): per VMA of vl, an enum wp_kind, or
	 * NULL. frozen_fd then also holds, at offset == address, the pages
	 * saved before the running process wrote them: they win over what is
	 * read live. read_upto: how far (address) the live reading has got. */
	const uint8_t *wp_kind;
	const struct wp_run *wp_runs;	/* sorted */
	size_t nr_wp_runs;
	_Atomic uint64_t *read_upto;
};

/* mem_dump_vmas with extras (x may be NULL). */
int mem_dump_ex(int dirfd, pid_t pid, pid_t mem_pid, const struct vma_list *vl,
		const struct mem_extra *x, struct dump_stats *st);

#endif
