/* Private to mem*.c, pagemap.c and pages_write.c. */
#ifndef CRIU_LITE_MEM_INTERNAL_H
#define CRIU_LITE_MEM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "criu-lite/memory/mem.h"
#include "common/vma.h"
#include "images/image.h"
#include "images/pagemap_read.h"

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

/* One file mapped by the process, looked up once however many VMAs map it. */
struct mem_file {
	uint64_t dev, ino;	/* as maps shows them: the cache key */
	FileIdentity *fi;	/* NULL when the file could not be opened */
	bool elf;
	bool gone;		/* unlinked, or its path now names another file */
	uint64_t size;
	struct mem_file *next;
};

#define MEM_FILE_BUCKETS 256
struct mem_files {
	struct mem_file *bucket[MEM_FILE_BUCKETS];
};

struct mem_vma {
	const struct vma *v;
	pid_t pid;
	uint32_t status, flags, madv;
	enum mem_policy policy;
	struct mem_file *file;
	const char *name;	/* exact path (from map_files) or maps' label */
};

/* mem_vma.c */
int mem_vma_classify(pid_t pid, const struct vma *v, struct mem_files *fc, struct mem_vma *mv);
int mem_vma_write(struct img *mm, const struct mem_vma *mv);
/* Open the object a VMA maps through /proc/PID/map_files (works for deleted
 * files); -errno on failure, not logged. */
int mem_vma_open_object(pid_t pid, const struct vma *v);
void mem_files_free(struct mem_files *fc);
/* vma_kinds.c: memory the kernel makes look like a deleted file (an aio
 * ring, anonymous hugetlb): classified here, true if v is one. */
bool mem_vma_kernel_object(const struct vma *v, struct mem_vma *mv);
/* What restore needs besides: hugetlb page size, guard regions, the aio
 * ring's size in requests. e->guards is malloc'd: mem_vma_kinds_done. */
int mem_vma_kinds(const struct mem_vma *mv, VmaEntry *e);
void mem_vma_kinds_done(VmaEntry *e);

/* pages_write.c: segments of pages are queued in address order, read in
 * large batches and written out with their pagemap entries. */
enum pw_src {
	PW_SRC_VM,	/* process_vm_readv from mem_pid, /proc/PID/mem where refused */
	PW_SRC_PROCMEM,	/* /proc/PID/mem straight away (PROT_NONE, exec-only) */
	PW_SRC_FD,	/* pread from an fd (the mapped object) at foff */
};

struct pw_seg {
	uint64_t vaddr, nr;	/* nr pages */
	uint64_t foff;		/* PW_SRC_FD: offset in fd */
	size_t buf_off;		/* copy segments: where the bytes land in the buffer */
	uint32_t vma;		/* runs never cross a VMA */
	pid_t pid;		/* PW_SRC_VM/PROCMEM: whose memory */
	int fd;
	uint8_t src;		/* enum pw_src */
	bool file;		/* PE_FILE run: nothing read */
	bool parent;		/* PE_PARENT run: nothing read */
	bool done;		/* bytes are in the buffer */
	bool lost;		/* best effort: could not be read, left out */
};

#define PW_BUF_SIZE	(8u << 20)
#define PW_MAX_SEGS	1024	/* IOV_MAX: one process_vm_readv per batch */
#define PW_CMP_BUF	(1u << 20)	/* the parent's bytes, for KD_TRACK_HASHES */
/* Stored runs in a buffer are separated by zero pages: at most half of it. */
#define PW_MAX_WIOV	(PW_BUF_SIZE / MEM_PAGE / 2 + 1)

/* One batch buffer and the iovecs of its stored runs. */
struct pw_buf {
	uint8_t *mem;
	struct iovec wiov[PW_MAX_WIOV];
	int nr_wiov;
	bool busy;		/* handed to the writer, not written yet */
};

/* pages_writer.c: writes submitted buffers, in order, on its own thread. */
struct pw_writer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pw_buf *queued;
	bool started, stop;
	int fd, err;
	uint64_t written;	/* writer's own counter, read after pww_stop */
};

int pww_start(struct pw_writer *w, int fd);
/* Queue b (waits while another buffer is queued); returns the writer's
 * first error so far, 0 if none. */
