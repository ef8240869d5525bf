/* epoll: every watch (fd number, events, data) from fdinfo's "tfd:" lines,
 * and where its file is open in the tree.
 *
 * epoll keys a watch by (file, fd number) and keeps it until the file's
 * last reference goes, not when the number is closed: a watch may name a
 * number since closed or reused while its file lives on at another fd, or
 * only in another process. The dump asks the kernel which fd holds each
 * watched file (kcmp KCMP_EPOLL_TFD: the watch is the toff-th of that
 * number, in the order fdinfo lists them), first the number itself.
 *
 * Restore registers every watch in criu-lite, once all descriptions of the
 * tree exist (link): the watched file is put at the dumped number for the
 * epoll_ctl (criu-lite's own fd there is set aside and put back), so the
 * watch is keyed exactly as it was, whatever the processes hold now.
 * One-shot watches that had fired (only flag bits left) are added first
 * and fired again where their file still reports a hangup or an error
 * (EPOLL_CTL_ADD always asks for those two). A watch on a pidfd or a
 * namespace fd, made only once the processes exist, is added then, in the
 * process (late), which must hold it at the watched number. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "images/log.h"

/* The flag bits a fired one-shot watch keeps (the kernel's EP_PRIVATE_BITS). */
#define EP_FLAG_BITS (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)

static bool is_epoll(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[eventpoll]");
}

/* ---- dump ---- */

/* Is the watch (tfd, toff) of owner's epoll epfd on holder's fd hfd? */
static int watch_is_on(pid_t owner, int epfd, uint32_t tfd, uint32_t toff, pid_t holder, int hfd)
{
	struct kcmp_epoll_slot slot = { (uint32_t)epfd, tfd, toff };
	long r = syscall(SYS_kcmp, holder, owner, KCMP_EPOLL_TFD, (unsigned long)hfd,
			 (unsigned long)&slot);

	return r < 0 ? -errno : r == 0;
}

/* Look through every fd of holder for the watched file. 1 found. */
static int find_in(pid_t owner, int epfd, uint32_t tfd, uint32_t toff, pid_t holder,
		   AnonEpollSrc *src)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", holder);
	dir = opendir(path);
	if (!dir)
		return 0;
	while (r == 0 && (de = readdir(dir))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || (holder == owner && fd == epfd))
			continue;
		r = watch_is_on(owner, epfd, tfd, toff, holder, fd);
		if (r == -EBADF || r == -ENOENT || r == -EINVAL)
			r = 0;
		if (r == 1) {
			src->pid = (uint32_t)holder;
			src->fd = (uint32_t)fd;
		}
	}
	closedir(dir);
	return r;
}

/* Where watch i's file is open: the number itself, another fd of this
 * process, or one of another process of the tree; pid 0 if nowhere. */
static int find_src(struct fd_dump *c, const struct fd_desc *d, FdEntry *e, size_t i,
		    AnonEpollSrc *src)
{
	uint32_t tfd = e->epoll_tfds[i], toff = 0;
	int r;

	for (size_t k = 0; k < i; k++)
		toff += e->epoll_tfds[k] == tfd;
	src->pid = (uint32_t)c->pid;
	src->fd = tfd;
	r = watch_is_on(c->pid, d->fd, tfd, toff, c->pid, (int)tfd);
	if (r == 1)
		return 0;
	if (r < 0 && r != -EBADF) {
		/* No kcmp here: take the number at its word, as it most often is. */
		pr_warn("pid %d fd %d: cannot ask which file epoll watch %u is on (kcmp: %s)",
			c->pid, d->fd, tfd, strerror(-r));
		return 0;
	}
	r = find_in(c->pid, d->fd, tfd, toff, c->pid, src);
	for (size_t p = 0; r == 0 && p < c->nr_tree_pids; p++)
		if (c->tree_pids[p] != c->pid)
			r = find_in(c->pid, d->fd, tfd, toff, c->tree_pids[p], src);
	if (r == 1) {
		pr_debug("pid %d fd %d: epoll watch %u is on fd %u of %u", c->pid, d->fd, tfd,
			 src->fd, src->pid);
		return 0;
	}
	if (r < 0)
		return r;
	src->pid = 0;
	return 0;
}

