/* O_PATH fds: a place in the tree (a file, a directory, a symlink itself,
 * a device or FIFO node, nothing opened through it), for *at() calls,
 * fexecve, or /proc/self/fd reopens.
 *
 * Dump: the identity of what it names (a symlink's own, from the magic
 * link); a deleted regular file or directory is saved as any other.
 * Restore: opened again O_PATH, a symlink with O_NOFOLLOW so that the fd
 * names the link and not its target; what the path names now must be of
 * the same type. No position: O_PATH has none. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fd/fd.h"

/* ---- dump ---- */

static bool is_opath(const struct fd_desc *d)
{
	const char *v = fdinfo_field(d->fdinfo, "flags");

	return v && (strtoul(v, NULL, 8) & O_PATH);
}

static int opath_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	if (d->link[0] != '/' || !strncmp(d->link, "/memfd:", 7))
		return fd_dump_unsupported(c, d, e, "an O_PATH fd on an object without a path");
	e->type = FD_TYPE__FD_PATH;
	e->has_pos = false;
	e->file = fd_dump_identity(d);
	if (!e->file)
		return -ENOMEM;
	if ((fd_link_deleted(d->link) || d->st.st_nlink == 0) &&
	    (S_ISREG(d->st.st_mode) || S_ISDIR(d->st.st_mode)))
		return fd_dump_ghost(c, d, e, true);
	return 0;
}

/* ---- restore ---- */

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symlink";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	default: return "something else";
	}
}

static int opath_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	int rc = fd_rst_reg_check(r, e, why, len);

	if (rc == -EOPNOTSUPP && e->file->has_mode && S_ISFIFO(e->file->mode))
		return 0;	/* a deleted FIFO: made again, empty */
	return rc;
}

static int opath_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	mode_t mode = e->file->has_mode ? e->file->mode : 0;
	int flags = O_PATH | O_CLOEXEC | (int)(e->flags & (O_DIRECTORY | O_NOFOLLOW));
	struct stat st;
	int fd;

	if (S_ISLNK(mode))
		flags |= O_NOFOLLOW;
	if (S_ISFIFO(mode) && fd_link_deleted(e->link) && !e->has_ghost_id) {
		const char *p = fd_rst_ghost_path(r, 0, e->link, mode, why, len);

		if (!p)
			return -ENOENT;
		fd = open(p, flags);
		return fd < 0 ? fd_rst_fail(why, len, errno, "cannot open %s: %s", p,
					    strerror(errno)) : fd;
	}
	fd = fd_rst_reg_open(r, e, flags, why, len);
	if (fd < 0 || !mode || fstat(fd, &st) || (st.st_mode & S_IFMT) == (mode & S_IFMT))
		return fd;
	close(fd);
	return fd_rst_fail(why, len, ESTALE, "%s is %s now, it was %s", e->file->path,
			   type_name(st.st_mode), type_name(mode));
}

const struct fd_kind fdk_opath = {
	.type = FD_TYPE__FD_PATH,
	.name = "O_PATH fd",
	.dump_match = is_opath,
	.dump = opath_dump,
	.check = opath_check,
	.open = opath_open,
};
