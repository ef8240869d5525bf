/* Which VMAs a dump takes, read from /proc/PID/smaps; or, in a frozen
 * phase, from maps with the smaps flags of a list read before the freeze. */
#include <stdlib.h>
#include <string.h>

#include "criu-lite/memory/mem.h"

int mem_read_vmas(pid_t pid, struct vma_list *vl)
{
	return vma_list_read(pid, true, vl);
}

static bool same_vma(const struct vma *a, const struct vma *b)
{
	return a->start == b->start && a->end == b->end && a->pgoff == b->pgoff &&
	       a->dev == b->dev && a->ino == b->ino && a->prot == b->prot &&
	       a->shared == b->shared && a->deleted == b->deleted && !strcmp(a->name, b->name);
}

/* maps now, flags from the prefetch: 1 if every VMA is still the same one
 * (then vl has them all), 0 if not (vl freed: read smaps instead). */
static int vmas_from_prefetch(pid_t pid, const struct vma_list *pre, struct vma_list *vl)
{
	int r = vma_list_read(pid, false, vl);

	if (r < 0)
		return r;
	for (size_t i = 0; i < vl->nr; i++) {
		const struct vma *old = vma_list_find(pre, vl->v[i].start);

		if (!old || !same_vma(old, &vl->v[i]) || !old->vmflags ||
		    !(vl->v[i].vmflags = strdup(old->vmflags))) {
			vma_list_free(vl);
			return 0;
		}
		vl->v[i].vmf = old->vmf;
	}
	return 1;
}

int mem_read_vmas_frozen(pid_t pid, const struct vma_list *pre, struct vma_list *vl)
{
	int r = 0;

	if (pre && pre->nr)
		r = vmas_from_prefetch(pid, pre, vl);
	return r ? (r < 0 ? r : 0) : mem_read_vmas(pid, vl);
}
