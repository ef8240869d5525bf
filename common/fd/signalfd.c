/* signalfd: its signal mask (fdinfo "sigmask"), made again with it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>

#include "common/fd/fd.h"

static bool is_signalfd(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[signalfd]");
}

static int signalfd_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const char *v = fdinfo_field(d->fdinfo, "sigmask");

	(void)c;
	e->type = FD_TYPE__FD_SIGNALFD;
	if (v) {
		e->has_signalfd_mask = true;
		e->signalfd_mask = strtoull(v, NULL, 16);
	}
	return 0;
}

static int signalfd_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->has_signalfd_mask)
		return fd_rst_fail(why, len, EINVAL, "signalfd without its mask in the image");
	return 0;
}

static int signalfd_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	sigset_t mask;
	int fd;

	(void)r;
	sigemptyset(&mask);
	for (int sig = 1; sig <= 64; sig++)
		if (e->signalfd_mask & (1ULL << (sig - 1)))
			sigaddset(&mask, sig);
	fd = signalfd(-1, &mask, SFD_CLOEXEC | (e->flags & O_NONBLOCK ? SFD_NONBLOCK : 0));
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "signalfd: %s", strerror(errno));
	return fd;
}

const struct fd_kind fdk_signalfd = {
	.type = FD_TYPE__FD_SIGNALFD,
	.name = "signalfd",
	.dump_match = is_signalfd,
	.dump = signalfd_dump,
	.check = signalfd_check,
	.open = signalfd_open,
};
