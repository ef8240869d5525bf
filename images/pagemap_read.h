/* Read back the memory of one dumped process: pagemap-PID.img's runs and
 * the raw pages file they point into. All runs are loaded and checked up
 * front (sorted, non-overlapping, inside the pages file), so a caller can
 * look addresses up without re-validating. Page contents are never loaded:
 * a run is where bytes are, not the bytes. */
#ifndef CRIU_LITE_PAGEMAP_READ_H
#define CRIU_LITE_PAGEMAP_READ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pmr_run {
	uint64_t start, end;	/* [start, end), page-aligned */
	uint32_t flags;		/* exactly one of PE_PRESENT, PE_ZERO, PE_FILE, PE_PARENT */
	uint64_t off;		/* PE_PRESENT: byte offset of start in the pages file */
};

struct pmr {
	struct pmr_run *run;
	size_t nr;
	int pages_fd;		/* the pages file, open read-only */
	uint64_t pages_size;
};

/* Load pagemap-PID.img from dirfd and open its pages file. 0 or -errno,
 * with one clear message for a malformed or inconsistent image. */
int pmr_open(int dirfd, int pid, struct pmr *pm);
void pmr_close(struct pmr *pm);
/* The run holding vaddr, or NULL (a hole: never populated). */
const struct pmr_run *pmr_find(const struct pmr *pm, uint64_t vaddr);
/* The first run that ends after vaddr (holds it or follows it), or NULL. */
const struct pmr_run *pmr_next(const struct pmr *pm, uint64_t vaddr);
/* Copy [vaddr, vaddr + len) as dumped: stored bytes, zeros for PE_ZERO.
 * -ENODATA if part of it is a hole, PE_FILE or PE_PARENT (what the caller
 * must take from the file or the parent images), -EIO on a short read. */
int pmr_read(const struct pmr *pm, uint64_t vaddr, void *buf, size_t len);

#endif
