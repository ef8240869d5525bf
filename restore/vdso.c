/* A dump that does not say which kernel made it (CRIU's images carry no
 * release): the program keeps pointers into the vdso it was given, which
 * must then be this kernel's very vdso. It is, when the dumped [vdso]
 * pages hold the bytes of ours. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images/log.h"
#include "restore/rst.h"

/* Our own [vdso]: where it is and how long, from /proc/self/maps. */
static int own_vdso(uint64_t *start, uint64_t *len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	unsigned long long s, e;

	*len = 0;
	if (!f)
		return pr_perror("cannot read /proc/self/maps");
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "[vdso]") && sscanf(line, "%llx-%llx", &s, &e) == 2) {
			*start = s;
			*len = e - s;
			break;
		}
	}
	fclose(f);
	return 0;
}

/* 0 when p's dumped vdso is ours, else negative after one line. */
static int same_vdso(const struct rst_tree *t, const struct rst_proc *p, uint64_t start,
		     uint64_t len)
{
	const VmaEntry *v = NULL;
	uint8_t *buf;
	int r;

	for (size_t i = 0; i < p->nr_vma && !v; i++)
		if (p->vma[i]->status & VMA_VDSO)
			v = p->vma[i];
	if (!v)
		return 0;	/* nothing of the vdso to keep pointing at */
	if (v->end - v->start != len) {
		pr_err("%s was dumped on another kernel (its vdso is %llu bytes, this one's %llu): "
		       "the program's pointers into it would be wrong", t->dir,
		       (unsigned long long)(v->end - v->start), (unsigned long long)len);
		return -EINVAL;
	}
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	r = dr_pages_read(p->pages, v->start, buf, len);
	if (r == -ENODATA)
		pr_err("%s: the dump does not say which kernel made it, nor holds its vdso: "
		       "restore cannot tell whether the program's vdso is this kernel's", t->dir);
	else if (r)
		pr_err("%s: cannot read the dumped vdso: %s", t->dir, strerror(-r));
	else if (memcmp(buf, (const void *)(uintptr_t)start, len))
		pr_err("%s was dumped on another kernel (its vdso differs from this one's): the "
		       "program's pointers into it would be wrong", t->dir);
	else
		r = 1;
	free(buf);
	return r == 1 ? 0 : -EINVAL;
}

int rst_vdso_check(const struct rst_tree *t)
{
	uint64_t start = 0, len;
	int r = own_vdso(&start, &len);

	if (!r && !len) {
		pr_err("this process has no vdso to compare the dumped one with");
		return -EINVAL;
	}
	for (size_t i = 0; !r && i < t->nr_procs; i++)
		r = same_vdso(t, &t->procs[i], start, len);
	return r;
}
