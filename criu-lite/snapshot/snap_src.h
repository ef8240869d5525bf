/* The page sources the snapshot modes compose (memory/page_src.h):
 *   --snapshot fork   frozen copy over fork copy (itself over the original)
 *   --snapshot wp     frozen copy over write-protect overlay over the live process */
#ifndef CRIU_LITE_SNAPSHOT_SNAP_SRC_H
#define CRIU_LITE_SNAPSHOT_SNAP_SRC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/vma.h"
#include "criu-lite/memory/page_src.h"

/* src_frozen.c: VMAs marked in frozen[] were copied while the tree was
 * frozen into fd at offset == address (frozen_copy.h; holes there were
 * never populated); the others are below's. */
struct frozen_src {
	struct page_src s;
	struct page_src *below;
	int fd;
	const bool *frozen;	/* per VMA of the dump's list */
};

void frozen_src_init(struct frozen_src *f, int fd, const bool *frozen, struct page_src *below);

/* src_fork.c: a fork()ed copy of pid, read through /proc/COPY/mem only:
 * process_vm_readv pins pages (FOLL_PIN), and pinning a page the copy
 * shares with the original breaks COW: every page would be copied once
 * more. Private memory is populated as the copy's pagemap says, shared
 * memory as the original's (fork copies no page tables of it). What the
 * copy lacks (MADV_DONTFORK) or has wiped (MADV_WIPEONFORK), unless it
 * shows the range intact (a snapshot that cleared those flags around its
 * fork()), and private file mappings the copy has no page of, are the
 * original's (`orig`, the live process). */
struct fork_src {
	struct page_src s;
	struct page_src *orig;
	pid_t pid, copy;
	int mem_fd;			/* /proc/COPY/mem, or -1 */
	struct vma_list copy_vmas;	/* read when first needed */
	bool have_copy_vmas;
};

void fork_src_init(struct fork_src *f, pid_t pid, pid_t copy, struct page_src *orig);
void fork_src_fini(struct fork_src *f);

/* src_wp.c: --snapshot wp's write-protect overlay over the live process. */

/* Pages populated at the freeze, [start, end) bytes. */
struct wp_run {
	uint64_t start, end;
};

/* The first of runs[0..nr) (sorted, disjoint) that ends after addr; nr if
 * none. */
size_t wp_run_first_after(const struct wp_run *runs, size_t nr, uint64_t addr);

/* How a VMA was kept at the freeze. */
enum wp_kind {
	WPK_NONE,	/* as a plain dump: read now (vdso, shared files) or frozen */
	WPK_PROTECTED,	/* write-protected: its runs, read live, saved pages over them */
	WPK_FILE,	/* private file mapping with no page of its own: the file */
};

/* The runs of WPK_PROTECTED VMAs are read from `live`; a page the process
 * wrote since the freeze was saved first into saved_fd (offset ==
 * address), and that copy wins. *read_upto: how far (address) the reading
 * has got, for the fault handler's checks. Other VMAs are live's. */
struct wp_src {
	struct page_src s;
	struct page_src *live;
	int saved_fd;
	const uint8_t *kind;		/* per VMA of the dump's list: enum wp_kind */
	const struct wp_run *runs;	/* sorted */
	size_t nr_runs;
	_Atomic uint64_t *read_upto;
};

void wp_src_init(struct wp_src *w, struct page_src *live, int saved_fd, const uint8_t *kind,
		 const struct wp_run *runs, size_t nr_runs, _Atomic uint64_t *read_upto);

#endif
