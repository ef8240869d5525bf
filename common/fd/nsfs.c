/* nsfs: an fd on a namespace (/proc/PID/ns/X, or what setns and the
 * pidfd ioctls hand out), whose link reads "TYPE:[INO]".
 *
 * The dump says whose namespace it is: that of a process of the tree (the
 * first whose /proc/PID/ns/TYPE, or TYPE_for_children, is that inode) or
 * criu-lite's own, the host's. Restore reopens the same one's once every
 * process exists (late): a pidfd of that process, restored, or of
 * criu-lite, asked for its namespace (PIDFD_GET_*_NAMESPACE, Linux 6.11),
 * in the holder, over a placeholder. A namespace of no process of the tree
 * and not the host's (a bind-mounted netns, a namespace left by a process
 * gone) is refused, named. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "images/log.h"

#define PIDFS_IOCTL(n) _IO(0xFF, n)

static const struct ns_type {
	const char *name;
	unsigned int ioctl_nr, children_nr;	/* PIDFD_GET_*_NAMESPACE */
} types[] = {
	{ "cgroup", 1, 0 }, { "ipc", 2, 0 }, { "mnt", 3, 0 }, { "net", 4, 0 },
	{ "pid", 5, 6 }, { "time", 7, 8 }, { "user", 9, 0 }, { "uts", 10, 0 },
};

static const struct ns_type *type_of(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].name) == len && !strncmp(types[i].name, name, len))
			return &types[i];
	return NULL;
}

/* "TYPE:[INO]" for one of the namespace types. */
static const struct ns_type *parse_link(const char *link, uint64_t *ino)
{
	const char *c = strstr(link, ":[");
	char *end;

	if (!c || link[0] == '/')
		return NULL;
	*ino = strtoull(c + 2, &end, 10);
	if (strcmp(end, "]"))
		return NULL;
	return type_of(link, (size_t)(c - link));
}

static bool is_nsfs(const struct fd_desc *d)
{
	uint64_t ino;

	return parse_link(d->link, &ino) != NULL;
}

/* ---- dump ---- */

static bool has_ns(pid_t pid, const char *name, uint64_t ino)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, name);
	return !stat(path, &st) && st.st_ino == ino;
}

static int nsfs_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	AnonNsfs *n = malloc(sizeof(*n));
	uint64_t ino;
	const struct ns_type *t = parse_link(d->link, &ino);
	char children[32];

	e->type = FD_TYPE__FD_NSFS;
	if (!n)
		return -ENOMEM;
	anon_nsfs__init(n);
	e->nsfs = n;
	n->type = strdup(t->name);
	if (!n->type)
		return -ENOMEM;
	n->ino = ino;
	snprintf(children, sizeof(children), "%s_for_children", t->name);
	for (size_t i = 0; i < c->nr_tree_pids && !n->has_owner; i++) {
		bool own = has_ns(c->tree_pids[i], t->name, ino);

		if (own || (t->children_nr && has_ns(c->tree_pids[i], children, ino))) {
			n->has_owner = true;
			n->owner = (uint32_t)c->tree_pids[i];
			n->has_for_children = !own;
			n->for_children = !own;
		}
	}
	if (!n->has_owner && has_ns(getpid(), t->name, ino)) {
		n->has_owner = true;
		n->owner = 0;
	}
	if (!n->has_owner)
		pr_warn("pid %d fd %d: %s is the namespace of no process of the tree, nor the "
			"host's", c->pid, d->fd, d->link);
	return 0;
}

/* ---- restore ---- */

static int nsfs_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->nsfs || !type_of(e->nsfs->type, strlen(e->nsfs->type)))
		return fd_rst_fail(why, len, EINVAL, "namespace fd without its namespace in the "
				   "image");
	if (!e->nsfs->has_owner)
		return fd_rst_fail(why, len, EOPNOTSUPP, "%s namespace %llu: no process of the "
				   "tree was in it, and it is not the host's", e->nsfs->type,
				   (unsigned long long)e->nsfs->ino);
	return 0;
}

static int nsfs_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	(void)r, (void)e;
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "/dev/null: %s", strerror(errno));
	return fd;
}

/* One injected call; a negative result is its -errno. */
static int sys(const struct fd_rst_late *l, long nr, uint64_t *ret, uint64_t a1, uint64_t a2,
	       uint64_t a3)
{
	int r = l->sys(l->ctx, nr, ret, a1, a2, a3, 0);

	return r ? r : (int64_t)*ret < 0 ? (int)(int64_t)*ret : 0;
}

static int nsfs_late(const struct fd_rst *r0, const FdEntry *e, const struct fd_rst_late *l,
		     char *why, size_t len)
{
	const AnonNsfs *n = e->nsfs;
	const struct ns_type *t = type_of(n->type, strlen(n->type));
	pid_t pid = n->owner ? l->real_pid(l->ctx, n->owner) : getpid();
	unsigned int nr = n->for_children && t->children_nr ? t->children_nr : t->ioctl_nr;
	uint64_t pfd, nsfd = ~0ull, ret;
	int r;

	(void)r0;
	if (pid <= 0)
		return fd_rst_fail(why, len, ESRCH, "%s namespace of process %u: not restored",
				   n->type, n->owner);
	r = sys(l, SYS_pidfd_open, &pfd, (uint64_t)pid, 0, 0);
	if (r)
		return fd_rst_fail(why, len, -r, "pidfd_open(%d): %s", pid, strerror(-r));
	r = sys(l, SYS_ioctl, &nsfd, pfd, PIDFS_IOCTL(nr), 0);
	if (!r)
		r = sys(l, SYS_dup3, &ret, nsfd, e->fd, e->fd_flags & FD_CLOEXEC ? O_CLOEXEC : 0);
	if ((int64_t)nsfd >= 0)
		l->sys(l->ctx, SYS_close, &ret, nsfd, 0, 0, 0);
	l->sys(l->ctx, SYS_close, &ret, pfd, 0, 0, 0);
	if (r)
		return fd_rst_fail(why, len, -r, "the %s namespace of %d: %s", n->type, pid,
				   strerror(-r));
	return 0;
}

const struct fd_kind fdk_nsfs = {
	.type = FD_TYPE__FD_NSFS,
	.name = "namespace",
	.dump_match = is_nsfs,
	.dump = nsfs_dump,
	.check = nsfs_check,
	.open = nsfs_open,
	.late = nsfs_late,
};
