/* Pipes and FIFOs.
 *
 * Dump: inode, size, and the bytes still queued, copied without consuming
 * anything: open /proc/PID/fd/N for reading (for a pipe or FIFO the kernel
 * opens the pipe inode itself, so this works for the write end too), then
 * tee(2) it into a pipe of our own with as many slots. tee duplicates
 * references to the queued pipe buffers and moves no read position, so the
 * target later reads every byte, in order, as if we had never looked. For
 * the short time our read end is open the pipe has one more reader; a
 * writer in the target cannot notice, since it is stopped. Whether anyone
 * at all holds the other end is asked of the pipe itself: a read end we
 * open sees POLLHUP when no writer is left, a write end POLLERR when no
 * reader is.
 *
 * Restore: a pipe is made once (its size, then its queued bytes) and every
 * open file description on it is a reopen of its read or write end through
 * /proc/self/fd, with its own flags (O_NONBLOCK...); fds sharing one
 * description are dups of it (fds.c). An end that no process of the tree
 * held is closed once the tree is set up: readers get EOF after the queued
 * bytes, writers EPIPE/SIGPIPE, as they would have had the outside holder
 * gone (a warning says so, unless nobody held it at the dump either); the
 * caller can pass that holder's pipe in with --inherit-fd instead. A FIFO
 * is held open read-write (that never blocks) and reopened by path the
 * same way; one unlinked at the dump is made again and unlinked. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
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

/* Has the other end of the pipe at `path` no holder left? A write end
 * of ours sees POLLERR when no reader is left, a read end POLLHUP when no
 * writer is (for a pipe, not a FIFO, from its first open on). Our own end
 * is never the last one of its side: the fd being dumped is there too. */
static bool peer_gone(const char *path, int acc, int rfd)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	bool gone;

	if (acc == O_RDWR)
		return false;
	if (acc == O_RDONLY)
		return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
	p.fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (p.fd < 0)
		return false;
	p.events = POLLOUT;
	gone = poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
	close(p.fd);
	return gone;
}

static int pipe_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	char name[32], path[64];
	PipeInfo *pi;
	int rfd, r, sz;
	bool gone = false;

	e->type = is_pipe(d) ? FD_TYPE__FD_PIPE : FD_TYPE__FD_FIFO;
	if (e->type == FD_TYPE__FD_FIFO && !(e->file = fd_dump_identity(d)))
		return -ENOMEM;
	pi = e->pipe = malloc(sizeof(*pi));
	if (!pi)
		return -ENOMEM;
	pipe_info__init(pi);
	pi->ino = d->st.st_ino;

	snprintf(name, sizeof(name), "fd/%d", d->fd);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, d->fd);
	/* Before our read end exists: it would be a reader. */
	if (e->type == FD_TYPE__FD_PIPE && (e->flags & O_ACCMODE) == O_WRONLY)
		gone = peer_gone(path, O_WRONLY, -1);
	/* O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
	 * ENOENT: the fd was closed meanwhile, which the caller reports. */
	rfd = procfs_open(c->pid, name, O_RDONLY | O_NONBLOCK | PROCFS_QUIET);
	if (rfd == -ENOENT)
		return rfd;
	if (rfd < 0)
		return procfs_log_err(c->pid, name, rfd);
	if (e->type == FD_TYPE__FD_PIPE && (e->flags & O_ACCMODE) == O_RDONLY)
		gone = peer_gone(path, O_RDONLY, rfd);
	pi->has_peer_gone = true;
	pi->peer_gone = gone;
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
	int acc = (int)(e->flags & O_ACCMODE);

	return e->pipe && e->pipe->ino == w->ino && (acc == w->acc || acc == O_RDWR);
}

/* Is there an fd in the tree on pipe `ino` opened for `acc`? */
static bool tree_has_end(const struct fd_rst *r, uint64_t ino, int acc)
{
	struct end_of w = { ino, acc };

	return fd_rst_find(r, FD_TYPE__FD_PIPE, is_end_of, &w);
}

static bool peer_held_outside(const FdEntry *e, const void *arg)
{
	const struct end_of *w = arg;

	return e->pipe && e->pipe->ino == w->ino && !e->pipe->peer_gone;
}

