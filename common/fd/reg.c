/* Regular files and directories, opened by path.
 *
 * Dump: the file's identity (path, dev, ino, size, mtime, mode). A deleted
 * file's contents are not saved (a warning says so), and restore refuses it.
 *
 * Restore: open the path again with the dumped flags (never creating or
 * truncating), refuse a regular file whose size changed since the dump,
 * and seek to the dumped position. */
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
	if (d->st.st_nlink == 0)
		pr_warn("pid %d fd %d: %s: the file is deleted and its contents are not saved",
			c->pid, d->fd, d->link);
	e->type = S_ISREG(d->st.st_mode) ? FD_TYPE__FD_REG : FD_TYPE__FD_DIR;
	e->file = fd_dump_identity(d);
	return e->file ? 0 : -ENOMEM;
}

/* ---- restore ---- */

static int reg_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const char *link = e->link ? e->link : "";

	(void)r;
	if (strstr(link, " (deleted)"))
		return fd_rst_fail(why, len, EOPNOTSUPP, "%s was deleted", link);
	if (!e->file || !e->file->path[0])
		return fd_rst_fail(why, len, EINVAL, "no file identity in the image");
	return 0;
}

static int reg_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct stat st;
	int fd;

	(void)r;
	fd = open(e->file->path, fd_rst_open_flags(e));
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot open %s: %s", e->file->path,
				   strerror(errno));
	if (e->type != FD_TYPE__FD_REG)
		return fd;
	if (fstat(fd, &st) == 0 && e->file->has_size && (uint64_t)st.st_size != e->file->size) {
		close(fd);
		return fd_rst_fail(why, len, ESTALE, "%s changed size since the dump (%llu bytes, "
				   "now %lld)", e->file->path, (unsigned long long)e->file->size,
				   (long long)st.st_size);
	}
	if (e->has_pos && lseek(fd, (off_t)e->pos, SEEK_SET) < 0) {
		int err = errno;

		close(fd);
		return fd_rst_fail(why, len, err, "cannot seek %s to %llu: %s", e->file->path,
				   (unsigned long long)e->pos, strerror(err));
	}
	return fd;
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
