/* What the restore halves of the kinds share: the table of objects made
 * once for many fds, looking through the tree's entries, the restoring
 * shell's stdio, messages. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "common/fscreds.h"

int fd_rst_fail(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -(err ? err : EIO);
}

struct fd_rst_obj *fd_rst_obj_find(const struct fd_rst *r, int kind, uint64_t key)
{
	long at = key_index_get(&r->obj_index, kind, key);

	if (at != -2)
		return at >= 0 ? &r->obj[at] : NULL;
	for (size_t i = 0; i < r->nr_obj; i++)
		if (r->obj[i].kind == kind && r->obj[i].key == key)
			return &r->obj[i];
	return NULL;
}

struct fd_rst_obj *fd_rst_obj_add(struct fd_rst *r, int kind, uint64_t key)
{
	struct fd_rst_obj *o;

	if (r->nr_obj == r->cap_obj) {
		size_t cap = r->cap_obj ? r->cap_obj * 2 : 16;

		o = realloc(r->obj, cap * sizeof(*o));
		if (!o)
			return NULL;
		r->obj = o;
		r->cap_obj = cap;
	}
	key_index_put(&r->obj_index, kind, key, r->nr_obj);
	o = &r->obj[r->nr_obj++];
	*o = (struct fd_rst_obj){ .kind = kind, .key = key, .fds = { -1, -1 } };
	return o;
}

static int cmp_fd(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

void fd_close_all(int *fds, size_t n)
{
	size_t i = 0;

	qsort(fds, n, sizeof(*fds), cmp_fd);
	while (i < n && fds[i] < 0)
		i++;
	while (i < n) {
		size_t j = i;

		while (j + 1 < n && fds[j + 1] <= fds[j] + 1)
			j++;
		if (j == i || syscall(SYS_close_range, fds[i], fds[j], 0))
			for (size_t k = i; k <= j; k++)
				if (k == i || fds[k] != fds[k - 1])
					close(fds[k]);
		i = j + 1;
	}
}

void fd_table_reserve(int any, rlim_t top)
{
	struct rlimit rl;
	int fd;

	if (top > INT_MAX || getrlimit(RLIMIT_NOFILE, &rl) || top >= rl.rlim_cur)
		return;
	fd = fcntl(any, F_DUPFD_CLOEXEC, (int)top);
	if (fd >= 0)
		close(fd);
}

void fd_rst_objs_close(struct fd_rst *r)
{
	int *fds = malloc((2 * r->nr_obj + 1) * sizeof(*fds));
	size_t n = 0;

	for (size_t i = 0; i < r->nr_obj; i++) {
		struct fd_rst_obj *o = &r->obj[i];
		int f[2] = { o->fds[1] != o->fds[0] ? o->fds[1] : -1,
			     o->fd0_kept ? -1 : o->fds[0] };

		for (int k = 0; k < 2; k++) {
			if (f[k] < 0)
				continue;
			if (fds)
				fds[n++] = f[k];
			else
				close(f[k]);
		}
		o->fds[0] = o->fds[1] = -1;
	}
	if (fds)
		fd_close_all(fds, n);
	free(fds);
	free(r->obj);
	r->obj = NULL;
	r->nr_obj = r->cap_obj = 0;
	key_index_free(&r->obj_index);
}

/* e, or a file in flight in e's queue (a socket's), that matches. */
static const FdEntry *find_in(const FdEntry *e, int type,
			      bool (*match)(const FdEntry *e, const void *arg), const void *arg,
			      int depth)
{
	const SocketInfo *si = e->sock;

	if ((int)e->type == type && match(e, arg))
		return e;
	for (size_t q = 0; si && depth < 4 && q < si->n_queue; q++)
		for (size_t k = 0; k < si->queue[q]->n_rights; k++) {
			const FdEntry *f = find_in(si->queue[q]->rights[k], type, match, arg,
						   depth + 1);

			if (f)
				return f;
		}
	return NULL;
}

const FdEntry *fd_rst_find(const struct fd_rst *r, int type,
			   bool (*match)(const FdEntry *e, const void *arg), const void *arg)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		for (size_t j = 0; j < r->procs[i].nr_fd; j++) {
			const FdEntry *e = find_in(r->procs[i].fd[j], type, match, arg, 0);

			if (e)
				return e;
		}
	return NULL;
}

const struct fd_rst_proc *fd_rst_owner(const struct fd_rst *r, const FdEntry *e)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		for (size_t j = 0; j < r->procs[i].nr_fd; j++)
			if (r->procs[i].fd[j] == e)
				return &r->procs[i];
	return NULL;
}

const FdEntry *fd_rst_entry_at(const struct fd_rst *r, uint32_t pid, uint32_t fd, int *src)
{
	*src = -1;
	for (size_t i = 0; i < r->nr_procs; i++) {
		const struct fd_rst_proc *p = &r->procs[i];

		if (p->pid != pid)
			continue;
		for (size_t j = 0; j < p->nr_fd; j++)
			if (p->fd[j]->fd == fd) {
				*src = p->src ? p->src[j] : -1;
				return p->fd[j];
			}
	}
	return NULL;
}

bool fd_rst_is_shell(const FdEntry *e)
{
	return e->fd <= 2;
}

int fd_rst_open_shell(const FdEntry *e, char *why, size_t len)
{
	int fd = fcntl((int)e->fd, F_DUPFD_CLOEXEC, 3);

	/* criu-lite itself runs without this fd: /dev/null. */
	if (fd < 0)
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot open /dev/null: %s", strerror(errno));
	return fd;
}

int fd_rst_open_flags(const FdEntry *e)
{
	return (int)(e->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOCTTY | O_CLOEXEC;
}

static const struct fd_rst_inherit *inherit_of(const struct fd_rst *r, const FdEntry *e)
{
	for (size_t i = 0; i < r->opts.nr_inherit; i++) {
		const char *res = r->opts.inherit[i].res;

		if ((e->link && !strcmp(res, e->link)) ||
		    (e->file && e->file->path && !strcmp(res, e->file->path)))
			return &r->opts.inherit[i];
	}
	return NULL;
}

bool fd_rst_inherits(const struct fd_rst *r, const FdEntry *e)
{
	return inherit_of(r, e);
}

int fd_rst_inherited(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const struct fd_rst_inherit *in = inherit_of(r, e);
	int fd;

	if (!in)
		return -ENOENT;
	fd = fcntl(in->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return fd_rst_fail(why, len, EBADF, "--inherit-fd fd[%d]:%s: restore has no fd %d",
				   in->fd, in->res, in->fd);
	return fd;
}

int fd_rst_as_owner(const struct fd_rst *r, const FdEntry *e, const struct fscreds **prev,
		    char *why, size_t len)
{
	const struct fd_rst_proc *p = fd_rst_owner(r, e);
	int rc;

	if (!p && r->nr_procs)
		p = &r->procs[0];
	rc = fscreds_enter(p ? p->creds : NULL, prev);
	return rc ? fd_rst_fail(why, len, -rc, "cannot take the credentials of process %u: %s",
				p ? p->pid : 0, strerror(-rc)) : 0;
}
