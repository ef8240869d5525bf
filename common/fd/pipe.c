/* Pipes and FIFOs.
 *
 * Dump: inode, size, and the bytes still queued, copied without consuming
 * anything: open /proc/PID/fd/N for reading (for a pipe or FIFO the kernel
 * opens the pipe inode itself, so this works for the write end too), then
 * tee(2) it into a pipe of our own with as many slots. tee duplicates
 * references to the queued pipe buffers and moves no read position, so the
 * target later reads every byte, in order, as if we had never looked. For
 * the short time our read end is open the pipe has one more reader; a
 * writer in the target cannot notice, since it is stopped.
 *
 * Restore: a pipe is made once and every fd on it dups its read or write
 * end, so the processes share it as they did; a FIFO is held open
 * read-write (that never blocks) and each fd reopens it through
 * /proc/self/fd with its own flags. The queued bytes go back once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "common/fd/fd.h"
#include "common/procfs.h"
#include "images/log.h"

/* Per-fd flags that belong to the open file description. */
#define FL_SETTABLE (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

/* ---- dump ---- */

/* The first fd of a process on a pipe carries its data (see files.proto). */
static int pipe_first_sight(struct fd_dump *c, uint64_t ino)
{
	for (size_t i = 0; i < c->nr_pipes_seen; i++)
		if (c->pipes_seen[i] == ino)
			return 0;
	if (c->nr_pipes_seen == c->pipes_cap) {
		size_t cap = c->pipes_cap ? c->pipes_cap * 2 : 16;
		uint64_t *p = realloc(c->pipes_seen, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->pipes_seen = p;
		c->pipes_cap = cap;
	}
	c->pipes_seen[c->nr_pipes_seen++] = ino;
	return 1;
}

static void pipe_dump_done(struct fd_dump *c)
{
	free(c->pipes_seen);
	c->pipes_seen = NULL;
	c->nr_pipes_seen = c->pipes_cap = 0;
}

static int read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += n;
	}
	return 0;
}

/* Copy what is queued in the pipe open at `rfd` into pi->data. */
static int pipe_peek(int rfd, const struct fd_desc *d, PipeInfo *pi)
{
	int queued = 0, own[2] = { -1, -1 }, r = 0;
	ssize_t n;

	if (ioctl(rfd, FIONREAD, &queued) < 0)
		return pr_perror("FIONREAD on fd %d (%s)", d->fd, d->link);
	if (queued <= 0)
		return 0;
	if (pipe2(own, O_NONBLOCK | O_CLOEXEC) < 0)
		return pr_perror("cannot create a pipe");
	/* tee needs one free slot per queued buffer: same size, same slots.
	 * Past fs.pipe-max-size without CAP_SYS_RESOURCE this fails and we
	 * copy what fits, flagged as truncated. */
	if (fcntl(own[1], F_SETPIPE_SZ, pi->pipe_size) < 0)
		pr_warn("fd %d: cannot size a pipe to %u bytes: %s", d->fd, pi->pipe_size,
			strerror(errno));
	n = tee(rfd, own[1], queued, SPLICE_F_NONBLOCK);
	/* A reader outside the frozen tree may have emptied it meanwhile. */
	if (n < 0 && errno == EAGAIN)
		n = 0;
	if (n < 0) {
		r = pr_perror("tee from fd %d (%s)", d->fd, d->link);
		goto out;
	}
	pi->data.data = malloc(n ? n : 1);
	if (!pi->data.data) {
		r = -ENOMEM;
		goto out;
	}
	r = read_full(own[0], pi->data.data, n);
	if (r < 0) {
		free(pi->data.data);
		pi->data.data = NULL;
		goto out;
	}
	pi->has_data = true;
	pi->data.len = n;
	if (n < queued) {
		pi->has_data_truncated = pi->data_truncated = true;
		pr_warn("fd %d (%s): only %zd of %d queued bytes could be copied", d->fd,
			d->link, n, queued);
	}
out:
	close(own[0]);
	close(own[1]);
	return r;
}

