/* File locks and owners, for every kind of fd.
 *
 * Dump: fdinfo lists, for an fd, the locks taken through its open file
 * description by its owner: flock and OFD locks and leases (owned by the
 * description: every process sharing it lists them) and the POSIX locks of
 * this process (owned by its fd table). The F_SETOWN_EX owner and F_SETSIG
 * signal of the description are read on a pidfd_getfd copy of it, the same
 * object.
 *
 * Restore: every lock is taken by the process itself, then the owner is
 * set: a POSIX lock belongs to the process that held it, a lease signals
 * its taker, and /proc/locks names the taker of a flock. A lock owned by a
 * description shared with other processes is taken by the one that took
 * it (by the first of them when that one is not in the tree), which
 * /proc/locks shows as its holder. POSIX locks go last, injected
 * once the address space is rebuilt: closing any fd on a file drops the
 * closer's POSIX locks on it, and restore closes the files it mapped from.
 * A lock someone else holds now refuses the restore, naming the holder. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>

#include "common/fd/fd.h"
#include "images/log.h"

/* ---- dump ---- */

static int lock_kind(const char *s)
{
	if (!strcmp(s, "FLOCK"))
		return FILE_LOCK_KIND__FILE_LOCK_FLOCK;
	if (!strcmp(s, "POSIX"))
		return FILE_LOCK_KIND__FILE_LOCK_POSIX;
	if (!strcmp(s, "OFDLCK"))
		return FILE_LOCK_KIND__FILE_LOCK_OFD;
	if (!strcmp(s, "LEASE"))
		return FILE_LOCK_KIND__FILE_LOCK_LEASE;
	return 0;
}

/* "1: POSIX  ADVISORY  WRITE 6121 fe:00:10952851 10 14" (end: EOF). */
static int parse_lock(const struct fd_dump *c, const struct fd_desc *d, const char *line,
		      FileLock *l)
{
	char kind[16], adv[16], type[16], end[32];
	unsigned long long start;
	int kd, pid;

	if (sscanf(line, "%*d: %15s %15s %15s %d %*s %llu %31s", kind, adv, type, &pid, &start,
		   end) != 6) {
		pr_err("pid %d fd %d: cannot parse the lock line '%.80s'", c->pid, d->fd, line);
		return -EINVAL;
	}
	kd = lock_kind(kind);
	if (!kd || (strcmp(type, "READ") && strcmp(type, "WRITE")) ||
	    (kd == FILE_LOCK_KIND__FILE_LOCK_LEASE && strcmp(adv, "ACTIVE"))) {
		pr_warn("pid %d fd %d (%s): %s %s %s lock is not restored", c->pid, d->fd,
			d->link, kind, adv, type);
		return 0;
	}
	file_lock__init(l);
	l->kind = kd;
	l->type = strcmp(type, "READ") ? F_WRLCK : F_RDLCK;
	l->has_start = l->has_len = true;
	l->start = start;
	l->len = strcmp(end, "EOF") ? strtoull(end, NULL, 10) - start + 1 : 0;
	l->has_pid = true;
	l->pid = pid;
	return 1;
}

static int dump_locks(const struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const char *p = d->fdinfo;
	size_t n = 0;

	while (p && (p = strstr(p, "\nlock:")))
		n++, p++;
	if (!n)
		return 0;
	e->locks = calloc(n, sizeof(*e->locks));
	if (!e->locks)
		return -ENOMEM;
	for (p = d->fdinfo; (p = strstr(p, "\nlock:")); ) {
		FileLock *l = malloc(sizeof(*l));
		int r;

		p += strlen("\nlock:");
		if (!l)
			return -ENOMEM;
		r = parse_lock(c, d, p + strspn(p, " \t"), l);
		if (r <= 0) {
			free(l);
			if (r < 0)
				return r;
			continue;
		}
		e->locks[e->n_locks++] = l;
	}
	return 0;
}

static int dump_owner(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	struct f_owner_ex own = { 0 };
	int fd, sig;
	FileOwner *o;

	if (!fd_dump_pre_owner(c, d->fd, &own, &sig)) {
		if ((fd = fd_dump_getfd(c, d->fd)) < 0)
			return 0;	/* no pidfd_getfd: the owner is not seen */
		if (fcntl(fd, F_GETOWN_EX, &own) < 0)
			own.pid = 0;	/* O_PATH: no owner */
		sig = fcntl(fd, F_GETSIG);
	}
	if (!own.pid && sig <= 0)
		return 0;
	o = malloc(sizeof(*o));
	if (!o)
		return -ENOMEM;
	file_owner__init(o);
	o->pid = own.pid;
	o->type = (uint32_t)own.type;
	o->has_self = true;
	o->self = own.type == F_OWNER_PGRP ? own.pid == getpgid(c->pid) : own.pid == c->pid;
	o->has_sig = sig > 0;
	o->sig = sig > 0 ? (uint32_t)sig : 0;
	e->owner = o;
	return 0;
}

