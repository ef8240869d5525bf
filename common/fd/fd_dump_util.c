/* What the dump halves of the kinds share: reading fdinfo, borrowing the
 * target's fd, the file identity of an fd, the "unsupported" record. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "common/procfs.h"
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

size_t fd_links_sockets(char *const *links, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; links && i < n; i++)
		k += links[i] && !strncmp(links[i], "socket:[", 8);
	return k;
}

rlim_t fd_dump_fd_limit(void)
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
	return limit;
}

int fd_dump_keep(struct fd_dump *c)
{
	if (!c->lent_num || (rlim_t)c->lent + 256 > fd_dump_fd_limit())
		return -1;
	c->lent_kept = true;
	return c->lent;
}

/* fdinfo's file f read whole, then closed. */
static int read_fdinfo(int f, char **out)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb;
	ssize_t n;

	if (!buf) {
		close(f);
		return -ENOMEM;
	}
	/* epoll and inotify print a line per watch: grow until EOF. fdinfo is
	 * one seq_file record, given whole to a read with room for it: a
	 * shorter read than asked is the end (no read of 0 to see it). */
	while ((n = read(f, buf + len, cap - len - 1)) > 0) {
		bool all = (size_t)n < cap - len - 1;

		len += n;
		if (all)
			break;
		if (cap - len - 1 == 0) {
			nb = realloc(buf, cap *= 2);
			if (!nb) {
				n = -1;
				errno = ENOMEM;
				break;
			}
			buf = nb;
		}
	}
	if (n < 0) {
		int e = errno;

		close(f);
		free(buf);
		return -e;
	}
	close(f);
	buf[len] = '\0';
	/* most are a few lines: a thousand fds' worth of 4 KiB buffers kept
	 * would grow the heap (a syscall a page on the prefetch's thread) */
	if (len + 1 < cap / 2 && (nb = realloc(buf, len + 1)))
		buf = nb;
	*out = buf;
	return 0;
}

int fd_dump_read_fdinfo(pid_t pid, int fd, char **out)
{
	char name[32];
	int f;

	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	f = procfs_open(pid, name, O_RDONLY | PROCFS_QUIET);
	return f < 0 ? f : read_fdinfo(f, out);
}

int fd_dump_read_fdinfo_at(int dirfd, int fd, char **out)
{
	char name[16];
	int f;

	snprintf(name, sizeof(name), "%d", fd);
	f = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	return f < 0 ? -errno : read_fdinfo(f, out);
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
