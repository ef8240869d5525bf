/* What a dumped VMA asks of mmap and madvise beyond prot and flags:
 *  - mmap: anonymous hugetlb with its page size (MAP_HUGETLB | MAP_HUGE_*),
 *    MAP_DROPPABLE ("dp" in VmFlags, 6.11+);
 *  - after the pages: the madvise state VmFlags shows (DONTFORK,
 *    WIPEONFORK, DONTDUMP, HUGEPAGE, NOHUGEPAGE, MERGEABLE, SEQUENTIAL,
 *    RANDOM), guard regions (MADV_GUARD_INSTALL), mlock, and mseal last
 *    (a sealed VMA takes no more changes). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "images/log.h"
#include "restore/rst.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef __NR_mseal
#define __NR_mseal 462
#endif

static bool has_flag(const VmaEntry *v, const char *code)
{
	for (const char *p = v->vmflags; p && *p; p += strcspn(p, " "), p += strspn(p, " "))
		if (!strncmp(p, code, 2) && (p[2] == ' ' || !p[2]))
			return true;
	return false;
}

uint64_t rst_vma_mmap_flags(const VmaEntry *v, uint64_t flags)
{
	if (v->has_page_kb && v->page_kb > 4 && (flags & MAP_ANONYMOUS)) {
		uint64_t bytes = (uint64_t)v->page_kb * 1024;

		flags |= MAP_HUGETLB | ((uint64_t)__builtin_ctzll(bytes) << MAP_HUGE_SHIFT);
	}
	if (has_flag(v, "dp") && !(flags & MAP_SHARED))
		flags = (flags & ~(uint64_t)MAP_PRIVATE) | MAP_DROPPABLE;
	return flags;
}

static const struct {
	char code[3];
	uint32_t madv_bit;	/* older images say these in `madv` too */
	int advice;
} advices[] = {
	{ "dc", VMA_MADV_DONTFORK, MADV_DONTFORK },
	{ "wf", VMA_MADV_WIPEONFORK, MADV_WIPEONFORK },
	{ "dd", VMA_MADV_DONTDUMP, MADV_DONTDUMP },
	{ "hg", 0, MADV_HUGEPAGE },
	{ "nh", 0, MADV_NOHUGEPAGE },
	{ "mg", 0, MADV_MERGEABLE },
	{ "sr", 0, MADV_SEQUENTIAL },
	{ "rr", 0, MADV_RANDOM },
};

static int add(struct rst_inj *j, struct rst_batch *b, const char *what, long nr, uint64_t a1,
	       uint64_t a2, uint64_t a3)
{
	return rst_batch_add(j, b, what, nr, a1, a2, a3, 0, 0, 0);
}

int rst_vma_advise(struct rst_proc *p, struct rst_inj *j, struct rst_batch *b, size_t idx)
{
	const VmaEntry *v = p->vma[idx];
	uint64_t len = v->end - v->start;
	int r = 0;

	for (size_t i = 0; !r && i < sizeof(advices) / sizeof(advices[0]); i++) {
		/* Droppable memory has these of itself, and refuses to lose them. */
		if (has_flag(v, "dp") && (advices[i].advice == MADV_WIPEONFORK ||
					  advices[i].advice == MADV_DONTDUMP))
			continue;
		if (has_flag(v, advices[i].code) ||
		    (v->has_madv && (v->madv & advices[i].madv_bit)))
			r = add(j, b, "madvise", __NR_madvise, v->start, len,
				(uint64_t)advices[i].advice);
	}
	/* Guards refuse a locked VMA: they go first. */
	for (size_t g = 0; !r && g + 1 < v->n_guards; g += 2)
		r = add(j, b, "madvise(MADV_GUARD_INSTALL)", __NR_madvise, v->guards[g],
			v->guards[g + 1] - v->guards[g], MADV_GUARD_INSTALL);
	if (!r && has_flag(v, "lo"))
		r = add(j, b, "mlock2", __NR_mlock2, v->start, len,
			has_flag(v, "lf") ? MLOCK_ONFAULT : 0);
	if (!r && has_flag(v, "sl"))
		r = add(j, b, "mseal", __NR_mseal, v->start, len, 0);
	return r;
}
