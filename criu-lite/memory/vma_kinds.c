/* Kinds of memory that need more than prot, flags and pages to come back:
 *  - an aio ring (io_setup): the kernel's "/[aio]" file, shared. Its pages
 *    are read from the process (the file cannot be read); restore makes a
 *    new context of the same size and moves its ring here, so the size is
 *    recorded as the io_setup() request that gives a ring this big;
 *  - anonymous hugetlb (MAP_HUGETLB): a deleted "/anon_hugepage" file to
 *    maps. Private: anonymous memory; shared: a shared object, as shmem is.
 *    Both keep their page size (smaps KernelPageSize);
 *  - guard regions (MADV_GUARD_INSTALL, 6.13+): no VMA of their own, only
 *    page-table markers the pagemap shows (PAGEMAP_SCAN: PAGE_IS_GUARD).
 *    6.18 marks a VMA that may hold some ("gu" in VmFlags): others are not
 *    walked; before 6.18 every VMA is. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include "common/pagemap_scan.h"
#include "criu-lite/memory/mem_internal.h"
#include "images/log.h"

#define AIO_RING_HDR 32		/* struct aio_ring */
#define AIO_EVENT 32		/* struct io_event */
#define GUARD_VEC 256

static bool is_aio(const struct vma *v)
{
	return v->shared && v->deleted && !strcmp(v->name, "/[aio]");
}

static bool is_anon_hugetlb(const struct vma *v)
{
	return (v->vmf & VMF_HUGETLB) && v->deleted && !strcmp(v->name, "/anon_hugepage");
}

bool mem_vma_kernel_object(const struct vma *v, struct mem_vma *mv)
{
	if (is_aio(v)) {
		mv->status = VMA_AREA_REGULAR | VMA_ANON_SHARED;
		mv->flags |= MAP_ANONYMOUS;
		mv->policy = MP_ANON;	/* resident pages, from the process */
		return true;
	}
	if (!is_anon_hugetlb(v))
		return false;
	mv->flags |= MAP_ANONYMOUS;
	mv->status = VMA_AREA_REGULAR | (v->shared ? VMA_ANON_SHARED : VMA_ANON);
	mv->policy = v->shared ? MP_OBJECT : MP_ANON;
	return true;
}

/* Does this kernel mark VMAs that may hold guard regions ("gu", 6.18)? */
static bool kernel_marks_guards(void)
{
	static int known = -1;
	struct utsname u;
	int major = 0, minor = 0;

	if (known < 0)
		known = !uname(&u) && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
			(major > 6 || (major == 6 && minor >= 18));
	return known;
}

static bool has_flag(const char *vmflags, const char *code)
{
	for (const char *p = vmflags; p && *p; p += strcspn(p, " "), p += strspn(p, " "))
		if (!strncmp(p, code, 2) && (p[2] == ' ' || !p[2]))
			return true;
	return false;
}

static int add_guard(VmaEntry *e, uint64_t start, uint64_t end)
{
	uint64_t *n = realloc(e->guards, (e->n_guards + 2) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	e->guards = n;
	n[e->n_guards++] = start;
	n[e->n_guards++] = end;
	return 0;
}

static int scan_guards(pid_t pid, const struct vma *v, VmaEntry *e)
{
	struct page_region rg[GUARD_VEC];
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = v->start, .end = v->end, .vec = (uintptr_t)rg,
		.vec_len = GUARD_VEC, .category_mask = PAGE_IS_GUARD, .return_mask = PAGE_IS_GUARD,
	};
	char path[64];
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("cannot open %s", path);
	while (!r && arg.start < arg.end) {
		long n = ioctl(fd, PAGEMAP_SCAN, &arg);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* No PAGE_IS_GUARD (before 6.14): no guard regions either. */
			if (errno != EINVAL)
				r = pr_perror("PAGEMAP_SCAN of %s at %#llx", path,
					      (unsigned long long)arg.start);
			break;
		}
		for (long i = 0; !r && i < n; i++)
			r = add_guard(e, rg[i].start, rg[i].end);
		arg.start = arg.walk_end;
	}
	close(fd);
	return r;
}

int mem_vma_kinds(const struct mem_vma *mv, VmaEntry *e)
{
	const struct vma *v = mv->v;

	if (v->vmf & VMF_HUGETLB && v->page_kb) {
		e->has_page_kb = 1;
		e->page_kb = v->page_kb;
	}
	if (is_aio(v) && v->end - v->start > AIO_RING_HDR) {
		uint64_t events = (v->end - v->start - AIO_RING_HDR) / AIO_EVENT;

		e->has_aio_nr = 1;
		e->aio_nr = (uint32_t)((events - 2) / 2);
	}
	if (!(mv->status & VMA_AREA_REGULAR) || v->vmf & (VMF_HUGETLB | VMF_IO | VMF_PFNMAP) ||
	    (kernel_marks_guards() && !has_flag(v->vmflags, "gu")))
		return 0;
	return scan_guards(mv->pid, v, e);
}

void mem_vma_kinds_done(VmaEntry *e)
{
	free(e->guards);
	e->guards = NULL;
	e->n_guards = 0;
}
