/* In the forked child: put every dumped fd back at its number. Each source
 * (inherited shared object, criu-lite's stdio, a freshly opened file) is
 * first moved above every dumped number, so that installing one fd can
 * never overwrite the source of another; then each is dup2'ed into place
 * and everything else is closed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#include "restore/fds.h"
#include "restore/rst.h"

/* Per-fd flags that belong to the open file description. */
#define FL_SETTABLE (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

struct fd_ctx {
	struct rst_tree *t;
	struct rst_proc *p;
	struct rst_status *st;
	int hi;			/* sources live at or above this */
};

static int move_high(struct fd_ctx *c, int fd, const FdEntry *e)
{
	int n;

	if (fd < 0)
		return rst_child_fail(c->st, errno, "fd %u (%s): %s", e->fd,
				      e->link ? e->link : "?", strerror(errno));
	n = fcntl(fd, F_DUPFD_CLOEXEC, c->hi);
	if (n < 0)
		return rst_child_fail(c->st, errno, "fd %u: cannot move it: %s", e->fd,
				      strerror(errno));
	return n;
}

static int open_flags(const FdEntry *e)
{
	return (int)(e->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOCTTY | O_CLOEXEC;
}

static int src_open(struct fd_ctx *c, const FdEntry *e)
{
	struct stat st;
	int fd, n;

	fd = open(e->file->path, open_flags(e));
	if (fd < 0)
		return rst_child_fail(c->st, errno, "fd %u: cannot open %s: %s", e->fd,
				      e->file->path, strerror(errno));
	if (e->type == FD_TYPE__FD_REG) {
		if (fstat(fd, &st) == 0 && e->file->has_size && (uint64_t)st.st_size != e->file->size) {
			close(fd);
			return rst_child_fail(c->st, ESTALE, "fd %u: %s changed size since the dump "
					      "(%llu bytes, now %lld)", e->fd, e->file->path,
					      (unsigned long long)e->file->size,
					      (long long)st.st_size);
		}
		if (e->has_pos && lseek(fd, (off_t)e->pos, SEEK_SET) < 0) {
			close(fd);
			return rst_child_fail(c->st, errno, "fd %u: cannot seek %s to %llu: %s",
					      e->fd, e->file->path, (unsigned long long)e->pos,
					      strerror(errno));
		}
	}
	n = move_high(c, fd, e);
	close(fd);
	return n;
}

static int src_shell_tty(struct fd_ctx *c, const FdEntry *e)
{
	char path[PATH_MAX];

	for (int fd = 0; fd < 3; fd++) {
		int n;

		if (!isatty(fd) || ttyname_r(fd, path, sizeof(path)))
			continue;
		fd = open(path, open_flags(e));
		n = move_high(c, fd, e);
		if (fd >= 0)
			close(fd);
		return n;
	}
	return rst_child_fail(c->st, ENOTTY, "fd %u: no terminal to give it", e->fd);
}

static int src_shared(struct fd_ctx *c, const FdEntry *e)
{
	struct rst_shared *s;
	char path[64];
	int fd, n;

	if (e->type == FD_TYPE__FD_PIPE) {
		s = rst_shared_find(c->t, FD_TYPE__FD_PIPE, e->pipe->ino);
		return move_high(c, s ? s->fds[(e->flags & O_ACCMODE) == O_WRONLY] : -1, e);
	}
	if (e->type == FD_TYPE__FD_FIFO) {
		s = rst_shared_find(c->t, FD_TYPE__FD_FIFO, e->pipe->ino);
		if (!s)
			return move_high(c, -1, e);
		/* A reopen: this fd gets its own description and access mode. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", s->fds[0]);
		fd = open(path, open_flags(e));
		n = move_high(c, fd, e);
		if (fd >= 0)
			close(fd);
		return n;
	}
	s = rst_shared_find(c->t, FD_TYPE__FD_SOCKET, e->sock->ino);
	return move_high(c, s ? s->fds[0] : -1, e);
}

static int src_timerfd(struct fd_ctx *c, const FdEntry *e)
{
	const TimerfdInfo *ti = e->timerfd;
	struct itimerspec its = {
		.it_value = { (time_t)(ti->value_ns / 1000000000), (long)(ti->value_ns % 1000000000) },
		.it_interval = { (time_t)(ti->interval_ns / 1000000000),
				 (long)(ti->interval_ns % 1000000000) },
	};
	int fd = timerfd_create((int)ti->clockid, e->flags & O_NONBLOCK ? TFD_NONBLOCK : 0);
	int n;

	/* The image has the time left, so re-arm relative to now. */
	if (fd >= 0 && (ti->value_ns || ti->interval_ns) && timerfd_settime(fd, 0, &its, NULL))
		return rst_child_fail(c->st, errno, "fd %u: cannot arm the timerfd: %s", e->fd,
				      strerror(errno));
	n = move_high(c, fd, e);
	if (fd >= 0)
		close(fd);
	return n;
}

static int src_new(struct fd_ctx *c, const FdEntry *e, enum rst_fd_how how)
{
	int fd = -1, n;

	if (how == RST_FD_EVENTFD)
		fd = eventfd((unsigned int)e->eventfd_count,
			     (e->flags & O_NONBLOCK ? EFD_NONBLOCK : 0) |
			     (e->eventfd_semaphore ? EFD_SEMAPHORE : 0));
	else if (how == RST_FD_EPOLL)
		fd = epoll_create1(0);
	else if (how == RST_FD_SIGNALFD) {
		sigset_t mask;

		sigemptyset(&mask);
		for (int sig = 1; sig <= 64; sig++)
			if (e->signalfd_mask & (1ULL << (sig - 1)))
				sigaddset(&mask, sig);
		fd = signalfd(-1, &mask, e->flags & O_NONBLOCK ? SFD_NONBLOCK : 0);
	} else if (how == RST_FD_TIMERFD)
		return src_timerfd(c, e);
	n = move_high(c, fd, e);
	if (fd >= 0)
		close(fd);
	return n;
}

static int src_for(struct fd_ctx *c, const FdEntry *e)
{
	char buf[8];
	enum rst_fd_how how = rst_fd_classify(c->t, e, buf, sizeof(buf));

	switch (how) {
	case RST_FD_SHELL:
		if (fcntl((int)e->fd, F_GETFD) < 0) {
			/* criu-lite itself runs without this fd: /dev/null. */
			int fd = open("/dev/null", O_RDWR | O_CLOEXEC), n = move_high(c, fd, e);

			if (fd >= 0)
				close(fd);
			return n;
		}
		return move_high(c, (int)e->fd, e);
	case RST_FD_SHELL_TTY:
		return src_shell_tty(c, e);
	case RST_FD_SHARED:
		return src_shared(c, e);
	case RST_FD_OPEN:
		return src_open(c, e);
	case RST_FD_UNSUPPORTED:
		return rst_child_fail(c->st, ENOTSUP, "fd %u cannot be restored", e->fd);
	default:
		return src_new(c, e, how);
	}
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every fd but the sorted `keep` ones. */
static void close_others(const int *keep, size_t n)
{
	unsigned int from = 0;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			syscall(SYS_close_range, from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

static void fill_epoll(struct fd_ctx *c, const FdEntry *e)
{
	for (size_t k = 0; k < e->n_epoll_tfds; k++) {
		struct epoll_event ev = {
			.events = k < e->n_epoll_events ? e->epoll_events[k] : EPOLLIN,
			.data.u64 = k < e->n_epoll_data ? e->epoll_data[k] : e->epoll_tfds[k],
		};

		/* A watched fd closed since is gone from the epoll too. */
		if (fcntl((int)e->epoll_tfds[k], F_GETFD) >= 0)
			epoll_ctl((int)e->fd, EPOLL_CTL_ADD, (int)e->epoll_tfds[k], &ev);
	}
	(void)c;
}

int rst_fds_setup(struct rst_tree *t, struct rst_proc *p, struct rst_status *st, int *status_fd)
{
	struct fd_ctx c = { .t = t, .p = p, .st = st };
	int max = -1, *src, *keep, r = 0;
	size_t i;

	for (i = 0; i < p->nr_fd; i++)
		if ((int)p->fd[i]->fd > max)
			max = (int)p->fd[i]->fd;
	/* Above every dumped number and above the mm files that follow them. */
	c.hi = max + (int)p->nr_mf + 16;
	src = calloc(p->nr_fd + 1, sizeof(int));
	keep = calloc(p->nr_fd + 1, sizeof(int));
	if (!src || !keep) {
		free(src);
		free(keep);
		return rst_child_fail(st, ENOMEM, "out of memory");
	}
	*status_fd = fcntl(*status_fd, F_DUPFD_CLOEXEC, c.hi);
	for (i = 0; i < p->nr_fd && r >= 0; i++)
		r = src[i] = src_for(&c, p->fd[i]);
	for (i = 0; i < p->nr_fd && r >= 0; i++) {
		const FdEntry *e = p->fd[i];
		char buf[8];

		if (dup2(src[i], (int)e->fd) < 0) {
			r = rst_child_fail(st, errno, "cannot install fd %u: %s", e->fd,
					   strerror(errno));
			break;
		}
		fcntl((int)e->fd, F_SETFD, e->fd_flags & FD_CLOEXEC);
		if (rst_fd_classify(t, e, buf, sizeof(buf)) == RST_FD_SHARED)
			fcntl((int)e->fd, F_SETFL, e->flags & FL_SETTABLE);
		keep[i] = (int)e->fd;
	}
	if (r >= 0) {
		keep[p->nr_fd] = *status_fd;
		qsort(keep, p->nr_fd + 1, sizeof(int), cmp_int);
		close_others(keep, p->nr_fd + 1);
		for (i = 0; i < p->nr_fd; i++)
			if (p->fd[i]->type == FD_TYPE__FD_EPOLL)
				fill_epoll(&c, p->fd[i]);
		p->mm_fd_base = max + 1;
		r = 0;
	}
	free(src);
	free(keep);
	return r;
}