static int pipe_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->pipe)
		return fd_rst_fail(why, len, EINVAL, "pipe without details in the image");
	return 0;
}

static int pipe_fill(struct fd_rst_obj *o, const PipeInfo *pi, char *why, size_t len)
{
	int fl = fcntl(o->fds[1], F_GETFL);
	size_t off = 0;

	o->data_done = true;
	if (!pi->has_data || !pi->data.len)
		return 0;
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

/* The dumped size, before any byte goes in (a smaller one fails once full). */
static void pipe_size(struct fd_rst_obj *o, const PipeInfo *pi)
{
	if (pi->has_pipe_size && pi->pipe_size != (uint32_t)fcntl(o->fds[1], F_GETPIPE_SZ) &&
	    fcntl(o->fds[1], F_SETPIPE_SZ, pi->pipe_size) < 0)
		pr_warn("pipe %llu: cannot size it to %u bytes: %s", (unsigned long long)o->key,
			pi->pipe_size, strerror(errno));
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
		pipe_size(o, e->pipe);
	}
	if (!o->data_done && e->pipe->has_data)
		return pipe_fill(o, e->pipe, why, len);
	return 0;
}

/* A new open file description on `fd`'s pipe or FIFO, as e had it. */
static int reopen(int fd, const FdEntry *e, const char *what, char *why, size_t len)
{
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = open(path, fd_rst_open_flags(e));
	if (n < 0)
		return fd_rst_fail(why, len, errno, "cannot reopen %s: %s", what, strerror(errno));
	return n;
}

static void warn_outside(const struct fd_rst *r, const FdEntry *e, bool rd)
{
	struct end_of w = { e->pipe->ino, 0 };

	/* Said once per pipe: at its first description, the one making it. */
	if (fd_rst_find(r, FD_TYPE__FD_PIPE, peer_held_outside, &w))
		pr_warn("%s: its %s end was held outside the dumped tree: it comes back closed "
			"(--inherit-fd fd[N]:%s passes one in)", e->link ? e->link : "pipe",
			!rd ? "read" : "write", e->link ? e->link : "pipe:[INO]");
}

static int pipe_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	bool rd = tree_has_end(r, e->pipe->ino, O_RDONLY), wr = tree_has_end(r, e->pipe->ino, O_WRONLY);
	struct fd_rst_obj *o = NULL;
	bool first = !fd_rst_obj_find(r, FD_TYPE__FD_PIPE, e->pipe->ino);
	int rc;

	if (!(rd && wr) && fd_rst_is_shell(e))
		return fd_rst_open_shell(e, why, len);
	rc = pipe_obj(r, e, &o, why, len);
	if (rc)
		return rc;
	if (first && !(rd && wr))
		warn_outside(r, e, rd);
	return reopen(o->fds[(e->flags & O_ACCMODE) == O_WRONLY], e, "a pipe", why, len);
}

static int fifo_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->file || !e->pipe)
		return fd_rst_fail(why, len, EINVAL, "fifo without details in the image");
	return 0;
}

/* The FIFO's path: the dumped one, or one made again if it was unlinked. */
static const char *fifo_path(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	if (!fd_link_deleted(e->link))
		return e->file->path;
	return fd_rst_ghost_path(r, 0, e->link, S_IFIFO | (e->file->has_mode ? e->file->mode & 07777
								      : 0600), why, len);
}

static int fifo_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct fd_rst_obj *o = fd_rst_obj_find(r, FD_TYPE__FD_FIFO, e->pipe->ino);
	const char *path;
	int rc;

	if (!o) {
		o = fd_rst_obj_add(r, FD_TYPE__FD_FIFO, e->pipe->ino);
		if (!o)
			return -ENOMEM;
		if (!(path = fifo_path(r, e, why, len)))
			return -ENOENT;
		o->fds[0] = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (o->fds[0] < 0)
			return fd_rst_fail(why, len, errno, "cannot open fifo %s: %s", path,
					   strerror(errno));
		fcntl(o->fds[0], F_SETFL, 0);
		o->fds[1] = o->fds[0];
		pipe_size(o, e->pipe);
		if ((rc = pipe_fill(o, e->pipe, why, len)))
			return rc;
	}
	/* A reopen: this fd gets its own description and access mode. */
	return reopen(o->fds[0], e, e->file->path, why, len);
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
