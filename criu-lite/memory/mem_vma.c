/* What each VMA is (status bits, MAP_* flags, madvise bits, file identity)
 * and how its pages are captured. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/buildid.h"
#include "common/procfs.h"
#include "criu-lite/memory/mem_internal.h"
#include "images/log.h"

int mem_vma_open_object(pid_t pid, const struct vma *v)
{
	char name[64];

	/* map_files opens the mapped inode itself, even when unlinked, and
	 * needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE. */
	snprintf(name, sizeof(name), "map_files/%llx-%llx", (unsigned long long)v->start,
		 (unsigned long long)v->end);
	return procfs_open(pid, name, O_RDONLY | PROCFS_QUIET);
}

static char *object_path(pid_t pid, const struct vma *v)
{
	static const char deleted[] = " (deleted)";
	char link[96], buf[PATH_MAX + 1];
	ssize_t n;

	/* The link has the raw bytes; maps escapes '\n' in paths as "\012". */
	snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)v->start, (unsigned long long)v->end);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return strdup(v->name);
	buf[n] = '\0';
	if ((size_t)n >= sizeof(deleted) - 1 && !strcmp(buf + n - (sizeof(deleted) - 1), deleted))
		buf[n - (sizeof(deleted) - 1)] = '\0';
	return strdup(buf);
}

/* Unlinked, or the path now names a different inode than the one mapped:
 * either way the content cannot be had from the path later. */
static bool file_gone(const struct vma *v, const char *path, const struct stat *mapped)
{
	struct stat st;

	if (v->deleted || stat(path, &st))
		return true;
	return st.st_dev != mapped->st_dev || st.st_ino != mapped->st_ino;
}

