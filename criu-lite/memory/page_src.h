/* Where the bytes of a dump's pages come from: a page source, one small
 * ops table per kind (in the spirit of elfutils' Dwfl_Thread_Callbacks and
 * CRIU's struct page_read). The memory engine (mem.c, pagemap.c,
 * pages_write.c) knows no mode of its own: it asks the source it is given.
 * A dump composes sources, each lying over the one below it:
 *
 *   plain dump, pre-dump   live process                     (memory/src_live.c)
 *   incremental            parent images over live          (incremental/src_parent.c)
 *   --snapshot fork        frozen copy over fork copy       (snapshot/src_frozen.c,
 *                          (over the live original)          snapshot/src_fork.c)
 *   --snapshot wp          frozen copy over write-protect   (snapshot/src_wp.c)
 *                          overlay over live
 *
 * For each VMA the engine asks the top source to queue its pages (scan); a
 * source takes the VMAs that are its own and hands the others down. Each
 * queued run remembers the source that reads it. Once a batch is queued
 * (PW_MAX_SEGS runs or 8 MiB), every source present reads its runs in one
 * call (read): ops are called per VMA, per run found or per batch, never
 * per page. */
#ifndef CRIU_LITE_MEMORY_PAGE_SRC_H
#define CRIU_LITE_MEMORY_PAGE_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/vma.h"

#define MEM_PAGE	4096ull

/* How a VMA's pages are captured. */
enum mem_policy {
	MP_SKIP,	/* [vvar], [vsyscall], VM_IO/VM_PFNMAP: no pages at all */
	MP_ANON,	/* private anonymous: every present or swapped page */
	MP_PRIV_FILE,	/* private file: unwritten page-cache pages as PE_FILE, COWed ones copied */
	MP_SHARED_FILE,	/* shared file still on disk: the file is the content, PE_FILE */
	MP_OBJECT,	/* shared anon, memfd, SysV shm, deleted shared file: the object's data */
	MP_DELETED_PRIV,	/* private mapping of a deleted/replaced file: memory, else file */
	MP_WHOLE,	/* [vdso]: every page, always */
};

struct mem_file;

/* A VMA as the engine classified it (mem_vma.c). */
struct mem_vma {
	const struct vma *v;
	pid_t pid;
	uint32_t status, flags, madv;
	enum mem_policy policy;
	struct mem_file *file;
	const char *name;	/* exact path (from map_files) or maps' label */
};

/* One queued run of pages, in a batch. */
struct page_seg {
	uint64_t vaddr, nr;	/* nr pages */
	size_t buf_off;		/* copies: where the bytes land in the batch buffer */
	struct page_src *src;	/* copies: who reads them */
	uint32_t vma;		/* runs never cross a VMA */
	uint8_t via;		/* the reading source's own mark, given when queued
				 * (0 from pm_scan_populated: its usual way) */
	bool file;		/* PE_FILE run: nothing read */
	bool parent;		/* PE_PARENT run: nothing read */
	bool done;		/* bytes are in the buffer */
	bool lost;		/* best effort: could not be read, left out */
};

/* A batch being read: the runs queued, the buffer their bytes go to. */
struct page_batch {
	struct page_seg *seg;
	int nr_seg;
	uint8_t *mem;
	uint8_t *same;		/* per page of mem: the parent holds these bytes (see same) */
	/* PW_MAX_SEGS each, for a read op's own use */
	struct iovec *liov, *riov;
	int *map;
};

struct pm_ctx;

