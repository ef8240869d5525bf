/* Reading a few bytes of a dumped process's memory: its stored pages, or,
 * for pages CRIU left in the mapped file (code never written), the file
 * itself, if it is still the size CRIU recorded. For the command line,
 * which lives in the dumped stack, and for the instruction a thread's
 * registers point at. Nothing is written. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/criu/criu.h"

#define C_FILE_MAPPED ((1u << 6) | (1u << 7))	/* CRIU's VMA_FILE_PRIVATE | VMA_FILE_SHARED */

static const Criu__VmaEntry *vma_at(const Criu__MmEntry *mm, uint64_t addr)
{
	for (size_t i = 0; mm && i < mm->n_vmas; i++)
		if (addr >= mm->vmas[i]->start && addr < mm->vmas[i]->end)
			return mm->vmas[i];
	return NULL;
}

static int from_file(const struct cmem *m, const Criu__VmaEntry *v, uint64_t addr, void *buf,
		     size_t len)
{
	const Criu__FileEntry *f = cfile_find(m->cd, (uint32_t)v->shmid);
	struct stat st;
	ssize_t n = -1;
	int fd;

	if (!f || !f->reg || addr + len > v->end)
		return -ENODATA;
	fd = open(f->reg->name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -ENODATA;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) &&
	    (!f->reg->has_size || f->reg->size == (uint64_t)st.st_size))
		n = pread(fd, buf, len, v->pgoff + (addr - v->start));
	close(fd);
	return n == (ssize_t)len ? 0 : -ENODATA;
}

int cmem_read(const struct cmem *m, uint64_t addr, void *buf, size_t len)
{
	const Criu__VmaEntry *v;
	int r = m->pg ? dr_pages_read(m->pg, addr, buf, len) : -ENODATA;

	if (r != -ENODATA)
		return r;
	v = vma_at(m->mm, addr);
	if (!v || !(v->status & C_FILE_MAPPED) || (m->pg && dr_pages_find(m->pg, addr)))
		return -ENODATA;
	return from_file(m, v, addr, buf, len);
}
