/* The fast path of a dump: pages are queued as segments in address order,
 * read in batches of up to PW_BUF_SIZE bytes with one process_vm_readv per
 * batch straight into a page-aligned buffer, checked for all-zero pages while
 * the bytes are still in cache, and handed to a writer thread (one writev
 * per batch) while the next batch is read. No syscall is ever made per page. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>

#include "common/procfs.h"
#include "criu-lite/memory/mem_internal.h"
#include "images/clock.h"
#include "images/log.h"

/* Only dumps that take a while show it, and not more than 5 times a second. */
static void progress(struct pw *pw, bool done)
{
	uint64_t t = mono_ms();

	if (!pw->tty || (!done && (t - pw->t_start < 500 || t - pw->t_shown < 200)))
		return;
	if (done) {
		if (pw->t_shown)
			fputs("\r\033[K", stderr);
		pw->t_shown = 0;
		return;
	}
	fprintf(stderr, "\rmemory of %d: %llu MiB", pw->pid,
		(unsigned long long)((pw->st->pages_written + pw->st->pages_zero) * MEM_PAGE >> 20));
	pw->t_shown = t;
}

int pw_init(struct pw *pw, struct dump_stats *st)
{
	memset(pw, 0, sizeof(*pw));
	pw->pages_fd = -1;
	pw->st = st;
	pw->memfd = -1;
	pw->overlay_fd = -1;
	for (int i = 0; i < 2; i++) {
		uint8_t *m = mmap(NULL, PW_BUF_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return pr_perror("cannot allocate the page buffers");
		/* Fault the buffer in once, here, rather than inside a batch. */
		madvise(m, PW_BUF_SIZE, MADV_POPULATE_WRITE);
		pw->b[i].mem = m;
	}
	pw->cur = &pw->b[0];
	pw->tty = isatty(STDERR_FILENO);
	pw->cmp_buf = malloc(PW_CMP_BUF);
	if (!pw->cmp_buf)
		return -ENOMEM;
	pw->t_start = mono_ms();
	return 0;
}

void pw_fini(struct pw *pw)
{
	uint64_t ignored = 0;

	pww_stop(&pw->writer, &ignored);
	progress(pw, true);
	for (int i = 0; i < 2; i++)
		if (pw->b[i].mem)
			munmap(pw->b[i].mem, PW_BUF_SIZE);
	memset(pw->b, 0, sizeof(pw->b));
	free(pw->cmp_buf);
	pw->cmp_buf = NULL;
	if (pw->memfd >= 0)
		close(pw->memfd);
	pw->memfd = -1;
}

static bool seg_extends(const struct pw_seg *l, uint64_t vaddr, uint32_t vma, bool file,
			bool parent)
{
	return l->vma == vma && l->file == file && l->parent == parent &&
	       l->vaddr + l->nr * MEM_PAGE == vaddr;
}

/* A run with nothing to read: PE_FILE, or PE_PARENT. */
static int add_unread(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma, bool parent)
{
	struct pw_seg *s;
	int r;

	if (pw->nr_seg && seg_extends(&pw->seg[pw->nr_seg - 1], vaddr, vma, !parent, parent)) {
		pw->seg[pw->nr_seg - 1].nr += nr;
		return 0;
	}
	if (pw->nr_seg == PW_MAX_SEGS && (r = pw_flush(pw)) < 0)
		return r;
	s = &pw->seg[pw->nr_seg++];
	*s = (struct pw_seg){ .vaddr = vaddr, .nr = nr, .vma = vma, .file = !parent,
			      .parent = parent, .fd = -1 };
	return 0;
}

int pw_add_file(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma)
{
	return add_unread(pw, vaddr, nr, vma, false);
}

int pw_add_parent(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma)
{
	return add_unread(pw, vaddr, nr, vma, true);
}

int pw_add_copy(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t vma, enum pw_src src,
		pid_t pid, int fd, uint64_t foff)
{
	while (nr) {
		uint64_t room, take;
		struct pw_seg *l;
		int r;

		if ((pw->nr_seg == PW_MAX_SEGS || pw->buf_used == PW_BUF_SIZE) &&
		    (r = pw_flush(pw)) < 0)
			return r;
		room = (PW_BUF_SIZE - pw->buf_used) / MEM_PAGE;
		take = nr < room ? nr : room;
		l = pw->nr_seg ? &pw->seg[pw->nr_seg - 1] : NULL;
		if (l && seg_extends(l, vaddr, vma, false, false) && l->src == src && l->pid == pid &&
		    l->fd == fd && (src != PW_SRC_FD || l->foff + l->nr * MEM_PAGE == foff) &&
		    l->buf_off + l->nr * MEM_PAGE == pw->buf_used) {
			l->nr += take;
		} else {
			l = &pw->seg[pw->nr_seg++];
			*l = (struct pw_seg){ .vaddr = vaddr, .nr = take, .vma = vma, .src = src,
					      .pid = pid, .fd = fd, .foff = foff,
					      .buf_off = pw->buf_used };
		}
		pw->buf_used += take * MEM_PAGE;
		vaddr += take * MEM_PAGE;
		foff += take * MEM_PAGE;
		nr -= take;
	}
	return 0;
}

/* pread until done; a short file reads as zeros (it shrank under us: the
 * mapping shows zeros past EOF too). */
static int pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
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

/* /proc/PID/mem uses FOLL_FORCE: it reads PROT_NONE and exec-only pages
 * that process_vm_readv refuses. Slower (a page at a time in the kernel),
 * so only the ranges that need it come here. */
static int read_procmem(struct pw *pw, pid_t pid, uint64_t vaddr, uint8_t *p, size_t len)
{
	int r;

	if (pw->memfd >= 0 && pw->memfd_pid != pid) {
		close(pw->memfd);
		pw->memfd = -1;
	}
	if (pw->memfd < 0) {
		r = procfs_open(pid, "mem", O_RDONLY);
		if (r < 0)
			return r;
		pw->memfd = r;
		pw->memfd_pid = pid;
	}
	r = pread_full(pw->memfd, p, len, vaddr);
	if (r < 0 && pw->best_effort) {
		pr_debug("%#llx of process %d could not be read: left out",
			 (unsigned long long)vaddr, pid);
		return r;
	}
	if (r < 0) {
		errno = -r;
		return pr_perror("cannot read %zu bytes at %#llx of process %d", len,
				 (unsigned long long)vaddr, pid);
	}
	return 0;
}

/* One process_vm_readv for the unread PW_SRC_VM segments of seg[c]'s pid,
 * from c on. Where the kernel stops short (a range it refuses, e.g. VM_READ
 * cleared by mprotect after the pagemap said present), the rest of that
 * segment comes from /proc/PID/mem; the segments after it stay unread and
 * go into the next call. */
static int read_vm_batch(struct pw *pw, int c)
{
	struct iovec *liov = pw->liov, *riov = pw->riov;
	pid_t pid = pw->seg[c].pid;
	int *idx = pw->idx, n = 0;
	size_t done = 0;
	ssize_t got;

	for (int i = c; i < pw->nr_seg; i++) {
		struct pw_seg *s = &pw->seg[i];

		if (s->file || s->parent || s->done || s->src != PW_SRC_VM || s->pid != pid)
			continue;
		liov[n].iov_base = pw->cur->mem + s->buf_off;
		riov[n].iov_base = (void *)(uintptr_t)s->vaddr;
		liov[n].iov_len = riov[n].iov_len = s->nr * MEM_PAGE;
		idx[n++] = i;
	}
	got = process_vm_readv(pid, liov, n, riov, n, 0);
	if (got < 0 && errno == ESRCH)
		return pr_perror("cannot read memory of process %d", pid);
	if (got < 0)
		got = 0;	/* refused at the first range */
	for (int k = 0; k < n; k++) {
		struct pw_seg *s = &pw->seg[idx[k]];
		size_t len = s->nr * MEM_PAGE, skip;
		int r;

		s->done = true;
		if (done + len <= (size_t)got) {
			done += len;
			continue;
		}
		skip = ((size_t)got - done) & ~(MEM_PAGE - 1);
		r = read_procmem(pw, pid, s->vaddr + skip, pw->cur->mem + s->buf_off + skip, len - skip);
		if (r < 0 && pw->best_effort && r != -ESRCH) {
			s->lost = true;		/* unmapped while we read: left out */
			r = 0;
		}
		return r < 0 ? r : 0;
	}
	return 0;
}

/* --snapshot wp: a page the process wrote after the freeze was saved in
 * overlay_fd before the write could happen, so whatever the live read got
 * for it is replaced. Looked at only after the read: a page saved while
 * it was read is then seen too (saved before it was unprotected). */
static int apply_overlay(struct pw *pw)
{
	uint64_t upto = 0;

	for (int c = 0; c < pw->nr_seg; c++) {
		const struct pw_seg *s = &pw->seg[c];
		uint64_t off = s->vaddr, end = s->vaddr + s->nr * MEM_PAGE;

		if (s->file || s->parent || !s->done || s->lost || s->src == PW_SRC_FD ||
		    s->pid != pw->overlay_pid)
			continue;
		while (off < end) {
			off_t d = lseek(pw->overlay_fd, (off_t)off, SEEK_DATA), h;
			int r;

			if (d < 0 && errno == ENXIO)
				break;
			if (d < 0 || (h = lseek(pw->overlay_fd, d, SEEK_HOLE)) < 0)
				return pr_perror("cannot look up the snapshot's saved pages");
			if ((uint64_t)d >= end)
				break;
			if ((uint64_t)h > end)
				h = (off_t)end;
			r = pread_full(pw->overlay_fd, pw->cur->mem + s->buf_off + (d - s->vaddr),
				       h - d, d);
			if (r < 0) {
				errno = -r;
				return pr_perror("cannot read the snapshot's saved pages");
			}
			off = h;
		}
		upto = end;
	}
	if (pw->read_upto && upto)
		atomic_store(pw->read_upto, upto);
	return 0;
}

static int pw_read(struct pw *pw)
{
	int r;

	for (int c = 0; c < pw->nr_seg; c++) {
		struct pw_seg *s = &pw->seg[c];

		if (s->file || s->parent || s->done)
			continue;
		if (s->src == PW_SRC_VM) {
			r = read_vm_batch(pw, c);
			if (r < 0)
				return r;
			continue;	/* seg[c] is done; later ones it left are met below */
		}
		if (s->src == PW_SRC_PROCMEM) {
			r = read_procmem(pw, s->pid, s->vaddr, pw->cur->mem + s->buf_off, s->nr * MEM_PAGE);
		} else if ((r = pread_full(s->fd, pw->cur->mem + s->buf_off, s->nr * MEM_PAGE, s->foff)) < 0) {
			errno = -r;
			r = pr_perror("cannot read the object mapped at %#llx",
				      (unsigned long long)s->vaddr);
		}
		if (r < 0 && pw->best_effort && r != -ESRCH) {
			s->lost = true;
			r = 0;
		}
		if (r < 0)
			return r;
		s->done = true;
	}
	return pw->overlay_fd >= 0 ? apply_overlay(pw) : 0;
}

/* Most pages that are not zero differ in their first bytes, so this usually
 * stops at the first 64-byte block; only zero pages are read to the end. */
static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < MEM_PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

static int entry_put(struct pw *pw)
{
	int r = 0;

	if (pw->has_pending)
		r = img_write(pw->pm, &pw->pending);
	pw->has_pending = false;
	return r;
}

/* Record a run; it extends the previous entry when it continues it exactly
 * (same VMA, same kind, adjacent addresses and, for stored pages, adjacent
 * bytes in the pages file), so batch boundaries leave no trace. */
static int entry_add(struct pw *pw, uint64_t vaddr, uint64_t nr, uint32_t flags, uint32_t vma)
{
	PagemapEntry *e = &pw->pending;
	int r;

	if (pw->has_pending && pw->pending_vma == vma && e->flags == flags &&
	    e->vaddr + e->nr_pages * MEM_PAGE == vaddr && e->nr_pages + nr <= UINT32_MAX &&
	    (!(flags & PE_PRESENT) || e->pages_off + e->nr_pages * MEM_PAGE == pw->pages_off)) {
		e->nr_pages += nr;
		return 0;
	}
	while (nr) {
		uint64_t n = nr < UINT32_MAX ? nr : UINT32_MAX;

		if ((r = entry_put(pw)) < 0)
			return r;
		pagemap_entry__init(e);
		e->vaddr = vaddr;
		e->nr_pages = n;
		e->flags = flags;
		e->has_pages_off = !!(flags & PE_PRESENT);
		e->pages_off = e->has_pages_off ? pw->pages_off : 0;
		pw->has_pending = true;
		pw->pending_vma = vma;
		vaddr += n * MEM_PAGE;
		nr -= n;
	}
	return 0;
}

/* Stored pages go out in address order; an iovec joins the previous one
 * when the bytes follow it in the buffer. */
static int store_run(struct pw *pw, const struct pw_seg *s, uint64_t first, uint64_t nr)
{
	uint8_t *p = pw->cur->mem + s->buf_off + first * MEM_PAGE;
	size_t len = nr * MEM_PAGE;
	struct pw_buf *b = pw->cur;
	struct iovec *last = b->nr_wiov ? &b->wiov[b->nr_wiov - 1] : NULL;
	int r;

	r = entry_add(pw, s->vaddr + first * MEM_PAGE, nr, PE_PRESENT, s->vma);
	if (r < 0)
		return r;
	if (last && (uint8_t *)last->iov_base + last->iov_len == p) {
		last->iov_len += len;
	} else {
		/* Never full: runs are split by zero pages (PW_MAX_WIOV). */
		b->wiov[b->nr_wiov++] = (struct iovec){ .iov_base = p, .iov_len = len };
	}
	pw->pages_off += len;
	pw->st->pages_written += nr;
	return 0;
}

enum { PC_DATA, PC_ZERO, PC_SAME };

/* KD_TRACK_HASHES: pages of s equal to the parent's stored page at the same
 * address are marked PC_SAME. The parent's bytes are read run by run. */
static int compare_parent(struct pw *pw, const struct pw_seg *s, uint8_t *cls)
{
	const struct dr_pages *pm = pw->cmp_parent;
	uint64_t k = 0;

	while (k < s->nr) {
		uint64_t va = s->vaddr + k * MEM_PAGE, n;
		const struct dr_run *run = dr_pages_next(pm, va);
		ssize_t got;

		if (!run || run->start >= s->vaddr + s->nr * MEM_PAGE)
			break;
		if (run->start > va) {
			k += (run->start - va) / MEM_PAGE;
			continue;
		}
		n = (run->end - va) / MEM_PAGE;
		n = n < s->nr - k ? n : s->nr - k;
		n = n < PW_CMP_BUF / MEM_PAGE ? n : PW_CMP_BUF / MEM_PAGE;
		if (run->flags != PE_PRESENT) {
			k += n;
			continue;
		}
		got = pread(pm->pages_fd, pw->cmp_buf, n * MEM_PAGE, run->off + (va - run->start));
		if (got != (ssize_t)(n * MEM_PAGE))
			return got < 0 ? pr_perror("cannot read the parent's pages") : -EIO;
		for (uint64_t i = 0; i < n; i++)
			if (cls[k + i] == PC_DATA &&
			    !memcmp(pw->cur->mem + s->buf_off + (k + i) * MEM_PAGE,
				    pw->cmp_buf + i * MEM_PAGE, MEM_PAGE))
				cls[k + i] = PC_SAME;
		k += n;
	}
	return 0;
}

static int emit_run(struct pw *pw, const struct pw_seg *s, int cls, uint64_t first, uint64_t nr)
{
	uint64_t va = s->vaddr + first * MEM_PAGE;

	if (cls == PC_DATA)
		return store_run(pw, s, first, nr);
	if (cls == PC_ZERO)
		pw->st->pages_zero += nr;
	else
		pw->st->pages_parent += nr;
	return entry_add(pw, va, nr, cls == PC_ZERO ? PE_ZERO : PE_PARENT, s->vma);
}

static int emit_copy(struct pw *pw, const struct pw_seg *s)
{
	static uint8_t cls[PW_BUF_SIZE / MEM_PAGE];
	uint64_t start = 0;
	int r;

	for (uint64_t k = 0; k < s->nr; k++)
		cls[k] = page_is_zero(pw->cur->mem + s->buf_off + k * MEM_PAGE) ? PC_ZERO : PC_DATA;
	if (pw->cmp_parent && (r = compare_parent(pw, s, cls)) < 0)
		return r;
	for (uint64_t k = 1; k <= s->nr; k++) {
		if (k < s->nr && cls[k] == cls[start])
			continue;
		r = emit_run(pw, s, cls[start], start, k - start);
		if (r < 0)
			return r;
		start = k;
	}
	return 0;
}

int pw_flush(struct pw *pw)
{
	int r;

	if (!pw->nr_seg)
		return 0;
	r = pw_read(pw);
	for (int i = 0; i < pw->nr_seg && r >= 0; i++) {
		const struct pw_seg *s = &pw->seg[i];

		if (s->file) {
			r = entry_add(pw, s->vaddr, s->nr, PE_FILE, s->vma);
			pw->st->pages_file += s->nr;
		} else if (s->parent) {
			r = entry_add(pw, s->vaddr, s->nr, PE_PARENT, s->vma);
			pw->st->pages_parent += s->nr;
		} else if (s->lost) {
			pw->st->pages_unpopulated += s->nr;
		} else {
			r = emit_copy(pw, s);
		}
	}
	pw->nr_seg = 0;
	pw->buf_used = 0;
	if (r < 0)
		return r;
	/* This buffer goes to the writer; the next batch is read into the
	 * other one as soon as the writer is done with it. */
	r = pww_submit(&pw->writer, pw->cur);
	pw->cur = pw->cur == &pw->b[0] ? &pw->b[1] : &pw->b[0];
	if (r >= 0)
		r = pww_wait(&pw->writer, pw->cur);
	progress(pw, false);
	return r;
}

int pw_finish(struct pw *pw)
{
	int r = pw_flush(pw), r2;

	r2 = pww_stop(&pw->writer, &pw->st->bytes_written);
	progress(pw, true);
	if (r >= 0)
		r = r2;
	return r < 0 ? r : entry_put(pw);
}
