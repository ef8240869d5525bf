/* Which pages of a VMA to capture, from /proc/PID/pagemap (its PAGEMAP_SCAN
 * ioctl, or reads covering 256 MiB each on older kernels) or, for shared
 * objects, from the object itself: the scanning helpers the page sources
 * use (page_src.h).
 * Nothing here touches the target's memory: a page that is neither present
 * nor swapped is a hole and is never read, because on this kernel (no shared
 * zero page) reading it would allocate it in the target. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <valgrind/memcheck.h>

#include "common/kerndat.h"
#include "common/procfs.h"
#include "criu-lite/memory/mem_internal.h"
#include "common/pagemap_scan.h"
#include "images/log.h"

#define PM_CHUNK	65536	/* entries per pread: 512 KiB of pagemap */

#define PM_PRESENT	(1ull << 63)
#define PM_SWAP		(1ull << 62)
#define PM_FILE		(1ull << 61)	/* page-cache page or shared anon, not a COW copy */

#define PM_SOFT_DIRTY	(1ull << 55)	/* written since clear_refs 4 */
#define PM_UFFD_WP	(1ull << 57)	/* uffd write-protected: not written since protected */

/* PMC_CLEAN: a page to copy, except that the tracker says it was not
 * written since the parent dump: the parent may have it. */
enum pm_class { PMC_HOLE, PMC_COPY, PMC_FILE, PMC_CLEAN };


bool pm_no_scan_ioctl;

int pm_init(struct pm_ctx *pc, struct pw *pw)
{
	pc->pw = pw;
	pc->no_ioctl = pm_no_scan_ioctl;
	pc->pm_fd[0] = pc->pm_fd[1] = -1;
	pc->pm_pid[0] = pc->pm_pid[1] = 0;
	pc->pm = malloc(PM_CHUNK * sizeof(uint64_t));
	return pc->pm ? 0 : -ENOMEM;
}

void pm_fini(struct pm_ctx *pc)
{
	if (!pc->pw)
		return;	/* never initialised */
	for (int i = 0; i < 2; i++)
		if (pc->pm_fd[i] >= 0)
			close(pc->pm_fd[i]);
	free(pc->pm);
	pc->pm = NULL;
}

static int pm_fd_of(struct pm_ctx *pc, pid_t pid)
{
	int slot, fd;

	for (slot = 0; slot < 2; slot++)
		if (pc->pm_fd[slot] >= 0 && pc->pm_pid[slot] == pid)
			return pc->pm_fd[slot];
	slot = pc->pm_fd[0] < 0 ? 0 : 1;
	if (pc->pm_fd[slot] >= 0)
		close(pc->pm_fd[slot]);
	fd = procfs_open(pid, "pagemap", O_RDONLY);
	pc->pm_fd[slot] = fd < 0 ? -1 : fd;
	if (fd < 0)
		return fd;
	pc->pm_pid[slot] = pid;
	return pc->pm_fd[slot];
}

static enum pm_class pm_classify(uint64_t e, enum mem_policy pol)
{
	if (!(e & (PM_PRESENT | PM_SWAP)))
		return PMC_HOLE;
	switch (pol) {
	case MP_PRIV_FILE:
		/* Present and still the page-cache page: never written. */
		return (e & (PM_PRESENT | PM_FILE)) == (PM_PRESENT | PM_FILE) ? PMC_FILE : PMC_COPY;
	case MP_SHARED_FILE:
		return PMC_FILE;
	default:
		return PMC_COPY;
	}
}

/* pm_classify, then what the tracker of an incremental dump says. */
static enum pm_class classify(const struct pm_ctx *pc, uint64_t e, enum mem_policy pol)
{
	enum pm_class c = pm_classify(e, pol);

	if (c != PMC_COPY || !pc->pw->parent)
		return c;
	if (pc->track == KD_TRACK_PAGEMAP_SCAN && (e & PM_UFFD_WP))
		return PMC_CLEAN;
	if (pc->track == KD_TRACK_SOFT_DIRTY && !(e & PM_SOFT_DIRTY))
		return PMC_CLEAN;
	return c;
}

/* A mapped object read by offset: offset == address + delta. */
struct obj_src {
	struct page_src s;
	int fd;
	int64_t delta;
};