static int file_open(pid_t pid, const struct vma *v, struct mem_file *f)
{
	struct stat st;
	char *path = object_path(pid, v);
	int fd, r = 0;

	if (!path)
		return -ENOMEM;
	fd = mem_vma_open_object(pid, v);
	if (fd < 0 && !v->deleted)
		fd = open(path, O_RDONLY | O_CLOEXEC);	/* without map_files rights */
	if (fd < 0 || fstat(fd, &st)) {
		pr_warn("cannot open %s mapped at %#llx: no file identity recorded", path,
			(unsigned long long)v->start);
		f->gone = v->deleted;
		goto out;
	}
	f->elf = S_ISREG(st.st_mode) && buildid_is_elf(fd);
	f->size = st.st_size;
	f->gone = file_gone(v, path, &st);
	r = fileid_from_fd(fd, path, f->elf, &f->fi);
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

static int file_lookup(pid_t pid, const struct vma *v, struct mem_files *fc, struct mem_file **out)
{
	unsigned int b = (unsigned int)((v->ino * 0x9e3779b97f4a7c15ull) >> 56) % MEM_FILE_BUCKETS;
	struct mem_file *f;
	int r;

	for (f = fc->bucket[b]; f; f = f->next)
		if (f->dev == v->dev && f->ino == v->ino) {
			*out = f;
			return 0;
		}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->dev = v->dev;
	f->ino = v->ino;
	r = file_open(pid, v, f);
	if (r < 0) {
		free(f);
		return r;
	}
	f->next = fc->bucket[b];
	fc->bucket[b] = f;
	*out = f;
	return 0;
}

void mem_files_free(struct mem_files *fc)
{
	for (int b = 0; b < MEM_FILE_BUCKETS; b++)
		while (fc->bucket[b]) {
			struct mem_file *f = fc->bucket[b];

			fc->bucket[b] = f->next;
			img_free(f->fi);
			free(f);
		}
}

/* Shared memory that only looks like a file in maps. */
static bool is_shmem_object(const struct vma *v)
{
	if (v->kind == VMAK_SHMEM_NAMED)
		return true;
	if (v->kind != VMAK_FILE || !v->deleted)
		return false;
	return !strcmp(v->name, "/dev/zero") || !strncmp(v->name, "/SYSV", 5) ||
	       !strncmp(v->name, "/memfd:", 7);
}

static void classify_special(struct mem_vma *mv)
{
	const struct vma *v = mv->v;

	switch (v->kind) {
	case VMAK_VVAR:
		mv->status = VMA_VVAR;
		mv->policy = MP_SKIP;
		break;
	case VMAK_VSYSCALL:
		mv->status = VMA_VSYSCALL;
		mv->policy = MP_SKIP;
		break;
	case VMAK_VDSO:
		/* Not restorable by mmap, but convert wants it whole in cores. */
		mv->status = VMA_VDSO;
		mv->policy = MP_WHOLE;
		break;
	case VMAK_HEAP:
		mv->status = VMA_AREA_REGULAR | VMA_ANON | VMA_HEAP;
		break;
	case VMAK_STACK:
		mv->status = VMA_AREA_REGULAR | VMA_ANON | VMA_STACK;
		break;
	case VMAK_OTHER:	/* [uprobes] and the like: the kernel's, kept as data */
		mv->status = VMA_ANON;
		break;
	default:
		mv->status = VMA_AREA_REGULAR | VMA_ANON;
		break;
	}
}

static void classify_file(struct mem_vma *mv)
{
	const struct vma *v = mv->v;
	bool gone = !mv->file || mv->file->gone;

	mv->status = VMA_AREA_REGULAR | (v->shared ? VMA_FILE_SHARED : VMA_FILE_PRIVATE);
	if (gone)
		mv->status |= VMA_FILE_DELETED;
	if (mv->file && mv->file->elf && v->pgoff == 0)
		mv->status |= VMA_ELF_HEADER;
	if (v->shared)
		mv->policy = gone ? MP_OBJECT : MP_SHARED_FILE;
	else
		mv->policy = gone ? MP_DELETED_PRIV : MP_PRIV_FILE;
}

int mem_vma_classify(pid_t pid, const struct vma *v, struct mem_files *fc, struct mem_vma *mv)
{
	int r;

	memset(mv, 0, sizeof(*mv));
	mv->v = v;
	mv->name = v->name;
	mv->policy = MP_ANON;
	mv->flags = v->shared ? MAP_SHARED : MAP_PRIVATE;
	if (v->vmf & VMF_GROWSDOWN)
		mv->flags |= MAP_GROWSDOWN;
	mv->madv = ((v->vmf & VMF_DONTCOPY) ? VMA_MADV_DONTFORK : 0) |
		   ((v->vmf & VMF_WIPEONFORK) ? VMA_MADV_WIPEONFORK : 0) |
		   ((v->vmf & VMF_DONTDUMP) ? VMA_MADV_DONTDUMP : 0);
	mv->pid = pid;
	if (mem_vma_kernel_object(v, mv))
		return 0;

	if (v->kind == VMAK_FILE || v->kind == VMAK_SHMEM_NAMED) {
		r = file_lookup(pid, v, fc, &mv->file);
		if (r < 0)
			return r;
		if (mv->file && mv->file->fi && v->kind == VMAK_FILE)
			mv->name = mv->file->fi->path;
	}
	if (v->shared && is_shmem_object(v)) {
		mv->status = VMA_AREA_REGULAR | VMA_ANON_SHARED;
		mv->policy = MP_OBJECT;
		if (!strcmp(v->name, "/dev/zero") || v->kind == VMAK_SHMEM_NAMED)
			mv->flags |= MAP_ANONYMOUS;
	} else if (v->kind == VMAK_FILE) {
		classify_file(mv);
	} else {
		mv->flags |= MAP_ANONYMOUS;
		classify_special(mv);
		if (v->shared && mv->policy == MP_ANON)
			mv->policy = MP_OBJECT;
	}
	/* Device memory: neither process_vm_readv nor /proc/PID/mem read it. */
	if ((v->vmf & (VMF_IO | VMF_PFNMAP)) && mv->policy != MP_SKIP) {
		pr_warn("VMA %#llx-%#llx (%s) is device memory: its contents are not dumped",
			(unsigned long long)v->start, (unsigned long long)v->end, mv->name);
		mv->policy = MP_SKIP;
	}
	return 0;
}

int mem_vma_write(struct img *mm, const struct mem_vma *mv)
{
	const struct vma *v = mv->v;
	VmaEntry e = VMA_ENTRY__INIT;
	int r;

	e.start = v->start;
	e.end = v->end;
	e.pgoff = v->pgoff;
	e.prot = v->prot;
	e.flags = mv->flags;
	e.status = mv->status;
	e.name = *mv->name ? (char *)mv->name : NULL;
	e.has_dev = e.has_ino = 1;
	e.dev = v->dev;
	e.ino = v->ino;
	/* Shared memory objects are no file to check: their identity would
	 * name /dev/zero or a memfd, which nothing can reopen. */
	if (mv->file && !(mv->status & VMA_ANON_SHARED))
		e.file = mv->file->fi;
	e.vmflags = v->vmflags;
	e.has_madv = 1;
	e.madv = mv->madv;
	r = mem_vma_kinds(mv, &e);
	if (!r)
		r = img_write(mm, &e);
	mem_vma_kinds_done(&e);
	return r;
}
