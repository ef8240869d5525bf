/* memfd: a file with no name in any directory, only the one memfd_create
 * gave it ("/memfd:NAME (deleted)").
 *
 * Dump: name, identity, seals (F_GET_SEALS on a pidfd_getfd copy),
 * whether it lives in hugetlbfs (MFD_HUGETLB), and its contents, saved
 * once per memfd like a deleted file's (ghost.c: holes stay holes; no
 * --ghost-limit, nothing else could bring them back).
 *
 * Restore: one memfd per dumped one, made by its first description with its
 * name, flags, contents and seals; every description of it a reopen through
 * /proc/self/fd with its own flags and offset, so that descriptions stay
 * apart and fds sharing one are dups of it (fds.c). Mappings of it are
 * mapped from that very memfd (restore/mm.c), so fds and every process's
 * mappings see one object as before. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "common/fd/fd.h"

/* ---- dump ---- */

static bool is_memfd(const struct fd_desc *d)
{
	return !strncmp(d->link, "/memfd:", 7) && d->st.st_nlink == 0;
}

static int memfd_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const char *name = d->link + strlen("/memfd:");
	const char *end = strstr(name, " (deleted)");
	size_t len = end ? (size_t)(end - name) : strlen(name);
	int fd = fd_dump_getfd(c, d->fd), seals;
	struct statfs sf;

	e->type = FD_TYPE__FD_MEMFD;
	e->file = fd_dump_identity(d);
	e->memfd_name = strndup(name, len);
	if (!e->file || !e->memfd_name)
		return -ENOMEM;
	if (fd >= 0) {
		seals = fcntl(fd, F_GET_SEALS);
		e->has_memfd_seals = seals > 0;
		e->memfd_seals = seals > 0 ? (uint32_t)seals : 0;
		e->has_memfd_hugetlb = e->memfd_hugetlb =
			!fstatfs(fd, &sf) && sf.f_type == HUGETLBFS_MAGIC;
	}
	return fd_dump_ghost(c, d, e, false);
}

/* ---- restore ---- */

static int memfd_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->memfd_name || !e->file)
		return fd_rst_fail(why, len, EINVAL, "memfd without details in the image");
	if (!e->has_ghost_id)
		return fd_rst_fail(why, len, EOPNOTSUPP, "memfd:%s: its contents were not saved "
				   "(dumped by an older criu-lite)", e->memfd_name);
	return 0;
}

/* The memfd itself, its first time: name, flags, contents, then seals. */
static int memfd_make(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	/* Made sealable, then sealed as dumped: one made without
	 * MFD_ALLOW_SEALING shows F_SEAL_SEAL, which this adds back. */
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (e->memfd_hugetlb ? MFD_HUGETLB : 0);
	int fd = memfd_create(e->memfd_name, flags), rc;

	if (fd < 0)
		return fd_rst_fail(why, len, errno, "memfd_create(%s%s): %s", e->memfd_name,
				   e->memfd_hugetlb ? ", MFD_HUGETLB" : "", strerror(errno));
	rc = fd_rst_ghost_fill(r, e->ghost_id, fd, e->memfd_hugetlb, why, len);
	if (!rc && e->memfd_seals && fcntl(fd, F_ADD_SEALS, (int)e->memfd_seals) < 0)
		rc = fd_rst_fail(why, len, errno, "memfd:%s: F_ADD_SEALS %#x: %s", e->memfd_name,
				 e->memfd_seals, strerror(errno));
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

static int memfd_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct fd_rst_obj *o = fd_rst_obj_find(r, FD_TYPE__FD_MEMFD, e->file->ino);
	char path[64];
	int fd;

	if (!o) {
		o = fd_rst_obj_add(r, FD_TYPE__FD_MEMFD, e->file->ino);
		if (!o)
			return -ENOMEM;
		o->fds[0] = memfd_make(r, e, why, len);
		if (o->fds[0] < 0)
			return o->fds[0];
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", o->fds[0]);
	fd = open(path, fd_rst_open_flags(e));
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot reopen memfd:%s: %s", e->memfd_name,
				   strerror(errno));
	if (e->has_pos && lseek(fd, (off_t)e->pos, SEEK_SET) < 0) {
		int err = errno;

		close(fd);
		return fd_rst_fail(why, len, err, "memfd:%s: cannot seek to %llu: %s",
				   e->memfd_name, (unsigned long long)e->pos, strerror(err));
	}
	return fd;
}

const struct fd_kind fdk_memfd = {
	.type = FD_TYPE__FD_MEMFD,
	.name = "memfd",
	.dump_match = is_memfd,
	.dump = memfd_dump,
	.check = memfd_check,
	.open = memfd_open,
};