int fd_dump_locks(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	int r = dump_locks(c, d, e);

	return r ? r : dump_owner(c, d, e);
}

/* ---- restore ---- */

static const char *lock_name(const FileLock *l)
{
	switch (l->kind) {
	case FILE_LOCK_KIND__FILE_LOCK_FLOCK: return "flock";
	case FILE_LOCK_KIND__FILE_LOCK_POSIX: return "POSIX lock";
	case FILE_LOCK_KIND__FILE_LOCK_OFD: return "OFD lock";
	default: return "lease";
	}
}

/* Who holds what keeps l from being taken on fd, for the message. */
static void holder(int fd, const FileLock *l, char *buf, size_t len)
{
	struct flock fl = { .l_type = (short)l->type, .l_whence = SEEK_SET,
			    .l_start = (off_t)l->start, .l_len = (off_t)l->len };

	buf[0] = '\0';
	if (l->kind != FILE_LOCK_KIND__FILE_LOCK_FLOCK && l->kind != FILE_LOCK_KIND__FILE_LOCK_LEASE &&
	    !fcntl(fd, F_OFD_GETLK, &fl) && fl.l_type != F_UNLCK)
		snprintf(buf, len, fl.l_pid > 0 ? " (pid %d holds it)" : " (an OFD lock holds it)",
			 fl.l_pid);
}

int fd_rst_lock_fail(int fd, const FdEntry *e, const FileLock *l, int err, char *why,
		     size_t len)
{
	char who[48], end[24] = "EOF";

	holder(fd, l, who, sizeof(who));
	if (l->len)
		snprintf(end, sizeof(end), "%llu", (unsigned long long)(l->start + l->len - 1));
	return fd_rst_fail(why, len, err, "cannot take the %s %s on %s (bytes %llu-%s) again: "
			   "%s%s", l->type == F_WRLCK ? "write" : "read", lock_name(l),
			   e->link ? e->link : "?", (unsigned long long)l->start, end,
			   strerror(err), who);
}

bool fd_rst_lock_posix(const FileLock *l, struct flock *fl)
{
	*fl = (struct flock){ .l_type = (short)l->type, .l_whence = SEEK_SET,
			      .l_start = (off_t)l->start, .l_len = (off_t)l->len };
	return l->kind == FILE_LOCK_KIND__FILE_LOCK_POSIX;
}

/* All but POSIX locks (fds.c injects those). */
static int take(int fd, const FileLock *l)
{
	struct flock fl;

	if (fd_rst_lock_posix(l, &fl))
		return 0;
	switch (l->kind) {
	case FILE_LOCK_KIND__FILE_LOCK_FLOCK:
		return flock(fd, (l->type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB);
	case FILE_LOCK_KIND__FILE_LOCK_OFD:
		return fcntl(fd, F_OFD_SETLK, &fl);
	default:
		return fcntl(fd, F_SETLEASE, (int)l->type);
	}
}

void fd_rst_owner_of(const FdEntry *e, struct fd_rst_owner *o)
{
	const FileOwner *f = e->owner;

	*o = (struct fd_rst_owner){ .set = f != NULL };
	if (!f)
		return;
	o->type = (int)f->type;
	o->pid = (int)f->pid;
	o->self = f->self;
	o->sig = f->has_sig ? (int)f->sig : 0;
}

int fd_rst_owner_set(int fd, const struct fd_rst_owner *o, const pid_t me[2], char *why,
		     size_t len)
{
	struct f_owner_ex own = { .type = o->type, .pid = o->pid };

	if (!o->set)
		return 0;
	if (o->self)
		own.pid = me[own.type == F_OWNER_PGRP];
	if (o->sig && fcntl(fd, F_SETSIG, o->sig) < 0)
		return fd_rst_fail(why, len, errno, "F_SETSIG %d: %s", o->sig, strerror(errno));
	if (o->pid && fcntl(fd, F_SETOWN_EX, &own) < 0)
		return fd_rst_fail(why, len, errno, "F_SETOWN_EX to %s %d: %s",
				   own.type == F_OWNER_PGRP ? "group" : "pid", own.pid,
				   strerror(errno));
	return 0;
}

int fd_rst_locks_take(const FdEntry *e, fd_rst_lock_mine_fn mine, const void *arg, char *why,
		      size_t len)
{
	int fd = (int)e->fd;

	for (size_t i = 0; i < e->n_locks; i++) {
		const FileLock *l = e->locks[i];

		if (mine(e, l, arg) && take(fd, l) < 0)
			return fd_rst_lock_fail(fd, e, l, errno, why, len);
	}
	return 0;
}
