/* pidfd: the pid it refers to (fdinfo "Pid", -1 once the process is gone).
 * Not restored yet: restore refuses it. */
#include <stdlib.h>
#include <string.h>

#include "common/fd/fd.h"

static bool is_pidfd(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[pidfd]");
}

static int pidfd_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const char *v = fdinfo_field(d->fdinfo, "Pid");

	(void)c;
	e->type = FD_TYPE__FD_PIDFD;
	if (v) {
		e->has_pidfd_pid = true;
		e->pidfd_pid = atoi(v);
	}
	return 0;
}

const struct fd_kind fdk_pidfd = {
	.type = FD_TYPE__FD_PIDFD,
	.name = "pidfd",
	.dump_match = is_pidfd,
	.dump = pidfd_dump,
};