static bool is_pipe(const struct fd_desc *d)
{
	return S_ISFIFO(d->st.st_mode) && !strncmp(d->link, "pipe:[", 6);
}

static bool is_fifo(const struct fd_desc *d)
{
	return S_ISFIFO(d->st.st_mode) && strncmp(d->link, "pipe:[", 6);
}

static int pipe_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	char name[32];
	PipeInfo *pi;
	int rfd, r, sz;

	e->type = is_pipe(d) ? FD_TYPE__FD_PIPE : FD_TYPE__FD_FIFO;
	if (e->type == FD_TYPE__FD_FIFO && !(e->file = fd_dump_identity(d)))
		return -ENOMEM;
	pi = e->pipe = malloc(sizeof(*pi));
	if (!pi)
		return -ENOMEM;
	pipe_info__init(pi);
	pi->ino = d->st.st_ino;

	snprintf(name, sizeof(name), "fd/%d", d->fd);
	/* O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
	 * ENOENT: the fd was closed meanwhile, which the caller reports. */
	rfd = procfs_open(c->pid, name, O_RDONLY | O_NONBLOCK | PROCFS_QUIET);
	if (rfd == -ENOENT)
		return rfd;
	if (rfd < 0)
		return procfs_log_err(c->pid, name, rfd);
	sz = fcntl(rfd, F_GETPIPE_SZ);
	if (sz < 0) {
		r = pr_perror("F_GETPIPE_SZ on fd %d of %d (%s)", d->fd, c->pid, d->link);
		goto out;
	}
	pi->has_pipe_size = true;
	pi->pipe_size = sz;
	r = pipe_first_sight(c, pi->ino);
	if (r > 0)
		r = pipe_peek(rfd, d, pi);
out:
	close(rfd);
	return r;
}

/* ---- restore ---- */

struct end_of {
	uint64_t ino;
	int acc;
};

static bool is_end_of(const FdEntry *e, const void *arg)
{
	const struct end_of *w = arg;

	return e->pipe && e->pipe->ino == w->ino && (int)(e->flags & O_ACCMODE) == w->acc;
}

/* Is there an fd in the tree on pipe `ino` opened for `acc`? */
static bool tree_has_end(const struct fd_rst *r, uint64_t ino, int acc)
{
	struct end_of w = { ino, acc };

	return fd_rst_find(r, FD_TYPE__FD_PIPE, is_end_of, &w);
}

static int pipe_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	if (!e->pipe)
		return fd_rst_fail(why, len, EINVAL, "pipe without details in the image");
	if (tree_has_end(r, e->pipe->ino, O_RDONLY) && tree_has_end(r, e->pipe->ino, O_WRONLY))
		return 0;
	if (fd_rst_is_shell(e))
		return 0;
	return fd_rst_fail(why, len, EOPNOTSUPP, "pipe whose other end is outside the dumped tree");
}

static int pipe_fill(struct fd_rst_obj *o, const PipeInfo *pi, char *why, size_t len)
{
	int fl = fcntl(o->fds[1], F_GETFL);
	size_t off = 0;

	o->data_done = true;
	if (pi->has_pipe_size && pi->pipe_size > (uint32_t)fcntl(o->fds[1], F_GETPIPE_SZ) &&
	    fcntl(o->fds[1], F_SETPIPE_SZ, pi->pipe_size) < 0)
		pr_warn("pipe %llu: cannot grow it to %u bytes: %s",
			(unsigned long long)o->key, pi->pipe_size, strerror(errno));
	if (pi->data_truncated)
		pr_warn("pipe %llu: only the first %zu unread bytes were dumped",
			(unsigned long long)o->key, pi->data.len);
	/* Non-blocking: a full pipe must fail, not hang the restore. */
	fcntl(o->fds[1], F_SETFL, fl | O_NONBLOCK);
	while (off < pi->data.len) {
		ssize_t n = write(o->fds[1], pi->data.data + off, pi->data.len - off);

		if (n <= 0) {
			int err = errno;

			fcntl(o->fds[1], F_SETFL, fl);
			return fd_rst_fail(why, len, err, "pipe %llu: cannot put back %zu unread "
					   "bytes: %s", (unsigned long long)o->key, pi->data.len,
					   strerror(err));
		}
		off += n;
	}
	fcntl(o->fds[1], F_SETFL, fl);
	return 0;
}

