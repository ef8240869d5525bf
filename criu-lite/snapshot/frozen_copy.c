/* The frozen copy: memory a snapshot cannot read later, read while the tree
 * is still frozen into a memfd at offset == address (see frozen_copy.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "common/procfs.h"
#include "criu-lite/snapshot/frozen_copy.h"
#include "images/log.h"

#define PG		4096ull
#define COPY_BUF	(4u << 20)
#define PM_CHUNK	4096	/* pagemap entries per read */
#define PM_PRESENT	(1ull << 63)
#define PM_SWAP		(1ull << 62)

bool snap_vma_frozen(const struct vma *v)
{
	if (v->kind == VMAK_VVAR || v->kind == VMAK_VSYSCALL || (v->vmf & (VMF_IO | VMF_PFNMAP)))
		return false;
	/* A shared mapping of a file still on disk is recorded as the file;
	 * other shared memory lives in an object the original goes on writing. */
	if (v->shared)
		return v->deleted || v->kind != VMAK_FILE;
	return v->vmf & (VMF_DONTCOPY | VMF_WIPEONFORK);
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pr_perror("cannot write the snapshot's frozen copy");
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Shared memory: its object, data ranges only (SEEK_DATA), never through
 * the mapping, so nothing is populated in the original. */
static int copy_object(struct snap_proc *s, const struct vma *v, uint8_t *buf)
{
	char path[96];
	struct stat st;
	uint64_t lo = v->pgoff, hi = v->pgoff + (v->end - v->start);
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", s->pid,
		 (unsigned long long)v->start, (unsigned long long)v->end);
	fd = procfs_open(s->pid, strstr(path, "map_files"), O_RDONLY | PROCFS_QUIET);
	if (fd == -ESRCH)
		return procfs_log_err(s->pid, "map_files", fd);
	/* Not openable (no rights, or an aio ring's file, which map_files
	 * refuses): the caller reads it through the mapping. */
	if (fd < 0)
		return fd == -EACCES || fd == -EPERM ? fd : -ENOENT;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < hi)
		hi = ((uint64_t)st.st_size + PG - 1) & ~(PG - 1);
	while (lo < hi && !r) {
		off_t d = lseek(fd, lo, SEEK_DATA), h;

		if (d < 0) {
			r = errno == ENXIO ? 0 : pr_perror("cannot seek %s", path);
			break;
		}
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)d >= hi) {
			r = h < 0 ? pr_perror("cannot seek %s", path) : 0;
			break;
		}
		d &= ~(off_t)(PG - 1);
		h = (uint64_t)h > hi ? (off_t)hi : h;
		for (off_t o = d; o < h && !r; o += COPY_BUF) {
			size_t len = h - o < COPY_BUF ? h - o : COPY_BUF;
			ssize_t n = pread(fd, buf, len, o);

			if (n < 0)
				r = pr_perror("cannot read %s", path);
			else if (n)
				r = write_all(s->frozen_fd, buf, n, v->start + (o - v->pgoff));
			s->frozen_bytes += n > 0 ? n : 0;
		}
		lo = h;
	}
	close(fd);
	return r;
}

/* A run of populated pages through the mapping: process_vm_readv, or
 * /proc/PID/mem where the protection refuses it (it reads with FOLL_FORCE). */
static int copy_run(struct snap_proc *s, int procmem, uint64_t addr, uint64_t len, uint8_t *buf)
{
	while (len) {
		size_t n = len < COPY_BUF ? len : COPY_BUF;
		struct iovec l = { buf, n }, rv = { (void *)(uintptr_t)addr, n };
		ssize_t got = process_vm_readv(s->pid, &l, 1, &rv, 1, 0);
		int r;

		if (got <= 0)
			got = pread(procmem, buf, n, addr);
		if (got <= 0) {
			if (got == 0)
				errno = EIO;
			return pr_perror("cannot read %#llx of process %d", (unsigned long long)addr,
					 s->pid);
		}
		got &= ~(ssize_t)(PG - 1);
		if (!got)
			return -EIO;
		r = write_all(s->frozen_fd, buf, got, addr);
		if (r)
			return r;
		s->frozen_bytes += got;
		addr += got;
		len -= got;
	}
	return 0;
}

/* Private memory the copy lacks or has wiped: the pages the original's
 * pagemap shows present or swapped, nothing else (reading a hole would
 * populate it: there is no shared zero page here). */
static int copy_private(struct snap_proc *s, const struct vma *v, int pmfd, int procmem,
			uint8_t *buf)
{
	static uint64_t pm[PM_CHUNK];

	for (uint64_t addr = v->start; addr < v->end;) {
		uint64_t n = (v->end - addr) / PG, run = 0, i;
		ssize_t got;

		n = n < PM_CHUNK ? n : PM_CHUNK;
		got = pread(pmfd, pm, n * 8, addr / PG * 8);
		if (got <= 0)
			return pr_perror("cannot read the pagemap of %d", s->pid);
		n = got / 8;
		for (i = 0; i <= n; i++) {
			bool pop = i < n && (pm[i] & (PM_PRESENT | PM_SWAP));
			int r;

			if (pop) {
				run++;
				continue;
			}
			if (run && (r = copy_run(s, procmem, addr + (i - run) * PG, run * PG, buf)))
				return r;
			run = 0;
		}
		addr += n * PG;
	}
	return 0;
}

int snap_copy_frozen(struct snap_proc *s)
{
	uint8_t *buf = NULL;
	int pmfd = -1, procmem = -1, r = 0;

	for (size_t i = 0; i < s->vl.nr && !r; i++) {
		const struct vma *v = &s->vl.v[i];

		if (!s->frozen[i] || s->done[i])
			continue;
		s->done[i] = true;
		if (!buf) {
			if (s->frozen_fd < 0)
				s->frozen_fd = memfd_create("criu-lite-snapshot", MFD_CLOEXEC);
			buf = mmap(NULL, COPY_BUF, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (s->frozen_fd < 0 || buf == MAP_FAILED) {
				r = pr_perror("cannot set up the snapshot's frozen copy");
				break;
			}
			pmfd = procfs_open(s->pid, "pagemap", O_RDONLY);
			procmem = pmfd < 0 ? pmfd : procfs_open(s->pid, "mem", O_RDONLY);
			if (procmem < 0) {
				r = procmem;
				break;
			}
		}
		pr_debug("snapshot: %#llx-%#llx (%s) read while frozen",
			 (unsigned long long)v->start, (unsigned long long)v->end, v->name);
		r = v->shared ? copy_object(s, v, buf) : -ENOENT;
		if (r == -ENOENT || r == -EACCES || r == -EPERM)
			r = copy_private(s, v, pmfd, procmem, buf);
	}
	if (buf && buf != MAP_FAILED)
		munmap(buf, COPY_BUF);
	if (pmfd >= 0)
		close(pmfd);
	if (procmem >= 0)
		close(procmem);
	return r;
}

void snap_proc_free(struct snap_proc *s)
{
	if (s->frozen_fd >= 0)
		close(s->frozen_fd);
	s->frozen_fd = -1;
	free(s->frozen);
	s->frozen = NULL;
	free(s->done);
	s->done = NULL;
	vma_list_free(&s->vl);
	s->pid = 0;
}