static int parse_watches(const struct fd_desc *d, FdEntry *e)
{
	size_t n = 0, i = 0;
	const char *p;

	for (p = d->fdinfo; (p = strstr(p, "\ntfd:")); p++)
		n++;
	if (!n)
		return 0;
	e->epoll_tfds = calloc(n, sizeof(*e->epoll_tfds));
	e->epoll_events = calloc(n, sizeof(*e->epoll_events));
	e->epoll_data = calloc(n, sizeof(*e->epoll_data));
	e->epoll_src = calloc(n, sizeof(*e->epoll_src));
	/* set the counts first: img_free() must see the arrays it frees */
	e->n_epoll_tfds = e->n_epoll_events = e->n_epoll_data = n;
	if (!e->epoll_tfds || !e->epoll_events || !e->epoll_data || !e->epoll_src)
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

/* One "tfd: N events: X data: X  pos:... ino:... sdev:..." line per watch,
 * in the order of the epoll's tree (the order toff counts in). */
static int epoll_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	int r;

	e->type = FD_TYPE__FD_EPOLL;
	r = parse_watches(d, e);
	for (size_t i = 0; !r && i < e->n_epoll_tfds; i++) {
		AnonEpollSrc *s = malloc(sizeof(*s));

		if (!s)
			return -ENOMEM;
		anon_epoll_src__init(s);
		e->epoll_src[e->n_epoll_src++] = s;
		r = find_src(c, d, e, i, s);
	}
	return r;
}

/* ---- restore ---- */

/* Where watch k's file is in the tree: its entry (NULL if none), and
 * criu-lite's fd of its description once made. Images without epoll_src
 * name the number in the epoll's own process. */
static const FdEntry *watch_src(const struct fd_rst *r, const FdEntry *e, size_t k, int *fd)
{
	const struct fd_rst_proc *own;

	*fd = -1;
	if (k < e->n_epoll_src)
		return e->epoll_src[k]->pid ?
			fd_rst_entry_at(r, e->epoll_src[k]->pid, e->epoll_src[k]->fd, fd) : NULL;
	own = fd_rst_owner(r, e);
	return own ? fd_rst_entry_at(r, own->pid, e->epoll_tfds[k], fd) : NULL;
}

/* Is src made only once every process exists (fds.c's late round)? A
 * pidfd of a live process, a namespace fd. */
static bool made_late(const FdEntry *src)
{
	return (src->type == FD_TYPE__FD_PIDFD && !(src->has_pidfd_pid && src->pidfd_pid < 0)) ||
	       src->type == FD_TYPE__FD_NSFS;
}

/* A watch on such an fd is added in its process: it must hold it there. */
static bool late_ok(const struct fd_rst *r, const FdEntry *e, size_t k)
{
	const struct fd_rst_proc *own = fd_rst_owner(r, e);

	return k >= e->n_epoll_src ||
	       (own && e->epoll_src[k]->pid == own->pid && e->epoll_src[k]->fd == e->epoll_tfds[k]);
}

static int epoll_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const FdEntry *src;
	int fd;

	if (e->n_epoll_events < e->n_epoll_tfds || e->n_epoll_data < e->n_epoll_tfds ||
	    (e->n_epoll_src && e->n_epoll_src != e->n_epoll_tfds))
		return fd_rst_fail(why, len, EINVAL, "epoll watches without their events in the "
				   "image");
	for (size_t k = 0; k < e->n_epoll_tfds; k++) {
		if (!(src = watch_src(r, e, k, &fd)))
			return fd_rst_fail(why, len, EOPNOTSUPP, "epoll watch on fd %u: its file "
					   "is open in no process of the tree (the number was "
					   "closed; something outside holds the file)",
					   e->epoll_tfds[k]);
		if (made_late(src) && !late_ok(r, e, k))
			return fd_rst_fail(why, len, EOPNOTSUPP, "epoll watch on fd %u: a pidfd or "
					   "namespace fd the epoll's process does not hold at that "
					   "number", e->epoll_tfds[k]);
	}
	return 0;
}

static int epoll_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	(void)r, (void)e;
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "epoll_create1: %s", strerror(errno));
	return fd;
}

/* epoll_ctl(ADD) of file `src` under the number tfd: criu-lite's own fd at
 * tfd, if any, is set aside meanwhile and put back with its flags. */
static int add_as(int ep, uint32_t tfd, int src, struct epoll_event *ev)
{
	int num = (int)tfd, save = -1, fl = fcntl(num, F_GETFD), r, err;

	if (src == num)
		return epoll_ctl(ep, EPOLL_CTL_ADD, num, ev) ? -errno : 0;
	if (fl >= 0 && (save = fcntl(num, F_DUPFD_CLOEXEC, 0)) < 0)
		return -errno;
	if (ep == num)
		ep = save;
	if (dup2(src, num) < 0) {
		r = -errno;
		goto out;
	}
	r = epoll_ctl(ep, EPOLL_CTL_ADD, num, ev) ? -errno : 0;
out:
	err = save >= 0 ? dup3(save, num, fl & FD_CLOEXEC ? O_CLOEXEC : 0) : close(num);
	if (save >= 0)
		close(save);
	return r ? r : err < 0 ? -EBADF : 0;
}

