/* VmaEntry from CRIU's vma_entry: the same range, offset, protection and
 * MAP_* flags; CRIU's VMA_* status bits translated to ours; the mapped
 * file named by its files.img entry (path, size, mode, build-id: what
 * convert and restore check a file against); madvise bits; and a VmFlags
 * line made from what CRIU keeps, so that the readers of our smaps-based
 * line (coredump_filter's "dd", restore's "hg" and "nr") find the same. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "images/criu/criu.h"
#include "images/log.h"

/* CRIU's VMA_* status bits (its criu/include/image.h). */
#define C_REGULAR	(1u << 0)
#define C_STACK		(1u << 1)
#define C_VSYSCALL	(1u << 2)
#define C_VDSO		(1u << 3)
#define C_HEAP		(1u << 5)
#define C_FILE_PRIVATE	(1u << 6)
#define C_FILE_SHARED	(1u << 7)
#define C_ANON_SHARED	(1u << 8)
#define C_ANON_PRIVATE	(1u << 9)
#define C_SYSVIPC	(1u << 10)
#define C_SOCKET	(1u << 11)
#define C_VVAR		(1u << 12)
#define C_AIORING	(1u << 13)
#define C_MEMFD		(1u << 14)

/* madvise advice numbers, the bit positions of vma_entry.madv. */
#define ADV_HUGEPAGE	14
#define ADV_NOHUGEPAGE	15
#define ADV_DONTFORK	10
#define ADV_DONTDUMP	16
#define ADV_WIPEONFORK	18

static uint32_t status_of(const Criu__VmaEntry *c)
{
	uint32_t s = c->status;

	if (s & C_VVAR)
		return VMA_VVAR;
	if (s & C_VSYSCALL)
		return VMA_VSYSCALL;
	if (s & C_VDSO)
		return VMA_VDSO;
	if (s & (C_ANON_SHARED | C_SYSVIPC | C_MEMFD))
		return VMA_AREA_REGULAR | VMA_ANON_SHARED;
	if (s & (C_SOCKET | C_AIORING))	/* kernel objects: no mmap makes them again */
		return VMA_ANON;
	if (s & C_FILE_PRIVATE)
		return VMA_AREA_REGULAR | VMA_FILE_PRIVATE;
	if (s & C_FILE_SHARED)
		return VMA_AREA_REGULAR | VMA_FILE_SHARED;
	return VMA_AREA_REGULAR | VMA_ANON | (s & C_HEAP ? VMA_HEAP : 0) |
	       (s & C_STACK ? VMA_STACK : 0);
}

static const char *special_name(uint32_t status)
{
	if (status & VMA_VVAR)
		return "[vvar]";
	if (status & VMA_VSYSCALL)
		return "[vsyscall]";
	if (status & VMA_VDSO)
		return "[vdso]";
	if (status & VMA_HEAP)
		return "[heap]";
	if (status & VMA_STACK)
		return "[stack]";
	return NULL;
}

static uint32_t madv_of(uint64_t m)
{
	return (m >> ADV_DONTFORK & 1 ? VMA_MADV_DONTFORK : 0) |
	       (m >> ADV_WIPEONFORK & 1 ? VMA_MADV_WIPEONFORK : 0) |
	       (m >> ADV_DONTDUMP & 1 ? VMA_MADV_DONTDUMP : 0);
}

/* smaps' VmFlags spelling of what CRIU recorded. */
static char *vmflags_of(const Criu__VmaEntry *c)
{
	uint64_t m = c->has_madv ? c->madv : 0;
	char buf[64];

	snprintf(buf, sizeof(buf), "%s%s%s%s%s%s%s%s%s%s",
		 c->prot & PROT_READ ? "rd " : "", c->prot & PROT_WRITE ? "wr " : "",
		 c->prot & PROT_EXEC ? "ex " : "", c->flags & MAP_SHARED ? "sh " : "",
		 c->flags & MAP_GROWSDOWN ? "gd " : "", c->flags & MAP_NORESERVE ? "nr " : "",
		 m >> ADV_DONTFORK & 1 ? "dc " : "", m >> ADV_DONTDUMP & 1 ? "dd " : "",
		 m >> ADV_HUGEPAGE & 1 ? "hg " : m >> ADV_NOHUGEPAGE & 1 ? "nh " : "",
		 m >> ADV_WIPEONFORK & 1 ? "wf " : "");
	return strdup(buf);
}

static int put_file(const struct cdump *cd, const Criu__VmaEntry *c, VmaEntry *v)
{
	const Criu__FileEntry *f = cfile_find(cd, (uint32_t)c->shmid);
	int r = 0;

	if (!f || !f->reg) {
		pr_err("%s: mapping %#llx-%#llx names file %llu, which files.img lacks",
		       cd->src->label, (unsigned long long)c->start, (unsigned long long)c->end,
		       (unsigned long long)c->shmid);
		return -EINVAL;
	}
	v->file = cident_make(f->reg, &r);
	if (r < 0)
		return r;
	v->name = strdup(f->reg->name);
	if (!v->name)
		return -ENOMEM;
	/* What the kernel dumps the first page of (where debuggers find the
	 * build-id): an executable or ELF file mapped from offset 0. */
	if (!c->pgoff && (f->reg->n_build_id || (f->reg->has_mode && f->reg->mode & 0111)))
		v->status |= VMA_ELF_HEADER;
	return 0;
}

static int make_vma(const struct cdump *cd, const Criu__MmEntry *mm, const Criu__VmaEntry *c,
		    VmaEntry **out)
{
	VmaEntry *v = malloc(sizeof(*v));
	const char *name;

	*out = v;
	if (!v)
		return -ENOMEM;
	vma_entry__init(v);
	v->start = c->start;
	v->end = c->end;
	v->pgoff = c->pgoff;
	v->prot = c->prot;
	v->flags = c->flags;
	v->status = status_of(c);
	/* CRIU marks the heap, not the main stack: it is the one holding
	 * start_stack, as /proc/PID/maps has it. */
	if ((v->status & VMA_ANON) && mm->mm_start_stack >= c->start && mm->mm_start_stack < c->end)
		v->status |= VMA_STACK;
	v->has_madv = 1;
	v->madv = madv_of(c->has_madv ? c->madv : 0);
	v->vmflags = vmflags_of(c);
	if (!v->vmflags)
		return -ENOMEM;
	if (v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED))
		return put_file(cd, c, v);
	name = special_name(v->status);
	if (name && !(v->name = strdup(name)))
		return -ENOMEM;
	return 0;
}

int cvmas_make(const struct cdump *cd, const Criu__MmEntry *mm, VmaEntry ***out, size_t *n)
{
	int r = 0;

	*n = 0;
	*out = calloc(mm->n_vmas ? mm->n_vmas : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < mm->n_vmas && !r; i++, (*n)++)
		r = make_vma(cd, mm, mm->vmas[i], &(*out)[i]);
	return r;
}
