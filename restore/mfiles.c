/* The files a restored address space is built from: the executable, every
 * mapped file, the pages files, /dev/zero. The child opens them (those the
 * images name as the restored process, fscreds.h; the pages files as
 * criu-lite) at known fd numbers just above its dumped
 * fds; the tracer then maps them with injected mmaps and closes them at the
 * end. Opening them in the child also means the identity check (check.c,
 * again in child.c) is made on the very file that gets mapped. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "restore/rst.h"

int rst_mf_find(const struct rst_proc *p, const char *path)
{
	for (size_t k = 0; k < p->nr_mf; k++)
		if (!strcmp(p->mf[k].path, path))
			return (int)k;
	return -1;
}

static int add(struct rst_proc *p, const char *path, const FileIdentity *id, bool rdwr,
	       bool named)
{
	int k = rst_mf_find(p, path);

	if (k >= 0) {
		p->mf[k].rdwr |= rdwr;
		p->mf[k].named |= named;
		if (!p->mf[k].id)
			p->mf[k].id = id;
		return k;
	}
	p->mf[p->nr_mf] = (struct rst_mfile){ .path = path, .id = id, .rdwr = rdwr,
					      .named = named };
	return (int)p->nr_mf++;
}

static bool src_has(const struct dr_pages *s, uint32_t flag)
{
	for (size_t i = 0; i < s->nr; i++)
		if (s->run[i].flags == flag)
			return true;
	return false;
}

int rst_mfiles_prepare(struct rst_proc *p)
{
	int max = -1;
	bool zero = false;

	p->mf = calloc(p->nr_vma + p->nr_src + 2, sizeof(*p->mf));
	p->src_mf = calloc(p->nr_src ? p->nr_src : 1, sizeof(int));
	if (!p->mf || !p->src_mf)
		return -ENOMEM;
	for (size_t i = 0; i < p->nr_fd; i++)
		if ((int)p->fd[i]->fd > max)
			max = (int)p->fd[i]->fd;
	p->mm_fd_base = max + 1;
	if (p->pe->exe && p->pe->exe->path[0])
		p->exe_mf = add(p, p->pe->exe->path, p->pe->exe, false, true);
	for (size_t i = 0; i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];

		if (!(v->status & VMA_AREA_REGULAR) || !v->file ||
		    !(v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) ||
		    v->status & (VMA_FILE_DELETED | VMA_ANON_SHARED))
			continue;
		/* Only a private mapping needs the file unchanged (check.c). */
		add(p, v->file->path, v->status & VMA_FILE_SHARED ? NULL : v->file,
		    (v->status & VMA_FILE_SHARED) && (v->prot & PROT_WRITE), true);
	}
	for (size_t s = 0; s < p->nr_src; s++) {
		p->src_mf[s] = src_has(p->src[s], PE_PRESENT) ?
			add(p, p->src_path[s], NULL, false, false) : -1;
		zero |= src_has(p->src[s], PE_ZERO);
	}
	/* Zero pages of private file mappings must be written as zeroes. */
	if (zero)
		p->zero_mf = add(p, "/dev/zero", NULL, false, false);
	return 0;
}
