/* inotify: each watch (wd, watched inode, mask with IN_ONESHOT and
 * IN_EXCL_UNLINK) from fdinfo's "inotify wd:" lines, and the watched
 * inode's path (notify_path.c).
 *
 * Restore watches each path again with the same wd: the kernel hands wds
 * out cyclically upwards, so watches are added in wd order and one that
 * comes with a lower wd is removed and added again until it gets its own.
 * The IN_IGNORED events those removals queue are read away before the
 * process runs. Events queued and not read at the dump are not kept (the
 * dump says how many bytes). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "common/fd/notify.h"
#include "images/log.h"

#define WD_MAX (1 << 22)

static bool is_inotify(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:inotify");
}

/* ---- dump ---- */

static int one_watch(struct fd_dump *c, const struct fd_desc *d, const char *line,
		     InotifyWatch *w)
{
	unsigned int wd, sdev, mask, ign;
	unsigned long long ino;
	char path[PATH_MAX], why[PATH_MAX + 64];

	if (sscanf(line, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%x", &wd, &ino,
		   &sdev, &mask, &ign) != 5) {
		pr_err("fd %d: cannot parse inotify fdinfo line: %.80s", d->fd, line);
		return -EINVAL;
	}
	w->wd = wd;
	w->ino = ino;
	w->sdev = sdev;
	w->mask = mask;
	w->has_ignored_mask = true;
	w->ignored_mask = ign;
	if (notify_inode_path(c->pid, line, sdev, path, sizeof(path), why, sizeof(why)))
		pr_warn("pid %d fd %d: inotify watch %u on inode %llu: %s", c->pid, d->fd, wd, ino,
			why);
	else if (!(w->path = strdup(path)))
		return -ENOMEM;
	return 0;
}

/* Bytes of events queued, not read: not kept, said. */
static void queued(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	int fd = fd_dump_getfd(c, d->fd), n = 0;

	if (fd < 0)
		return;
	if (!ioctl(fd, FIONREAD, &n) && n > 0) {
		e->has_notify_queued = true;
		e->notify_queued = (uint32_t)n;
		pr_warn("pid %d fd %d (%s): %d bytes of events not read yet will not be restored",
			c->pid, d->fd, d->link, n);
	}
}

/* "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x fhandle-..." per watch. */
static int inotify_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	size_t n = 0;
	const char *p;

	e->type = FD_TYPE__FD_INOTIFY;
	queued(c, d, e);
	for (p = d->fdinfo; (p = strstr(p, "inotify wd:")); p++)
		n++;
	if (!n)
		return 0;
	e->inotify = calloc(n, sizeof(*e->inotify));
	if (!e->inotify)
		return -ENOMEM;
	for (p = d->fdinfo; e->n_inotify < n && (p = strstr(p, "inotify wd:")); p++) {
		InotifyWatch *w = malloc(sizeof(*w));
		int r;

		if (!w)
			return -ENOMEM;
		inotify_watch__init(w);
		e->inotify[e->n_inotify++] = w;
		r = one_watch(c, d, p, w);
		if (r)
			return r;
	}
	return 0;
}

/* ---- restore ---- */

static int inotify_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	for (size_t i = 0; i < e->n_inotify; i++) {
		const InotifyWatch *w = e->inotify[i];

		if (!w->path)
			return fd_rst_fail(why, len, EOPNOTSUPP, "inotify watch %u on inode %llu: "
					   "where it is was not found at the dump", w->wd,
					   (unsigned long long)w->ino);
		if (!w->wd || w->wd > WD_MAX)
			return fd_rst_fail(why, len, EINVAL, "inotify watch %u: out of range",
					   w->wd);
		if (!r->opts.at_dump && access(w->path, F_OK))
			return fd_rst_fail(why, len, errno, "inotify watch %u: %s: %s", w->wd,
					   w->path, strerror(errno));
	}
	return 0;
}

static int by_wd(const void *a, const void *b)
{
	const InotifyWatch *x = *(InotifyWatch *const *)a, *y = *(InotifyWatch *const *)b;

	return (x->wd > y->wd) - (x->wd < y->wd);
}

/* Add w until it gets its wd. */
static int add_watch(int fd, const InotifyWatch *w, char *why, size_t len)
{
	struct stat st;
	uint32_t mask = w->mask;

	/* a watch on a symlink was made with IN_DONT_FOLLOW */
	if (!lstat(w->path, &st) && S_ISLNK(st.st_mode))
		mask |= IN_DONT_FOLLOW;
	for (;;) {
		int wd = inotify_add_watch(fd, w->path, mask);

		if (wd < 0)
			return fd_rst_fail(why, len, errno, "inotify watch on %s: %s", w->path,
					   strerror(errno));
		if ((uint32_t)wd == w->wd)
			return 0;
		if ((uint32_t)wd > w->wd)
			return fd_rst_fail(why, len, EEXIST, "inotify watch on %s got wd %d, not "
					   "%u (two watches on one inode?)", w->path, wd, w->wd);
		inotify_rm_watch(fd, wd);
	}
}

static int drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return errno == EAGAIN ? 0 : -errno;
}

static int inotify_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	InotifyWatch **ws = malloc((e->n_inotify + 1) * sizeof(*ws));
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), rc = 0;

	(void)r;
	if (!ws || fd < 0) {
		rc = fd_rst_fail(why, len, ws ? errno : ENOMEM, "inotify_init1: %s",
				 strerror(ws ? errno : ENOMEM));
		goto out;
	}
	memcpy(ws, e->inotify, e->n_inotify * sizeof(*ws));
	qsort(ws, e->n_inotify, sizeof(*ws), by_wd);
	for (size_t i = 0; !rc && i < e->n_inotify; i++)
		rc = add_watch(fd, ws[i], why, len);
	if (!rc && (rc = drain(fd)))
		fd_rst_fail(why, len, -rc, "inotify: %s", strerror(-rc));
	if (!rc && !(e->flags & O_NONBLOCK) && fcntl(fd, F_SETFL, 0))
		rc = fd_rst_fail(why, len, errno, "fcntl: %s", strerror(errno));
out:
	free(ws);
	if (rc && fd >= 0)
		close(fd);
	return rc ? rc : fd;
}

const struct fd_kind fdk_inotify = {
	.type = FD_TYPE__FD_INOTIFY,
	.name = "inotify",
	.dump_match = is_inotify,
	.dump = inotify_dump,
	.check = inotify_check,
	.open = inotify_open,
};