static int obj_read(struct page_src *s, struct page_batch *b, const int *idx, int n)
{
	const struct obj_src *o = (const struct obj_src *)s;

	return page_src_pread(s, b, idx, n, o->fd, o->delta);
}

static int obj_populated(struct page_src *s, uint64_t addr, uint64_t end, uint64_t *start,
			 uint64_t *stop)
{
	const struct obj_src *o = (const struct obj_src *)s;
	int r = page_fd_data(o->fd, addr + o->delta, end + o->delta, start, stop);

	if (r < 0) {
		errno = -r;
		return pr_perror("cannot seek the object mapped at %#llx",
				 (unsigned long long)addr);
	}
	if (r > 0) {
		*start -= o->delta;
		*stop -= o->delta;
	}
	return r;
}

static const struct page_src_ops obj_ops = {
	.name = "the object mapped",
	.populated = obj_populated,
	.read = obj_read,
};

struct scan {
	const struct mem_vma *mv;
	uint32_t idx;
	const struct pm_from *from;
	/* MP_OBJECT: the object; MP_DELETED_PRIV: the file, for pages never
	 * faulted in (fd -1 when none) */
	struct obj_src obj;
};

/* A hole of a private mapping of a deleted file still has content: the
 * file's, which nobody could read back after restore. Take it from the file
 * (never from memory), up to the file's end. */
static int hole_of_deleted(struct pm_ctx *pc, const struct scan *sc, uint64_t addr, uint64_t nr)
{
	uint64_t foff = addr + sc->obj.delta, size = sc->mv->file->size, avail;

	if (foff >= size) {
		pc->pw->st->pages_unpopulated += nr;
		return 0;
	}
	avail = (size - foff + MEM_PAGE - 1) / MEM_PAGE;
	if (avail < nr)
		pc->pw->st->pages_unpopulated += nr - avail;
	return pw_add_copy(pc->pw, addr, avail < nr ? avail : nr, sc->idx,
			   (struct page_src *)&sc->obj.s, 0);
}

/* Not written since the parent dump: PE_PARENT where the parent holds the
 * page (stored, zero, or in its own parent), copied where it does not (a
 * page populated since by a read, say). */
static int queue_clean(struct pm_ctx *pc, const struct scan *sc, uint64_t addr, uint64_t nr)
{
	struct page_src *parent = pc->pw->parent;
	uint64_t end = addr + nr * MEM_PAGE, start, stop;
	int r = 0;

	while (addr < end && r >= 0) {
		int got = parent->ops->populated(parent, addr, end, &start, &stop);

		if (got < 0)
			return got;
		if (!got)
			start = stop = end;
		if (start > addr)
			r = pw_add_copy(pc->pw, addr, (start - addr) / MEM_PAGE, sc->idx,
					sc->from->reader, sc->from->via);
		if (r >= 0 && stop > start)
			r = pw_add_parent(pc->pw, start, (stop - start) / MEM_PAGE, sc->idx);
		addr = stop;
	}
	return r;
}

static int queue_run(struct pm_ctx *pc, const struct scan *sc, enum pm_class cls, uint64_t addr,
		     uint64_t nr)
{
	switch (cls) {
	case PMC_CLEAN:
		return queue_clean(pc, sc, addr, nr);
	case PMC_FILE:
		return pw_add_file(pc->pw, addr, nr, sc->idx);
	case PMC_COPY:
		return pw_add_copy(pc->pw, addr, nr, sc->idx, sc->from->reader, sc->from->via);
	case PMC_HOLE:
		if (sc->obj.fd >= 0)
			return hole_of_deleted(pc, sc, addr, nr);
		pc->pw->st->pages_unpopulated += nr;
		return 0;
	}
	return 0;
}

/* uffd-wp keeps its protection of a page that is not there (never
 * populated and protected, or zapped after protection) in a PTE marker,
 * which the pagemap shows as a swap entry (PAGEMAP_SCAN: PAGE_IS_SWAPPED).
 * A marker is a hole: reading it would populate it. Its swap type is found
 * by making one on a page of ours; -1 when frames are hidden (no
 * CAP_SYS_ADMIN): then such an entry cannot be told from swap and is read. */
static int marker_type = -2;

