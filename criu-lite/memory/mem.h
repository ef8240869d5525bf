/* Memory capture, for the dump orchestrator and --snapshot fork. mem_dump()
 * (dump.h) is both steps below in one; --snapshot fork splits them: read the
 * VMA list while the tree is frozen, then dump pages from the forked copy
 * once the tree runs again. */
#ifndef CRIU_LITE_MEM_H
#define CRIU_LITE_MEM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "criu-lite/dump/dump.h"
#include "common/vma.h"
#include "images/pagemap_read.h"

/* The VMAs to dump, from /proc/PID/smaps (the process must be frozen). */
int mem_read_vmas(pid_t pid, struct vma_list *vl);

/* Write mm-PID.img, pagemap-PID.img and pages-PID.img for the VMAs in `vl`
 * (taken from `pid`), reading page contents from `mem_pid`. When mem_pid is
 * a fork()ed copy, ranges the copy lacks (MADV_DONTFORK) or has wiped
 * (MADV_WIPEONFORK) are read from `pid`, with a warning, unless the copy has
 * them intact (a snapshot that cleared those flags around its fork()). */
int mem_dump_vmas(int dirfd, pid_t pid, pid_t mem_pid, const struct vma_list *vl,
		  const struct dump_opts *opts, struct dump_stats *st);

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
	const struct pmr *parent;
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
		const struct mem_extra *x, const struct dump_opts *opts, struct dump_stats *st);

#endif
