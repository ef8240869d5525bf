/* epoll: the watched fds with their events and data (fdinfo's "tfd:" lines).
 * Restore makes the epoll in criu-lite and registers the watches in the
 * process itself, once its fds are at their numbers: epoll keys each watch
 * by the fd number the process used. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/fd/fd.h"
#include "images/log.h"

static bool is_epoll(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[eventpoll]");
}

/* One "tfd: N events: X data: X  pos:... ino:... sdev:..." line per watch. */
static int epoll_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	size_t n = 0, i = 0;
	const char *p;

	(void)c;
	e->type = FD_TYPE__FD_EPOLL;
	for (p = d->fdinfo; (p = strstr(p, "\ntfd:")); p++)
		n++;
	if (!n)
		return 0;
	e->epoll_tfds = calloc(n, sizeof(*e->epoll_tfds));
	e->epoll_events = calloc(n, sizeof(*e->epoll_events));
	e->epoll_data = calloc(n, sizeof(*e->epoll_data));
	/* set the counts first: img_free() must see the arrays it frees */
	e->n_epoll_tfds = e->n_epoll_events = e->n_epoll_data = n;
	if (!e->epoll_tfds || !e->epoll_events || !e->epoll_data)
		return -ENOMEM;
	for (p = d->fdinfo; i < n && (p = strstr(p, "\ntfd:")); p++) {
		unsigned int tfd, ev;
		unsigned long long data;

		if (sscanf(p + 1, "tfd: %u events: %x data: %llx", &tfd, &ev, &data) != 3) {
			pr_err("fd %d: cannot parse epoll fdinfo line: %.80s", d->fd, p + 1);
			return -EINVAL;
		}
		e->epoll_tfds[i] = tfd;
		e->epoll_events[i] = ev;
		e->epoll_data[i] = data;
		i++;
	}
	return 0;
}

static int epoll_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r, (void)e, (void)why, (void)len;
	return 0;
}

static int epoll_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	(void)r, (void)e;
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "epoll_create1: %s", strerror(errno));
	return fd;
}

static int epoll_install(const FdEntry *e, char *why, size_t len)
{
	(void)why, (void)len;
	for (size_t k = 0; k < e->n_epoll_tfds; k++) {
		struct epoll_event ev = {
			.events = k < e->n_epoll_events ? e->epoll_events[k] : EPOLLIN,
			.data.u64 = k < e->n_epoll_data ? e->epoll_data[k] : e->epoll_tfds[k],
		};

		/* A watched fd closed since is gone from the epoll too. */
		if (fcntl((int)e->epoll_tfds[k], F_GETFD) >= 0)
			epoll_ctl((int)e->fd, EPOLL_CTL_ADD, (int)e->epoll_tfds[k], &ev);
	}
	return 0;
}

const struct fd_kind fdk_epoll = {
	.type = FD_TYPE__FD_EPOLL,
	.name = "epoll",
	.dump_match = is_epoll,
	.dump = epoll_dump,
	.check = epoll_check,
	.open = epoll_open,
	.install = epoll_install,
};
