/* Private to mem*.c, pagemap.c and pages_write.c. */
#ifndef CRIU_LITE_MEM_INTERNAL_H
#define CRIU_LITE_MEM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/vma.h"
#include "criu-lite/memory/mem.h"
#include "criu-lite/memory/page_src.h"
#include "images/image.h"
#include "images/image_sum.h"

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

/* pages_write.c: runs of pages are queued in address order, read in
 * large batches (each source its own runs, page_src.h) and written out
 * with their pagemap entries. */
#define PW_BUF_SIZE	(8u << 20)
#define PW_MAX_SEGS	1024	/* IOV_MAX: one process_vm_readv per batch */
/* Stored runs in a buffer are separated by zero pages: at most half of it. */
#define PW_MAX_WIOV	(PW_BUF_SIZE / MEM_PAGE / 2 + 1)

/* One batch buffer and the iovecs of its stored runs. */
struct pw_buf {
	uint8_t *mem;
	size_t populated;	/* bytes of mem faulted in so far (pw_read) */
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
	/* Of the file as written, on the writer's thread (it overlaps the
	 * reads like the writes do): the inventory lists it (image_sum.h). */
	struct img_hash h;
	uint64_t hash;		/* digest, set by pww_stop */
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
	struct page_seg seg[PW_MAX_SEGS];
	int nr_seg;
	uint64_t pages_off;	/* bytes in the pages file so far */
	PagemapEntry pending;	/* last entry, kept open to merge the next one */
	bool has_pending;
	uint32_t pending_vma;
	struct iovec liov[PW_MAX_SEGS], riov[PW_MAX_SEGS];	/* for the sources' reads */
	int idx[PW_MAX_SEGS];	/* the runs of one source, handed to its read */
	int map[PW_MAX_SEGS];
	uint8_t same[PW_BUF_SIZE / MEM_PAGE];	/* see page_batch */
	struct page_src *parent;	/* pm_set_parent's, or NULL */
	/* Progress on a terminal: "memory of PID: N MiB" while it runs. */
	bool tty;
	pid_t pid;
	uint64_t t_start, t_shown;
};

/* Buffers only; the caller then sets pages_fd and pm and starts the writer. */
int pw_init(struct pw *pw, struct dump_stats *st);
/* Queue nr pages at vaddr of VMA vma, read by src (page_src.h). */
int pw_add_copy(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma, struct page_src *src,
		uint8_t via);
int pw_add_file(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma);
/* Pages unchanged since the parent dump: a PE_PARENT run, nothing read. */
int pw_add_parent(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma);
/* Hand over what is queued (read, record, submit for writing). */
int pw_flush(struct pw *pw);
/* Flush, wait for every write and record the last pending entry. */
int pw_finish(struct pw *pw);
void pw_fini(struct pw *pw);

/* pagemap.c: what is populated, queued for reading (page_src.h has the
 * helpers sources call). */
struct pm_ctx {
	struct pw *pw;
	uint64_t *pm;		/* pagemap chunk buffer */
	pid_t pm_pid[2];
	int pm_fd[2];		/* a pagemap fd per process consulted */
	bool no_ioctl;		/* PAGEMAP_SCAN missing: read the pagemap file */
	int track;		/* pm_set_parent's (the source is pw->parent) */
};

/* Tests set it to take the pread path on a kernel that has PAGEMAP_SCAN. */
extern bool pm_no_scan_ioctl;

int pm_init(struct pm_ctx *pc, struct pw *pw);
void pm_fini(struct pm_ctx *pc);

#endif
