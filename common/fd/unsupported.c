/* Whatever no other kind takes (an unknown anon inode, bpf objects,
 * block devices...): a typed FD_UNSUPPORTED record with the reason, so
 * that the dump goes on and says which fd it could not take. Restore gives
 * such an fd at 0-2 the restoring shell's stdio and refuses it elsewhere. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/fd/fd.h"

static bool any(const struct fd_desc *d)
{
	(void)d;
	return true;
}

static int unsupported_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	char reason[PATH_MAX + 64];

	if (!strncmp(d->link, "anon_inode:", 11))
		snprintf(reason, sizeof(reason), "anon inode %s", d->link + 11);
	else if (d->link[0] != '/')
		/* pidfs, bpf objects...: no path to reopen. */
		snprintf(reason, sizeof(reason), "kernel object %s", d->link);
	else if (S_ISBLK(d->st.st_mode))
		snprintf(reason, sizeof(reason), "block device %s", d->link);
	else
		snprintf(reason, sizeof(reason), "file %s of mode %o", d->link,
			 (unsigned int)(d->st.st_mode & S_IFMT));
	return fd_dump_unsupported(c, d, e, reason);
}

static int unsupported_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (fd_rst_is_shell(e))
		return 0;
	return fd_rst_fail(why, len, EOPNOTSUPP, "%s", e->unsupported_reason ?
			   e->unsupported_reason : "kind of file criu-lite does not dump");
}

static int unsupported_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	return fd_rst_open_shell(e, why, len);
}

const struct fd_kind fdk_unsupported = {
	.type = FD_TYPE__FD_UNSUPPORTED,
	.name = "unsupported",
	.dump_match = any,
	.dump = unsupported_dump,
	.check = unsupported_check,
	.open = unsupported_open,
};
