/* Which bytes of a VMA go into the core: the kernel's vma_dump_size()
 * (fs/coredump.c) restated on image data. coredump_filter bits (see
 * core(5)): 0 anon private, 1 anon shared, 2 file private, 3 file shared,
 * 4 ELF headers, 5 hugetlb private, 6 hugetlb shared. */
#include <string.h>
#include <sys/mman.h>

#include "convert/convert.h"

#define F_ANON_PRIVATE		(1u << 0)
#define F_ANON_SHARED		(1u << 1)
#define F_MAPPED_PRIVATE	(1u << 2)
#define F_MAPPED_SHARED		(1u << 3)
#define F_ELF_HEADERS		(1u << 4)
#define F_HUGETLB_PRIVATE	(1u << 5)
#define F_HUGETLB_SHARED	(1u << 6)

bool conv_vmflag(const VmaEntry *v, const char *flag)
{
	size_t fl = strlen(flag);
	const char *p = v->vmflags;

	while (p && *p) {
		size_t n;

		/* Skip every separator the token scan stops at, or a stray
		 * newline in the image would stop the walk in place forever. */
		p += strspn(p, " \t\n");
		n = strcspn(p, " \t\n");
		if (n == fl && !memcmp(p, flag, fl))
			return true;
		p += n;
	}
	return false;
}

static bool vma_shared(const VmaEntry *v)
{
	return (v->flags & MAP_SHARED) || (v->status & (VMA_FILE_SHARED | VMA_ANON_SHARED)) ||
	       conv_vmflag(v, "sh");
}

/* The kernel counts as "anonymous shared" what has no name in any
 * directory: MAP_SHARED|MAP_ANONYMOUS, SysV shm, memfd, deleted files. */
static bool vma_shared_is_anon(const VmaEntry *v)
{
	return (v->status & (VMA_ANON_SHARED | VMA_FILE_DELETED)) || !conv_vma_path(v);
}

static bool vma_has_file(const VmaEntry *v)
{
	return (v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) || conv_vma_path(v);
}

/* The kernel dumps the first page of a mapping at file offset 0 when the
 * file is executable or starts with the ELF magic: where gdb and eu-stack
 * find the build-id of each mapped object. */
static bool vma_elf_header(const VmaEntry *v)
{
	if (v->pgoff || !(v->prot & PROT_READ))
		return false;
	return (v->status & VMA_ELF_HEADER) ||
	       (v->file && v->file->has_mode && (v->file->mode & 0111));
}

uint64_t conv_filter_dump_size(const VmaEntry *v, uint32_t filter, bool written,
			       uint64_t page_size)
{
	uint64_t whole = v->end - v->start;

	/* [vdso] and the vsyscall page are always dumped whole: gdb reads
	 * the vdso's symbols and unwind tables from the core. */
	if (v->status & (VMA_VDSO | VMA_VSYSCALL))
		return whole;
	/* [vvar]/[vvar_vclock] are kernel pages no read can see: holes. */
	if (v->status & VMA_VVAR)
		return 0;
	if ((v->has_madv && (v->madv & VMA_MADV_DONTDUMP)) || conv_vmflag(v, "dd"))
		return 0;
	if (conv_vmflag(v, "ht")) {
		if (vma_shared(v))
			return filter & F_HUGETLB_SHARED ? whole : 0;
		return filter & F_HUGETLB_PRIVATE ? whole : 0;
	}
	if (conv_vmflag(v, "io"))
		return 0;
	if (vma_shared(v)) {
		if (vma_shared_is_anon(v))
			return filter & F_ANON_SHARED ? whole : 0;
		return filter & F_MAPPED_SHARED ? whole : 0;
	}
	if (written && (filter & F_ANON_PRIVATE))
		return whole;
	if (!vma_has_file(v))
		return 0;
	if (filter & F_MAPPED_PRIVATE)
		return whole;
	if ((filter & F_ELF_HEADERS) && vma_elf_header(v))
		return page_size < whole ? page_size : whole;
	return 0;
}