#define PM_FRAME	((1ull << 55) - 1)
#define PM_GUARD	(1ull << 58)	/* MADV_GUARD_INSTALL region (6.15) */
#define SWP_TYPE_BITS	5		/* MAX_SWAPFILES_SHIFT */

static int probe_marker_type(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 1 << 15 /* WP_ASYNC */ };
	void *p = mmap(NULL, MEM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), type = -1;
	uint64_t e = 0;

	if (p != MAP_FAILED && uffd >= 0 && pm >= 0 && !ioctl(uffd, UFFDIO_API, &api)) {
		struct uffdio_register reg = { .range = { (uintptr_t)p, MEM_PAGE },
					       .mode = UFFDIO_REGISTER_MODE_WP };
		struct uffdio_writeprotect wp = { .range = { (uintptr_t)p, MEM_PAGE },
						  .mode = UFFDIO_WRITEPROTECT_MODE_WP };

		if (!ioctl(uffd, UFFDIO_REGISTER, &reg) && !ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) &&
		    pread(pm, &e, 8, (uintptr_t)p / MEM_PAGE * 8) == 8 && (e & PM_SWAP) &&
		    (e & PM_FRAME))
			type = (int)(e & ((1u << SWP_TYPE_BITS) - 1));
	}
	if (pm >= 0)
		close(pm);
	if (uffd >= 0)
		close(uffd);
	if (p != MAP_FAILED)
		munmap(p, MEM_PAGE);
	pr_debug("uffd-wp marker swap type: %d", type);
	return type;
}

/* Not data at all: a uffd-wp marker or a guard region. */
static bool pm_not_data(uint64_t e)
{
	if (e & PM_GUARD)
		return true;
	if (!(e & PM_SWAP) || !(e & PM_UFFD_WP))
		return false;
	if (marker_type == -2)
		marker_type = probe_marker_type();
	return marker_type >= 0 && (int)(e & ((1u << SWP_TYPE_BITS) - 1)) == marker_type;
}

static enum pm_class classify_entry(const struct pm_ctx *pc, uint64_t e, enum mem_policy pol)
{
	return pm_not_data(e) ? PMC_HOLE : classify(pc, e, pol);
}

/* [start, end) from the pagemap file: 8 bytes per page, populated or not. */
static int scan_pread_range(struct pm_ctx *pc, const struct scan *sc, pid_t pm_pid, int fd,
			    uint64_t start, uint64_t end, uint64_t *buf, uint64_t bufn)
{
	for (uint64_t addr = start; addr < end;) {
		uint64_t n = (end - addr) / MEM_PAGE, i = 0;
		ssize_t got;

		if (n > bufn)
			n = bufn;
		got = pread(fd, buf, n * 8, addr / MEM_PAGE * 8);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = ESRCH;
			return pr_perror("cannot read /proc/%d/pagemap at %#llx", pm_pid,
					 (unsigned long long)addr);
		}
		n = got / 8;
		while (i < n) {
			enum pm_class cls = classify_entry(pc, buf[i], sc->mv->policy);
			uint64_t j = i + 1;
			int r;

			while (j < n && classify_entry(pc, buf[j], sc->mv->policy) == cls)
				j++;
			r = queue_run(pc, sc, cls, addr + i * MEM_PAGE, j - i);
			if (r < 0)
				return r;
			i = j;
		}
		addr += n * MEM_PAGE;
	}
	return 0;
}

static int scan_pread(struct pm_ctx *pc, const struct scan *sc, pid_t pm_pid, int fd)
{
	return scan_pread_range(pc, sc, pm_pid, fd, sc->mv->v->start, sc->mv->v->end, pc->pm,
				PM_CHUNK);
}

static uint64_t region_bits(const struct pm_ctx *pc, uint64_t cat)
{
	uint64_t e = ((cat & PAGE_IS_PRESENT) ? PM_PRESENT : 0) |
		     ((cat & PAGE_IS_SWAPPED) ? PM_SWAP : 0) | ((cat & PAGE_IS_FILE) ? PM_FILE : 0);

	/* Asked for only when tracking (track_return_mask). */
	if (pc->pw->parent && pc->track == KD_TRACK_PAGEMAP_SCAN && !(cat & PAGE_IS_WRITTEN))
		e |= PM_UFFD_WP;
	if (cat & PAGE_IS_SOFT_DIRTY)
		e |= PM_SOFT_DIRTY;
	return e;
}

