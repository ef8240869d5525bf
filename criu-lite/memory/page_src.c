/* Reading helpers for the page sources (page_src.h): by offset from an
 * fd, and through /proc/PID/mem. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/procfs.h"
#include "criu-lite/memory/page_src.h"
#include "images/log.h"

int page_pread(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int page_src_pread(struct page_src *s, struct page_batch *b, const int *idx, int n, int fd,
		   int64_t delta)
{
	for (int k = 0; k < n; k++) {
		struct page_seg *g = &b->seg[idx[k]];
		int r = page_pread(fd, b->mem + g->buf_off, g->nr * MEM_PAGE, g->vaddr + delta);

		if (r < 0) {
			errno = -r;
			r = pr_perror("cannot read %s at %#llx", s->ops->name,
				      (unsigned long long)g->vaddr);
		}
		if (r < 0 && s->best_effort && r != -ESRCH)
			g->lost = true;
		else if (r < 0)
			return r;
	}
	return 0;
}

int page_fd_data(int fd, uint64_t lo, uint64_t hi, uint64_t *start, uint64_t *stop)
{
	off_t d, h;

	if (lo >= hi)
		return 0;
	d = lseek(fd, (off_t)lo, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? 0 : -errno;
	h = lseek(fd, d, SEEK_HOLE);
	if (h < 0)
		return -errno;
	d &= ~(off_t)(MEM_PAGE - 1);
	h = (h + MEM_PAGE - 1) & ~(off_t)(MEM_PAGE - 1);
	if ((uint64_t)d >= hi)
		return 0;
	*start = (uint64_t)d < lo ? lo : (uint64_t)d;
	*stop = (uint64_t)h > hi ? hi : (uint64_t)h;
	return 1;
}

/* /proc/PID/mem uses FOLL_FORCE: it reads PROT_NONE and exec-only pages
 * that process_vm_readv refuses. Slower (a page at a time in the kernel),
 * so only the ranges that need it come here. */
int page_procmem_read(struct page_src *s, int *fd, pid_t pid, struct page_batch *b,
		      struct page_seg *g, uint64_t skip)
{
	uint64_t vaddr = g->vaddr + skip;
	size_t len = g->nr * MEM_PAGE - skip;
	int r;

	if (*fd < 0) {
		r = procfs_open(pid, "mem", O_RDONLY);
		if (r < 0)
			return r;
		*fd = r;
	}
	r = page_pread(*fd, b->mem + g->buf_off + skip, len, vaddr);
	if (r < 0 && s->best_effort) {
		pr_debug("%#llx of process %d could not be read: left out",
			 (unsigned long long)vaddr, pid);
		if (r == -ESRCH)
			return r;
		g->lost = true;		/* unmapped while we read: left out */
		return 0;
	}
	if (r < 0) {
		errno = -r;
		return pr_perror("cannot read %zu bytes at %#llx of process %d", len,
				 (unsigned long long)vaddr, pid);
	}
	return 0;
}
