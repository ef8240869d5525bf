/* The VMAs of a process as /proc/PID/maps (or smaps, for VmFlags) lists
 * them. Pure parsing, no dump policy: restore may use it to look at the
 * address space it is building, mem.c to decide what to dump. */
#ifndef CRIU_LITE_VMA_H
#define CRIU_LITE_VMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* smaps VmFlags codes this tool acts on (the text is kept verbatim too). */
#define VMF_GROWSDOWN	(1u << 0)	/* gd */
#define VMF_SHARED	(1u << 1)	/* sh */
#define VMF_IO		(1u << 2)	/* io: process_vm_readv and /proc/PID/mem refuse it */
#define VMF_PFNMAP	(1u << 3)	/* pf */
#define VMF_DONTCOPY	(1u << 4)	/* dc: MADV_DONTFORK */
#define VMF_WIPEONFORK	(1u << 5)	/* wf */
#define VMF_DONTDUMP	(1u << 6)	/* dd */
#define VMF_HUGETLB	(1u << 7)	/* ht */
#define VMF_MIXEDMAP	(1u << 8)	/* mm */
#define VMF_LOCKED	(1u << 9)	/* lo */
#define VMF_UFFD_WP	(1u << 10)	/* uw: registered for userfaultfd write-protect */
#define VMF_UFFD_ANY	(1u << 11)	/* um or ui: registered for missing or minor faults */

enum vma_kind {
	VMAK_NONE,	/* no name: anonymous */
	VMAK_FILE,	/* a path (maybe deleted) */
	VMAK_HEAP,
	VMAK_STACK,
	VMAK_VDSO,
	VMAK_VVAR,	/* [vvar] and [vvar_vclock] (6.13+) */
	VMAK_VSYSCALL,
	VMAK_ANON_NAMED,	/* [anon:NAME] (PR_SET_VMA_ANON_NAME) */
	VMAK_SHMEM_NAMED,	/* [anon_shmem:NAME] */
	VMAK_OTHER,	/* any other [label], e.g. [uprobes] */
};

struct vma {
	uint64_t start, end, pgoff;	/* pgoff in bytes, as maps prints it */
	uint64_t dev, ino;		/* dev as makedev(major, minor) */
	uint32_t prot;			/* PROT_* */
	uint32_t vmf;			/* VMF_*, from smaps only */
	uint32_t page_kb;		/* smaps KernelPageSize (hugetlb: its page), 0 from maps */
	bool shared;			/* 's' in the permissions */
	bool deleted;			/* name ended in " (deleted)" (stripped from name) */
	enum vma_kind kind;
	char *name;			/* path or [label] as maps shows it, "" if none */
	char *vmflags;			/* smaps VmFlags text, NULL when read from maps */
};

struct vma_list {
	struct vma *v;
	size_t nr;
};

/* Parse /proc/PID/smaps (with_smaps) or /proc/PID/maps. Returns 0 or -errno
 * (logged, except ESRCH/ENOENT: the process is gone). */
int vma_list_read(pid_t pid, bool with_smaps, struct vma_list *out);
/* Parse a maps/smaps text already read (the same format); for tests. */
int vma_list_parse(char *text, struct vma_list *out);
void vma_list_free(struct vma_list *l);
/* The VMA holding addr, by binary search, or NULL. */
const struct vma *vma_list_find(const struct vma_list *l, uint64_t addr);

/* A VMA with no file behind it (private or shared anonymous, heap, stack). */
static inline bool vma_is_anon(const struct vma *v)
{
	return v->kind == VMAK_NONE || v->kind == VMAK_HEAP || v->kind == VMAK_STACK ||
	       v->kind == VMAK_ANON_NAMED || v->kind == VMAK_SHMEM_NAMED;
}

#endif