/* The pipe's object, made at its first fd; its data put back once (it is
 * stored in every process image holding the pipe). */
static int pipe_obj(struct fd_rst *r, const FdEntry *e, struct fd_rst_obj **out, char *why,
		    size_t len)
{
	struct fd_rst_obj *o = fd_rst_obj_find(r, FD_TYPE__FD_PIPE, e->pipe->ino);

	*out = o;
	if (!o) {
		o = *out = fd_rst_obj_add(r, FD_TYPE__FD_PIPE, e->pipe->ino);
		if (!o)
			return -ENOMEM;
		if (pipe2(o->fds, O_CLOEXEC))
			return fd_rst_fail(why, len, errno, "cannot create a pipe: %s",
					   strerror(errno));
	}
	if (!o->data_done && e->pipe->has_data && e->pipe->data.len)
		return pipe_fill(o, e->pipe, why, len);
	return 0;
}

static int pipe_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct fd_rst_obj *o = NULL;
	int fd, rc;

	if (!(tree_has_end(r, e->pipe->ino, O_RDONLY) && tree_has_end(r, e->pipe->ino, O_WRONLY)))
		return fd_rst_open_shell(e, why, len);
	rc = pipe_obj(r, e, &o, why, len);
	if (rc)
		return rc;
	fd = fcntl(o->fds[(e->flags & O_ACCMODE) == O_WRONLY], F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "dup: %s", strerror(errno));
	fcntl(fd, F_SETFL, e->flags & FL_SETTABLE);
	return fd;
}

static int fifo_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->file || !e->pipe)
		return fd_rst_fail(why, len, EINVAL, "fifo without details in the image");
	return 0;
}

static int fifo_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct fd_rst_obj *o = fd_rst_obj_find(r, FD_TYPE__FD_FIFO, e->pipe->ino);
	char path[64];
	int fd, rc;

	if (!o) {
		o = fd_rst_obj_add(r, FD_TYPE__FD_FIFO, e->pipe->ino);
		if (!o)
			return -ENOMEM;
		o->fds[0] = open(e->file->path, O_RDWR | O_CLOEXEC);
		if (o->fds[0] < 0)
			return fd_rst_fail(why, len, errno, "cannot open fifo %s: %s", e->file->path,
					   strerror(errno));
		o->fds[1] = o->fds[0];
		if (e->pipe->has_data && e->pipe->data.len &&
		    (rc = pipe_fill(o, e->pipe, why, len)))
			return rc;
	}
	/* A reopen: this fd gets its own description and access mode. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", o->fds[0]);
	fd = open(path, fd_rst_open_flags(e));
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot reopen fifo %s: %s", e->file->path,
				   strerror(errno));
	return fd;
}

const struct fd_kind fdk_pipe = {
	.type = FD_TYPE__FD_PIPE,
	.name = "pipe",
	.dump_match = is_pipe,
	.dump = pipe_dump,
	.dump_done = pipe_dump_done,
	.check = pipe_check,
	.open = pipe_open,
};

const struct fd_kind fdk_fifo = {
	.type = FD_TYPE__FD_FIFO,
	.name = "fifo",
	.dump_match = is_fifo,
	.dump = pipe_dump,
	.check = fifo_check,
	.open = fifo_open,
};