struct page_src_ops {
	const char *name;	/* what it reads, for messages */
	/* Queue the pages of VMA idx (of the dump's list): through the
	 * pm_scan_* helpers, or by handing mv (or a changed copy) to a source
	 * below. */
	int (*scan)(struct page_src *s, struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx);
	/* The first populated range in [addr, end): 1 with [*start, *stop),
	 * 0 if none, <0 on error. Optional: pm_scan_populated and, for the
	 * source pm_set_parent names, unchanged pages need it. */
	int (*populated)(struct page_src *s, uint64_t addr, uint64_t end, uint64_t *start,
			 uint64_t *stop);
	/* Read b->seg[idx[0..n)] (all queued with src == s, in address
	 * order) into b->mem at their buf_off; a run that could not be read
	 * in best effort gets lost = true. */
	int (*read)(struct page_src *s, struct page_batch *b, const int *idx, int n);
	/* Optional, for the source pm_set_parent names: once the batch is
	 * read, set b->same[k] for each page k of b->mem it holds already,
	 * byte for byte (they become PE_PARENT). */
	int (*same)(struct page_src *s, struct page_batch *b);
};

struct page_src {
	const struct page_src_ops *ops;
	/* A range that cannot be read (unmapped meanwhile) is left out
	 * instead of failing the dump: pre-dump of a running process. */
	bool best_effort;
};

/* Helpers for implementations: scanning (pagemap.c). */

/* The pages of a VMA as a process's pagemap shows them (PAGEMAP_SCAN,
 * else the pagemap file), or for shared objects, as the object holds them.
 * Copies are read by `reader`, marked `via`. */
struct pm_from {
	pid_t pm_pid;		/* whose pagemap says what is populated */
	pid_t obj_pid;		/* whose map_files opens the mapped object (then pm_pid's) */
	struct page_src *reader;
	uint8_t via;
};
int pm_scan_vma(struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx,
		const struct pm_from *f);
/* Every range s says is populated within the VMA, read by s. */
int pm_scan_populated(struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx,
		      struct page_src *s);
/* 1 if a page of [start, end) is present or swapped in pid, 0 if none. */
int pm_has_pages(struct pm_ctx *pc, pid_t pid, uint64_t start, uint64_t end);
/* Incremental dump: `parent` holds the pages of the dump before; `track`
 * (enum kd_track_mem) says how the pagemap tells pages not written since:
 * those the parent holds (its populated op) become PE_PARENT. With
 * KD_TRACK_HASHES every page is read and the parent's same op decides. */
void pm_set_parent(struct pm_ctx *pc, struct page_src *parent, int track);

/* Helpers for implementations: reading (page_src.c). */

/* pread until len bytes are in; a short file reads as zeros (it shrank
 * under us: a mapping shows zeros past EOF too). -errno, not logged. */
int page_pread(int fd, void *p, size_t len, uint64_t off);
/* pread each run from fd at offset vaddr + delta; a short file reads as
 * zeros. Errors name s->ops->name. */
int page_src_pread(struct page_src *s, struct page_batch *b, const int *idx, int n, int fd,
		   int64_t delta);
/* The first data of fd in [lo, hi) (SEEK_DATA, SEEK_HOLE), widened to
 * whole pages and cut at hi: 1 with [*start, *stop), 0 if none, -errno
 * (not logged). */
int page_fd_data(int fd, uint64_t lo, uint64_t hi, uint64_t *start, uint64_t *stop);
/* Run g from byte `skip` on, through /proc/PID/mem (FOLL_FORCE: it reads
 * PROT_NONE and exec-only pages), opened into *fd when first needed. In
 * best effort a run that cannot be read is lost (not a process gone). */
int page_procmem_read(struct page_src *s, int *fd, pid_t pid, struct page_batch *b,
		      struct page_seg *g, uint64_t skip);

/* src_live.c: a live process, read with process_vm_readv in one call per
 * batch, through /proc/PID/mem where that refuses (PROT_NONE, exec-only,
 * VM_READ dropped meanwhile). */
struct live_src {
	struct page_src s;
	pid_t pid;
	int mem_fd;		/* /proc/PID/mem when first needed, or -1 */
};

void live_src_init(struct live_src *l, pid_t pid, bool best_effort);
void live_src_fini(struct live_src *l);

#endif
