/* What the dump halves of the kinds share: reading fdinfo, borrowing the
 * target's fd, the file identity of an fd, the "unsupported" record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "images/log.h"

const char *fdinfo_field(const char *fdinfo, const char *key)
{
	size_t kl = strlen(key);
	const char *p = fdinfo;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':')
			return p + kl + 1 + strspn(p + kl + 1, " \t");
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

char *fd_dump_strdup(const char *s)
{
	return strdup(s ? s : "");
}

int fd_dump_getfd(struct fd_dump *c, int fd)
{
	int r;

	if (c->lent_num == fd + 1)
		return c->lent;
	fd_dump_return(c);
	if (c->pidfd < 0)
		return -ENOSYS;
	r = syscall(SYS_pidfd_getfd, c->pidfd, fd, 0);
	if (r < 0)
		return -errno;
	c->lent = r;
	c->lent_num = fd + 1;
	return r;
}

void fd_dump_return(struct fd_dump *c)
{
	if (c->lent_num && !c->lent_kept)
		close(c->lent);
	c->lent_num = 0;
	c->lent_kept = false;
}

int fd_dump_keep(struct fd_dump *c)
{
	static rlim_t limit;
	struct rlimit rl;

	if (!limit) {
		/* room for a thousand connections kept: the soft limit up to the hard one */
		limit = 1024;
		if (!getrlimit(RLIMIT_NOFILE, &rl)) {
			if (rl.rlim_cur < rl.rlim_max) {
				rl.rlim_cur = rl.rlim_max;
				setrlimit(RLIMIT_NOFILE, &rl);
				getrlimit(RLIMIT_NOFILE, &rl);
			}
			limit = rl.rlim_cur;
		}
	}
	if (!c->lent_num || (rlim_t)c->lent + 256 > limit)
		return -1;
	c->lent_kept = true;
	return c->lent;
}

FileIdentity *fd_dump_identity(const struct fd_desc *d)
{
	FileIdentity *fi = malloc(sizeof(*fi));

	if (!fi)
		return NULL;
	file_identity__init(fi);
	fi->path = fd_dump_strdup(d->link);
	if (!fi->path) {
		free(fi);
		return NULL;
	}
	fi->has_dev = fi->has_ino = fi->has_size = fi->has_mtime_ns = fi->has_mode = true;
	fi->dev = d->st.st_dev;
	fi->ino = d->st.st_ino;
	fi->size = d->st.st_size;
	fi->mtime_ns = (uint64_t)d->st.st_mtim.tv_sec * 1000000000ull + d->st.st_mtim.tv_nsec;
	fi->mode = d->st.st_mode;
	return fi;
}

int fd_dump_unsupported(const struct fd_dump *c, const struct fd_desc *d, FdEntry *e,
			const char *reason)
{
	e->type = FD_TYPE__FD_UNSUPPORTED;
	e->unsupported_reason = fd_dump_strdup(reason);
	if (!e->unsupported_reason)
		return -ENOMEM;
	pr_warn("pid %d fd %d (%s): %s is not supported; recorded as unsupported", c->pid,
		d->fd, d->link, reason);
	return 0;
}
