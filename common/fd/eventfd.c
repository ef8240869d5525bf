/* eventfd: its counter and semaphore mode (fdinfo), made again with both.
 * The counter is 64 bits; eventfd(2) takes an unsigned int, so it is
 * written in after. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "common/fd/fd.h"

static bool is_eventfd(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[eventfd]");
}

static int eventfd_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const char *v = fdinfo_field(d->fdinfo, "eventfd-count");

	(void)c;
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

static int eventfd_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	/* the kernel's ceiling: a write that would pass it blocks */
	if (e->eventfd_count == ~0ULL)
		return fd_rst_fail(why, len, EINVAL, "eventfd count %#llx is past the maximum",
				   (unsigned long long)e->eventfd_count);
	return 0;
}

static int eventfd_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	uint64_t count = e->eventfd_count;
	int fd = eventfd(0, EFD_CLOEXEC | (e->flags & O_NONBLOCK ? EFD_NONBLOCK : 0) |
			 (e->eventfd_semaphore ? EFD_SEMAPHORE : 0));

	(void)r;
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "eventfd: %s", strerror(errno));
	if (count && write(fd, &count, sizeof(count)) != sizeof(count)) {
		int err = errno;

		close(fd);
		return fd_rst_fail(why, len, err, "cannot set the eventfd count to %llu: %s",
				   (unsigned long long)count, strerror(err));
	}
	return fd;
}

const struct fd_kind fdk_eventfd = {
	.type = FD_TYPE__FD_EVENTFD,
	.name = "eventfd",
	.dump_match = is_eventfd,
	.dump = eventfd_dump,
	.check = eventfd_check,
	.open = eventfd_open,
};