static uint64_t track_return_mask(const struct pm_ctx *pc)
{
	if (!pc->pw->parent)
		return 0;
	return pc->track == KD_TRACK_PAGEMAP_SCAN ? PAGE_IS_WRITTEN :
	       pc->track == KD_TRACK_SOFT_DIRTY ? PAGE_IS_SOFT_DIRTY : 0;
}

/* Returns 1 when the kernel has no PAGEMAP_SCAN (the caller falls back). */
#define SWAP_BUF 4096
static uint64_t swap_buf[SWAP_BUF];	/* pc->pm holds the region vector meanwhile */
static bool guard_ok = true;

static int scan_ioctl(struct pm_ctx *pc, const struct scan *sc, pid_t pm_pid, int fd)
{
	const struct vma *v = sc->mv->v;
	struct page_region *rg = (struct page_region *)pc->pm;
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = v->start, .end = v->end, .vec = (uintptr_t)rg,
		.vec_len = PM_CHUNK * sizeof(uint64_t) / sizeof(*rg),
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE |
			       (guard_ok ? PAGE_IS_GUARD : 0) | track_return_mask(pc),
	};
	uint64_t at = v->start, next;
	int r;

	for (;;) {
		long n = ioctl(fd, PAGEMAP_SCAN, &arg);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && (arg.return_mask & PAGE_IS_GUARD)) {
			guard_ok = false;	/* before 6.14: no such category */
			arg.return_mask &= ~(uint64_t)PAGE_IS_GUARD;
			continue;
		}
		if (n < 0 && at == v->start && (errno == ENOTTY || errno == EINVAL)) {
			pc->no_ioctl = true;
			return 1;
		}
		if (n < 0)
			return pr_perror("PAGEMAP_SCAN of process %d at %#llx failed", pm_pid,
					 (unsigned long long)arg.start);
		/* valgrind 3.19 does not know the ioctl fills n regions of vec */
		VALGRIND_MAKE_MEM_DEFINED(rg, n * sizeof(*rg));
		for (long i = 0; i < n; i++) {
			if (rg[i].start > at && (r = queue_run(pc, sc, PMC_HOLE, at,
							      (rg[i].start - at) / MEM_PAGE)) < 0)
				return r;
			/* Swap entries may be markers: the pagemap file tells. */
			if (rg[i].categories & (PAGE_IS_SWAPPED | PAGE_IS_GUARD))
				r = scan_pread_range(pc, sc, pm_pid, fd, rg[i].start, rg[i].end,
						     swap_buf, SWAP_BUF);
			else
				r = queue_run(pc, sc, classify(pc, region_bits(pc, rg[i].categories),
							       sc->mv->policy),
					      rg[i].start, (rg[i].end - rg[i].start) / MEM_PAGE);
			if (r < 0)
				return r;
			at = rg[i].end;
		}
		/* Stopped early (the vector, or the kernel's own buffer, filled
		 * up): go on from there. 6.18 may already have returned regions
		 * past walk_end (a whole region starting at it): never twice. */
		next = arg.walk_end > at ? arg.walk_end : at;
		if (next >= v->end || next <= arg.start)
			break;
		arg.start = next;
	}
	return at < v->end ? queue_run(pc, sc, PMC_HOLE, at, (v->end - at) / MEM_PAGE) : 0;
}

static int scan_pagemap(struct pm_ctx *pc, const struct scan *sc, pid_t pm_pid)
{
	int fd = pm_fd_of(pc, pm_pid), r = 1;

	if (fd < 0)
		return fd;
	if (!pc->no_ioctl)
		r = scan_ioctl(pc, sc, pm_pid, fd);
	return r == 1 ? scan_pread(pc, sc, pm_pid, fd) : r;
}

/* The ranges s says are populated in [v->start, end), read by s; the rest
 * of the VMA is a hole. */
static int queue_populated(struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx,
			   struct page_src *s, uint64_t end)
{
	const struct vma *v = mv->v;
	uint64_t at = v->start, covered = 0, start, stop;

