/* timerfd: clock, time left, interval, expirations not read (fdinfo).
 * Restore re-arms it relative to now with the time that was left. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include "common/fd/fd.h"

static bool is_timerfd(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[timerfd]");
}

static uint64_t timespec_field(const char *fdinfo, const char *key)
{
	const char *v = fdinfo_field(fdinfo, key);
	unsigned long long s = 0, ns = 0;

	if (v)
		sscanf(v, "(%llu, %llu)", &s, &ns);
	return s * 1000000000ull + ns;
}

static int timerfd_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	TimerfdInfo *t = malloc(sizeof(*t));
	const char *v;

	(void)c;
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

static int timerfd_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->timerfd)
		return fd_rst_fail(why, len, EINVAL, "timerfd without its timer in the image");
	return 0;
}

static int timerfd_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const TimerfdInfo *ti = e->timerfd;
	struct itimerspec its = {
		.it_value = { (time_t)(ti->value_ns / 1000000000), (long)(ti->value_ns % 1000000000) },
		.it_interval = { (time_t)(ti->interval_ns / 1000000000),
				 (long)(ti->interval_ns % 1000000000) },
	};
	int fd = timerfd_create((int)ti->clockid,
				TFD_CLOEXEC | (e->flags & O_NONBLOCK ? TFD_NONBLOCK : 0));

	(void)r;
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "timerfd_create: %s", strerror(errno));
	/* The image has the time left, so re-arm relative to now. */
	if ((ti->value_ns || ti->interval_ns) && timerfd_settime(fd, 0, &its, NULL)) {
		int err = errno;

		close(fd);
		return fd_rst_fail(why, len, err, "cannot arm the timerfd: %s", strerror(err));
	}
	return fd;
}

const struct fd_kind fdk_timerfd = {
	.type = FD_TYPE__FD_TIMERFD,
	.name = "timerfd",
	.dump_match = is_timerfd,
	.dump = timerfd_dump,
	.check = timerfd_check,
	.open = timerfd_open,
};