static bool fired_oneshot(uint32_t events)
{
	return (events & EPOLLONESHOT) && !(events & ~EP_FLAG_BITS);
}

static int add_watches(const struct fd_rst *r, const FdEntry *e, int ep, bool fired, char *why,
		       size_t len)
{
	for (size_t k = 0; k < e->n_epoll_tfds; k++) {
		struct epoll_event ev = { .events = e->epoll_events[k],
					  .data.u64 = e->epoll_data[k] };
		int src, rc;

		const FdEntry *se = watch_src(r, e, k, &src);

		if (se && made_late(se))
			continue;	/* epoll_late */
		if (fired_oneshot(ev.events) != fired)
			continue;
		if (!se || src < 0)
			return fd_rst_fail(why, len, ENOENT, "epoll watch on fd %u: its file was "
					   "not made", e->epoll_tfds[k]);
		rc = add_as(ep, e->epoll_tfds[k], src, &ev);
		/* an epoll shared by several fds is linked once per fd */
		if (rc < 0 && rc != -EEXIST)
			return fd_rst_fail(why, len, -rc, "epoll watch on fd %u (events %#x): %s",
					   e->epoll_tfds[k], ev.events, strerror(-rc));
	}
	return 0;
}

/* Has this description been linked already (through another fd)? */
static int seen_before(struct fd_rst *r, int ep)
{
	struct fd_rst_obj *o;

	for (size_t i = 0; i < r->nr_obj; i++)
		if (r->obj[i].kind == FD_TYPE__FD_EPOLL &&
		    !syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, ep, r->obj[i].fds[0]))
			return 1;
	o = fd_rst_obj_add(r, FD_TYPE__FD_EPOLL, r->nr_obj);
	if (!o)
		return -ENOMEM;
	o->fds[0] = fcntl(ep, F_DUPFD_CLOEXEC, 0);
	return o->fds[0] < 0 ? -errno : 0;
}

static int epoll_link(struct fd_rst *r, const FdEntry *e, int ep, char *why, size_t len)
{
	struct epoll_event evs[64];
	int rc = seen_before(r, ep);

	if (rc)
		return rc < 0 ? fd_rst_fail(why, len, -rc, "%s", strerror(-rc)) : 0;
	rc = add_watches(r, e, ep, true, why, len);
	/* Fire the disarmed one-shots whose file reports EPOLLHUP/EPOLLERR
	 * now: they are alone in the epoll, nothing else is consumed. */
	while (!rc && epoll_wait(ep, evs, 64, 0) == 64)
		;
	return rc ? rc : add_watches(r, e, ep, false, why, len);
}

/* The watches on fds made late, added by the process itself. */
static int epoll_late(const struct fd_rst *r, const FdEntry *e, const struct fd_rst_late *l,
		      char *why, size_t len)
{
	for (size_t k = 0; k < e->n_epoll_tfds; k++) {
		struct epoll_event ev = { .events = e->epoll_events[k],
					  .data.u64 = e->epoll_data[k] };
		const FdEntry *se;
		uint64_t addr, ret;
		int src, rc;

		if (!(se = watch_src(r, e, k, &src)) || !made_late(se))
			continue;
		rc = l->put(l->ctx, &ev, sizeof(ev), &addr);
		if (!rc)
			rc = l->sys(l->ctx, SYS_epoll_ctl, &ret, e->fd, EPOLL_CTL_ADD,
				    e->epoll_tfds[k], addr);
		if (!rc && (int64_t)ret < 0 && (int64_t)ret != -EEXIST)
			rc = (int)(int64_t)ret;
		if (rc)
			return fd_rst_fail(why, len, -rc, "epoll watch on fd %u: %s",
					   e->epoll_tfds[k], strerror(-rc));
	}
	return 0;
}

const struct fd_kind fdk_epoll = {
	.type = FD_TYPE__FD_EPOLL,
	.name = "epoll",
	.dump_match = is_epoll,
	.dump = epoll_dump,
	.check = epoll_check,
	.open = epoll_open,
	.link = epoll_link,
	.late = epoll_late,
};
