/* Regular files and directories, opened by path.
 *
 * Dump: the file's identity (path, dev, ino, size, mtime, mode); a deleted
 * one's contents go with the dump (ghost.c) unless over --ghost-limit.
 *
 * Restore: open the path again with the dumped flags (never creating or
 * truncating; a deleted file from its ghost) and seek to the dumped
 * position. A file that changed since the dump is taken as it is now,
 * which the program could have met while it ran (another process writes
 * it, a log grew: O_APPEND writes go after the new end), but not when its
 * position is past the new end: it would read what was never there. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/fd/fd.h"
#include "images/log.h"

/* ---- dump ---- */

static bool is_reg(const struct fd_desc *d)
{
	return d->link[0] == '/' && S_ISREG(d->st.st_mode);
}

static bool is_dir(const struct fd_desc *d)
{
	return d->link[0] == '/' && S_ISDIR(d->st.st_mode);
}

static int reg_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	e->type = S_ISREG(d->st.st_mode) ? FD_TYPE__FD_REG : FD_TYPE__FD_DIR;
	e->file = fd_dump_identity(d);
	if (!e->file)
		return -ENOMEM;
	if (fd_link_deleted(d->link) || d->st.st_nlink == 0)
		return fd_dump_ghost(c, d, e, true);
	return 0;
}

/* ---- restore ---- */

int fd_rst_reg_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const char *link = e->link ? e->link : "";

	if (!e->file || !e->file->path[0])
		return fd_rst_fail(why, len, EINVAL, "no file identity in the image");
	if (e->has_ghost_size)
		return fd_rst_fail(why, len, EFBIG, "%s held %llu bytes, over --ghost-limit %llu at "
				   "the dump: its contents were not saved", link,
				   (unsigned long long)e->ghost_size,
				   (unsigned long long)r->opts.ghost_limit);
	if (fd_link_deleted(link) && !e->has_ghost_id)
		return fd_rst_fail(why, len, EOPNOTSUPP, "%s: its contents were not saved", link);
	return 0;
}

/* Where the program is in a file that may have changed since. */
static int reg_seek(int fd, const FdEntry *e, char *why, size_t len)
{
	struct stat st;
	int err;

	if (!e->has_pos || e->flags & O_PATH)
		return 0;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && !(e->flags & O_APPEND) &&
	    e->pos > (uint64_t)st.st_size)
		return fd_rst_fail(why, len, ESTALE, "%s shrank since the dump: its offset %llu is "
				   "past the new end (%lld bytes)", e->file->path,
				   (unsigned long long)e->pos, (long long)st.st_size);
	if (lseek(fd, (off_t)e->pos, SEEK_SET) >= 0)
		return 0;
	err = errno;
	return fd_rst_fail(why, len, err, "cannot seek %s to %llu: %s", e->file->path,
			   (unsigned long long)e->pos, strerror(err));
}

int fd_rst_reg_open(struct fd_rst *r, const FdEntry *e, int flags, char *why, size_t len)
{
	const char *path = e->file->path;
	int fd, rc;

	if (e->has_ghost_id &&
	    !(path = fd_rst_ghost_path(r, e->ghost_id, e->link, 0, why, len)))
		return -ENOENT;
	fd = open(path, flags);
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot open %s: %s", path, strerror(errno));
	rc = reg_seek(fd, e, why, len);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Refused before any process exists, not only once the file is opened:
 * where the program stands in it (at the dump, the file is as dumped). */
static int reg_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct stat st;
	int rc = fd_rst_reg_check(r, e, why, len);

	if (rc || r->opts.at_dump || e->has_ghost_id || e->type != FD_TYPE__FD_REG ||
	    fd_rst_inherits(r, e))
		return rc;
	if (stat(e->file->path, &st))
		return fd_rst_fail(why, len, errno, "cannot open %s: %s", e->file->path,
				   strerror(errno));
	if (e->has_pos && !(e->flags & O_APPEND) && S_ISREG(st.st_mode) &&
	    e->pos > (uint64_t)st.st_size)
		return fd_rst_fail(why, len, ESTALE, "%s shrank since the dump: its offset %llu is "
				   "past the new end (%lld bytes)", e->file->path,
				   (unsigned long long)e->pos, (long long)st.st_size);
	return 0;
}

static int reg_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	return fd_rst_reg_open(r, e, fd_rst_open_flags(e), why, len);
}

const struct fd_kind fdk_reg = {
	.type = FD_TYPE__FD_REG,
	.name = "regular file",
	.dump_match = is_reg,
	.dump = reg_dump,
	.check = reg_check,
	.open = reg_open,
};

const struct fd_kind fdk_dir = {
	.type = FD_TYPE__FD_DIR,
	.name = "directory",
	.dump_match = is_dir,
	.dump = reg_dump,
	.check = reg_check,
	.open = reg_open,
};
