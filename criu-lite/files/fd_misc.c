/* The smaller kinds of fd: anon-inode objects whose state fdinfo shows
 * (eventfd, epoll, signalfd, timerfd, inotify, pidfd), character devices
 * and ttys, memfds; and the typed "unsupported" record for everything else,
 * which keeps the dump going with a warning naming the fd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sysmacros.h>

#include "criu-lite/files/files.h"
#include "images/log.h"

int fd_unsupported(const struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e,
		   const char *reason)
{
	e->type = FD_TYPE__FD_UNSUPPORTED;
	e->unsupported_reason = files_strdup(reason);
	if (!e->unsupported_reason)
		return -ENOMEM;
	pr_warn("pid %d fd %d (%s): %s is not supported; recorded as unsupported", ctx->pid,
		d->fd, d->link, reason);
	return 0;
}

static int fill_eventfd(const struct fd_desc *d, FdEntry *e)
{
	const char *v = fdinfo_field(d->fdinfo, "eventfd-count");

	e->type = FD_TYPE__FD_EVENTFD;
	if (v) {
		/* printed with %16llx: hexadecimal without a 0x */
		e->has_eventfd_count = true;
		e->eventfd_count = strtoull(v, NULL, 16);
	}
	if ((v = fdinfo_field(d->fdinfo, "eventfd-semaphore"))) {
		e->has_eventfd_semaphore = true;
		e->eventfd_semaphore = atoi(v) != 0;
	}
	return 0;
}

/* One "tfd: N events: X data: X  pos:... ino:... sdev:..." line per watch. */
static int fill_epoll(const struct fd_desc *d, FdEntry *e)
{
	size_t n = 0, i = 0;
	const char *p;

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

static int fill_signalfd(const struct fd_desc *d, FdEntry *e)
{
	const char *v = fdinfo_field(d->fdinfo, "sigmask");

	e->type = FD_TYPE__FD_SIGNALFD;
	if (v) {
		e->has_signalfd_mask = true;
		e->signalfd_mask = strtoull(v, NULL, 16);
	}
	return 0;
}

static uint64_t timespec_field(const char *fdinfo, const char *key)
{
	const char *v = fdinfo_field(fdinfo, key);
	unsigned long long s = 0, ns = 0;

	if (v)
		sscanf(v, "(%llu, %llu)", &s, &ns);
	return s * 1000000000ull + ns;
}

static int fill_timerfd(const struct fd_desc *d, FdEntry *e)
{
	TimerfdInfo *t = malloc(sizeof(*t));
	const char *v;

	e->type = FD_TYPE__FD_TIMERFD;
	if (!t)
		return -ENOMEM;
	timerfd_info__init(t);
	e->timerfd = t;
	v = fdinfo_field(d->fdinfo, "clockid");
	t->clockid = v ? atoi(v) : 0;
	if ((v = fdinfo_field(d->fdinfo, "ticks"))) {
		t->has_ticks = true;
		t->ticks = strtoull(v, NULL, 10);
	}
	if ((v = fdinfo_field(d->fdinfo, "settime flags"))) {
		t->has_settime_flags = true;
		t->settime_flags = strtoul(v, NULL, 8);
	}
	t->has_value_ns = t->has_interval_ns = true;
	t->value_ns = timespec_field(d->fdinfo, "it_value");
	t->interval_ns = timespec_field(d->fdinfo, "it_interval");
	return 0;
}

/* "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x ..." per watch. */
static int fill_inotify(const struct fd_desc *d, FdEntry *e)
{
	size_t n = 0;
	const char *p;

	e->type = FD_TYPE__FD_INOTIFY;
	for (p = d->fdinfo; (p = strstr(p, "inotify wd:")); p++)
		n++;
	if (!n)
		return 0;
	e->inotify = calloc(n, sizeof(*e->inotify));
	if (!e->inotify)
		return -ENOMEM;
	for (p = d->fdinfo; e->n_inotify < n && (p = strstr(p, "inotify wd:")); p++) {
		InotifyWatch *w = malloc(sizeof(*w));
		unsigned int wd, sdev, mask, ign;
		unsigned long long ino;

		if (!w)
			return -ENOMEM;
		inotify_watch__init(w);
		e->inotify[e->n_inotify++] = w;
		if (sscanf(p, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%x", &wd,
			   &ino, &sdev, &mask, &ign) != 5) {
			pr_err("fd %d: cannot parse inotify fdinfo line: %.80s", d->fd, p);
			return -EINVAL;
		}
		w->wd = wd;
		w->ino = ino;
		w->sdev = sdev;
		w->mask = mask;
		w->has_ignored_mask = true;
		w->ignored_mask = ign;
	}
	return 0;
}

static int fill_pidfd(const struct fd_desc *d, FdEntry *e)
{
	const char *v = fdinfo_field(d->fdinfo, "Pid");

	e->type = FD_TYPE__FD_PIDFD;
	if (v) {
		e->has_pidfd_pid = true;
		e->pidfd_pid = atoi(v);
	}
	return 0;
}

int fd_anon_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e)
{
	static const struct {
		const char *name;	/* after "anon_inode:" */
		int (*fill)(const struct fd_desc *d, FdEntry *e);
	} kinds[] = {
		{ "[eventfd]", fill_eventfd },
		{ "[eventpoll]", fill_epoll },
		{ "[signalfd]", fill_signalfd },
		{ "[timerfd]", fill_timerfd },
		{ "inotify", fill_inotify },
		{ "[pidfd]", fill_pidfd },
	};
	const char *name = d->link + strlen("anon_inode:");
	char reason[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(name, kinds[i].name))
			return kinds[i].fill(d, e);
	snprintf(reason, sizeof(reason), "anon inode %s", name);
	return fd_unsupported(ctx, d, e, reason);
}

/* Majors the kernel gives ttys: 4 (ttyN, ttySN), 5 (tty, console, ptmx),
 * 136-143 (Unix98 pty slaves). Used only when we cannot ask the fd. */
static bool tty_major(unsigned int maj)
{
	return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

static bool fd_is_tty(struct files_ctx *ctx, const struct fd_desc *d)
{
	int fd = files_getfd(ctx, d->fd);
	bool tty;

	if (fd < 0)
		return tty_major(major(d->st.st_rdev));
	/* isatty() asks the driver itself (TCGETS), so any tty driver counts. */
	tty = isatty(fd);
	close(fd);
	return tty;
}

int fd_chr_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e)
{
	const char *v;

	e->file = files_identity(d);
	if (!e->file)
		return -ENOMEM;
	if (!fd_is_tty(ctx, d)) {
		e->type = FD_TYPE__FD_CHR;
		return 0;
	}
	e->type = FD_TYPE__FD_TTY;
	e->has_tty_rdev = true;
	e->tty_rdev = d->st.st_rdev;
	/* every /dev/ptmx open is a different master: its index names the pair */
	if ((v = fdinfo_field(d->fdinfo, "tty-index"))) {
		e->has_tty_index = true;
		e->tty_index = atoi(v);
	}
	return 0;
}

int fd_memfd_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e)
{
	const char *name = d->link + strlen("/memfd:");
	const char *end = strstr(name, " (deleted)");
	size_t len = end ? (size_t)(end - name) : strlen(name);

	(void)ctx;
	e->type = FD_TYPE__FD_MEMFD;
	/* The contents are not stored here: what is mapped is in the memory
	 * images; an unmapped memfd's bytes are not saved yet. */
	e->file = files_identity(d);
	e->memfd_name = strndup(name, len);
	return e->file && e->memfd_name ? 0 : -ENOMEM;
}