	while (at < end) {
		int r = s->ops->populated(s, at, end, &start, &stop);

		if (r <= 0) {
			if (r < 0)
				return r;
			break;
		}
		r = pw_add_copy(pc->pw, start, (stop - start) / MEM_PAGE, idx, s, 0);
		if (r < 0)
			return r;
		covered += (stop - start) / MEM_PAGE;
		at = stop;
	}
	pc->pw->st->pages_unpopulated += (v->end - v->start) / MEM_PAGE - covered;
	return 0;
}

/* Shared memory objects (shared anon, memfd, SysV shm, deleted shared
 * files): their data may have been written through another process's
 * mapping, so this process's page tables do not tell what is populated. The
 * object does: SEEK_DATA/SEEK_HOLE over the mapped range, then pread from
 * it. That never populates the target's page tables, so its RSS is
 * untouched. */
static int scan_object(struct pm_ctx *pc, struct scan *sc)
{
	const struct vma *v = sc->mv->v;
	uint64_t hi = v->pgoff + (v->end - v->start);

	if (hi > sc->mv->file->size)
		hi = (sc->mv->file->size + MEM_PAGE - 1) & ~(MEM_PAGE - 1);
	return queue_populated(pc, sc->mv, sc->idx, &sc->obj.s, hi - sc->obj.delta);
}

int pm_scan_vma(struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx,
		const struct pm_from *f)
{
	const struct vma *v = mv->v;
	struct scan sc = { .mv = mv, .idx = idx, .from = f,
			   .obj = { .s = { .ops = &obj_ops, .best_effort = f->reader->best_effort },
				    .fd = -1, .delta = (int64_t)(v->pgoff - v->start) } };
	uint64_t pages = (v->end - v->start) / MEM_PAGE;
	int fd = -1, r;

	if (mv->policy == MP_SKIP)
		return 0;
	pc->pw->st->bytes_scanned += v->end - v->start;
	pc->pw->st->pages_scanned += pages;
	if (mv->policy == MP_WHOLE)
		return pw_add_copy(pc->pw, v->start, pages, idx, f->reader, f->via);
	if ((mv->policy == MP_OBJECT || mv->policy == MP_DELETED_PRIV) && mv->file) {
		fd = mem_vma_open_object(f->obj_pid, v);
		if (fd < 0 && f->obj_pid != f->pm_pid)
			fd = mem_vma_open_object(f->pm_pid, v);
		if (fd < 0)
			pr_warn("cannot open the object mapped at %#llx (%s): only its resident pages are dumped",
				(unsigned long long)v->start, mv->name);
	}
	sc.obj.fd = fd;
	if (fd >= 0 && mv->policy == MP_OBJECT)
		r = scan_object(pc, &sc);
	else
		r = scan_pagemap(pc, &sc, f->pm_pid);
	/* Queued runs are read from fd: read them before it closes. */
	if (fd >= 0) {
		if (r >= 0)
			r = pw_flush(pc->pw);
		close(fd);
	}
	return r;
}

int pm_scan_populated(struct pm_ctx *pc, const struct mem_vma *mv, uint32_t idx,
		      struct page_src *s)
{
	const struct vma *v = mv->v;

	if (mv->policy == MP_SKIP)
		return 0;
	pc->pw->st->bytes_scanned += v->end - v->start;
	pc->pw->st->pages_scanned += (v->end - v->start) / MEM_PAGE;
	return queue_populated(pc, mv, idx, s, v->end);
}

void pm_set_parent(struct pm_ctx *pc, struct page_src *parent, int track)
{
	pc->pw->parent = parent;
	pc->track = track;
}

/* Whether any page of [start, end) is present or swapped in pid: 1, 0, or
 * -errno. Reads the pagemap (in chunks) until it finds one. */
int pm_has_pages(struct pm_ctx *pc, pid_t pid, uint64_t start, uint64_t end)
{
	int fd = pm_fd_of(pc, pid);

	if (fd < 0)
		return fd;
	for (uint64_t addr = start; addr < end;) {
		uint64_t n = (end - addr) / MEM_PAGE;
		ssize_t got;

		n = n < PM_CHUNK ? n : PM_CHUNK;
		got = pread(fd, pc->pm, n * 8, addr / MEM_PAGE * 8);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -ESRCH;
		for (ssize_t i = 0; i < got / 8; i++)
			if (pc->pm[i] & (PM_PRESENT | PM_SWAP))
				return 1;
		addr += (uint64_t)got / 8 * MEM_PAGE;
	}
	return 0;
}
