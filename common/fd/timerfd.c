/* timerfd: clock, time left, interval, expirations not read, settime
 * flags (fdinfo).
 *
 * Time left counts from the restore: the tree did not run meanwhile. An
 * absolute timer on the wall clock (TFD_TIMER_ABSTIME on CLOCK_REALTIME or
 * CLOCK_REALTIME_ALARM) is a date instead: it is kept, and a date passed
 * meanwhile fires at once, with the periods missed counted as the kernel
 * counts them. TFD_TIMER_CANCEL_ON_SET is set again.
 *
 * The kernel re-arms a periodic timer only when it is read: one that
 * expired and was not read yet shows no time left and ticks 1 (the
 * periods missed since are counted at the read). It comes back with its
 * tick and its next expiry a period after the restore; periods missed
 * before the dump while nobody read are not counted. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>

#include "common/fd/fd.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

#define NSEC 1000000000ull

static bool is_timerfd(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[timerfd]");
}

static bool wall_clock(uint32_t clockid)
{
	return clockid == CLOCK_REALTIME || clockid == CLOCK_REALTIME_ALARM;
}

static uint64_t clock_now(uint32_t clockid)
{
	struct timespec ts;

	/* the _ALARM clocks read as their base clocks */
	if (clockid == CLOCK_REALTIME_ALARM)
		clockid = CLOCK_REALTIME;
	else if (clockid == CLOCK_BOOTTIME_ALARM)
		clockid = CLOCK_BOOTTIME;
	if (clock_gettime((clockid_t)clockid, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static uint64_t timespec_field(const char *fdinfo, const char *key)
{
	const char *v = fdinfo_field(fdinfo, key);
	unsigned long long s = 0, ns = 0;

	if (v)
		sscanf(v, "(%llu, %llu)", &s, &ns);
	return s * NSEC + ns;
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
	if ((t->settime_flags & TFD_TIMER_ABSTIME) && wall_clock(t->clockid) &&
	    (t->value_ns || t->interval_ns)) {
		t->has_abs_value_ns = true;
		t->abs_value_ns = clock_now(t->clockid) + t->value_ns;
	}
	return 0;
}

static int timerfd_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->timerfd)
		return fd_rst_fail(why, len, EINVAL, "timerfd without its timer in the image");
	return 0;
}

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){ (time_t)(ns / NSEC), (long)(ns % NSEC) };
}

/* The itimerspec and flags to arm it with now; false: leave it disarmed. */
static bool arm_spec(const TimerfdInfo *t, struct itimerspec *its, int *flags)
{
	uint64_t value = t->value_ns;

	*flags = (int)(t->settime_flags & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET));
	if (!value && !t->interval_ns)
		return false;
	/* periodic, expired, not read: the next period from now */
	if (!value)
		value = t->interval_ns;
	its->it_interval = ts_of(t->interval_ns);
	if (!(*flags & TFD_TIMER_ABSTIME))
		its->it_value = ts_of(value);
	else if (t->has_abs_value_ns && t->value_ns)
		its->it_value = ts_of(t->abs_value_ns);
	else	/* a monotonic date: as much time left as there was */
		its->it_value = ts_of(clock_now(t->clockid) + value);
	return true;
}

static int timerfd_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const TimerfdInfo *ti = e->timerfd;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	uint64_t ticks = ti->ticks;
	int fd, flags, err;

	(void)r;
	fd = timerfd_create((int)ti->clockid, TFD_CLOEXEC | (e->flags & O_NONBLOCK ? TFD_NONBLOCK : 0));
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "timerfd_create(clock %u): %s", ti->clockid,
				   strerror(errno));
	if (arm_spec(ti, &its, &flags) && timerfd_settime(fd, flags, &its, NULL)) {
		err = errno;
		close(fd);
		return fd_rst_fail(why, len, err, "cannot arm the timerfd: %s", strerror(err));
	}
	if (ticks && ioctl(fd, TFD_IOC_SET_TICKS, &ticks)) {
		err = errno;
		close(fd);
		return fd_rst_fail(why, len, err, "cannot give the timerfd its %llu expirations not "
				   "read: %s", (unsigned long long)ticks, strerror(err));
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