int pww_submit(struct pw_writer *w, struct pw_buf *b);
/* Wait until b is written (or dropped after an error); first error. */
int pww_wait(struct pw_writer *w, struct pw_buf *b);
/* Drain the queue, join; adds bytes written to *written; first error. */
int pww_stop(struct pw_writer *w, uint64_t *written);

struct pw {
	int pages_fd;
	struct img *pm;
	struct dump_stats *st;
	struct pw_buf b[2];	/* one filled here while the writer writes the other */
	struct pw_buf *cur;
	struct pw_writer writer;
	size_t buf_used;
	struct pw_seg seg[PW_MAX_SEGS];
	int nr_seg;
	uint64_t pages_off;	/* bytes in the pages file so far */
	PagemapEntry pending;	/* last entry, kept open to merge the next one */
	bool has_pending;
	uint32_t pending_vma;
	struct iovec liov[PW_MAX_SEGS], riov[PW_MAX_SEGS];	/* process_vm_readv */
	int idx[PW_MAX_SEGS];
	pid_t memfd_pid;	/* whose /proc/PID/mem memfd is */
	int memfd;
	/* Incremental dump by content (KD_TRACK_HASHES): a page equal to the
	 * parent's page at its address becomes PE_PARENT. */
	const struct pmr *cmp_parent;
	uint8_t *cmp_buf;	/* the parent's bytes, PW_CMP_BUF */
	/* Pre-dump of a running process: a range gone meanwhile is left out. */
	bool best_effort;
	/* --snapshot wp: pages of overlay_pid saved in overlay_fd (offset ==
	 * address) replace what was read of them; read_upto then advances. */
	int overlay_fd;
	pid_t overlay_pid;
	_Atomic uint64_t *read_upto;
	/* Progress on a terminal: "memory of PID: N MiB" while it runs. */
	bool tty;
	pid_t pid;
	uint64_t t_start, t_shown;
};

/* Buffers only; the caller then sets pages_fd and pm and starts the writer. */
int pw_init(struct pw *pw, struct dump_stats *st);
/* Hand over what is queued (read, record, submit for writing). */
int pw_add_copy(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma, enum pw_src src,
		pid_t pid, int fd, uint64_t foff);
int pw_add_file(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma);
/* Pages unchanged since the parent dump: a PE_PARENT run, nothing read. */
int pw_add_parent(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma);
int pw_flush(struct pw *pw);
/* Flush, wait for every write and record the last pending entry. */
int pw_finish(struct pw *pw);
void pw_fini(struct pw *pw);

/* pagemap.c: queue the pages of one VMA. `pm_pid` is the process whose
 * pagemap tells what is populated, `mem_pid` where the bytes are read. */
struct pm_ctx {
	struct pw *pw;
	uint64_t *pm;		/* pagemap chunk buffer */
	pid_t pm_pid[2];
	int pm_fd[2];		/* a pagemap fd per process consulted */
	bool no_ioctl;		/* PAGEMAP_SCAN missing: read the pagemap file */
	/* Incremental dump: pages the tracker (enum kd_track_mem) says were
	 * not written since the parent, and that the parent has, become
	 * PE_PARENT. */
	const struct pmr *parent;
	int track;
	/* Read through /proc/PID/mem only: mem_pid is a fork()ed copy, whose
	 * pages process_vm_readv would unshare one by one (its FOLL_PIN
	 * breaks COW of a page not exclusive: a copy of every page). */
	bool procmem;
};

/* Tests set it to take the pread path on a kernel that has PAGEMAP_SCAN. */
extern bool pm_no_scan_ioctl;

int pm_init(struct pm_ctx *pc, struct pw *pw);
int pm_scan_vma(struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx, pid_t pm_pid,
		pid_t mem_pid, pid_t obj_pid);
void pm_fini(struct pm_ctx *pc);
/* --snapshot fork: pages of a VMA copied into fd at offset == address. */
int pm_scan_frozen(struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx, int fd);
/* 1 if a page of [start, end) is present or swapped in pid, 0 if none. */
int pm_has_pages(struct pm_ctx *pc, pid_t pid, uint64_t start, uint64_t end);

#endif
