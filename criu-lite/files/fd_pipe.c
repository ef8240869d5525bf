/* Pipes and FIFOs: inode, size, and the bytes still queued in them, copied
 * without consuming anything.
 *
 * The copy: open /proc/PID/fd/N for reading (for a pipe or FIFO the kernel
 * opens the pipe inode itself, so this works for the write end too), then
 * tee(2) it into a pipe of our own with as many slots. tee duplicates
 * references to the queued pipe buffers and moves no read position, so the
 * target later reads every byte, in order, as if we had never looked.
 *
 * Side effect, for the short time our read end is open: the pipe has one
 * more reader. A writer in the target cannot notice, since it is stopped. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "criu-lite/files/files.h"
#include "images/log.h"

/* The first fd of a process on a pipe carries its data (see files.proto). */
static int pipe_first_sight(struct files_ctx *ctx, uint64_t ino)
{
	for (size_t i = 0; i < ctx->nr_pipes_seen; i++)
		if (ctx->pipes_seen[i] == ino)
			return 0;
	if (ctx->nr_pipes_seen == ctx->pipes_cap) {
		size_t cap = ctx->pipes_cap ? ctx->pipes_cap * 2 : 16;
		uint64_t *p = realloc(ctx->pipes_seen, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		ctx->pipes_seen = p;
		ctx->pipes_cap = cap;
	}
	ctx->pipes_seen[ctx->nr_pipes_seen++] = ino;
	return 1;
}

void fd_pipe_ctx_free(struct files_ctx *ctx)
{
	free(ctx->pipes_seen);
	ctx->pipes_seen = NULL;
	ctx->nr_pipes_seen = ctx->pipes_cap = 0;
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

int fd_pipe_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e)
{
	char path[64];
	PipeInfo *pi;
	int rfd, r, sz;

	e->type = strncmp(d->link, "pipe:[", 6) ? FD_TYPE__FD_FIFO : FD_TYPE__FD_PIPE;
	if (e->type == FD_TYPE__FD_FIFO && !(e->file = files_identity(d)))
		return -ENOMEM;
	pi = e->pipe = malloc(sizeof(*pi));
	if (!pi)
		return -ENOMEM;
	pipe_info__init(pi);
	pi->ino = d->st.st_ino;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", ctx->pid, d->fd);
	/* O_NONBLOCK: opening a FIFO for reading must not wait for a writer. */
	rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0)
		return errno == ENOENT ? -ENOENT : pr_perror("cannot reopen %s (%s)", path, d->link);
	sz = fcntl(rfd, F_GETPIPE_SZ);
	if (sz < 0) {
		r = pr_perror("F_GETPIPE_SZ on %s", path);
		goto out;
	}
	pi->has_pipe_size = true;
	pi->pipe_size = sz;
	r = pipe_first_sight(ctx, pi->ino);
	if (r > 0)
		r = pipe_peek(rfd, d, pi);
out:
	close(rfd);
	return r;
}
