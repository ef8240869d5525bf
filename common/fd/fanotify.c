/* fanotify: the group's init flags and event flags, and every mark (an
 * inode, a mount or a whole filesystem, with its mask, ignore mask and
 * flags) from fdinfo, each with a path to mark again (notify_path.c).
 * Restore makes the group in criu-lite (it needs CAP_SYS_ADMIN; FAN_CLOEXEC
 * is among the flags fdinfo shows) and marks each path again, oldest
 * first as they were made. Events queued and not read at the dump are not kept
 * (the dump says how many bytes). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "common/fd/notify.h"
#include "images/log.h"

#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_MARK_IGNORE
#define FAN_MARK_IGNORE 0x00000400
#endif

static bool is_fanotify(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:[fanotify]");
}

/* ---- dump ---- */

/* The mark's path: by file handle, mount id or device. */
static int mark_path(struct fd_dump *c, const char *line, AnonFanotifyMark *m)
{
	char path[PATH_MAX], why[PATH_MAX + 64] = "no mount point";
	int r;

	if (m->kind == ANON_FANOTIFY_MARK_KIND__ANON_FAN_INODE)
		r = notify_inode_path(c->pid, line, m->sdev, path, sizeof(path), why, sizeof(why));
	else
		r = notify_mount_point(c->pid,
				       m->kind == ANON_FANOTIFY_MARK_KIND__ANON_FAN_MOUNT ?
				       (int)m->mnt_id : -1, m->sdev, path, sizeof(path));
	if (r) {
		pr_warn("pid %d: fanotify mark (%.60s): %s", c->pid, line, why);
		return 0;
	}
	m->path = strdup(path);
	return m->path ? 0 : -ENOMEM;
}

static int parse_mark(const char *p, AnonFanotifyMark *m)
{
	unsigned int a, b, mf, mask, ign;
	unsigned long long ino;

	if (sscanf(p, "fanotify ino:%llx sdev:%x mflags:%x mask:%x ignored_mask:%x", &ino, &a,
		   &mf, &mask, &ign) == 5) {
		m->kind = ANON_FANOTIFY_MARK_KIND__ANON_FAN_INODE;
		m->has_ino = m->has_sdev = true;
		m->ino = ino;
		m->sdev = a;
	} else if (sscanf(p, "fanotify mnt_id:%x mflags:%x mask:%x ignored_mask:%x", &a, &mf,
			  &mask, &ign) == 4) {
		m->kind = ANON_FANOTIFY_MARK_KIND__ANON_FAN_MOUNT;
		m->has_mnt_id = true;
		m->mnt_id = a;
	} else if (sscanf(p, "fanotify sdev:%x mflags:%x mask:%x ignored_mask:%x", &b, &mf, &mask,
			  &ign) == 4) {
		m->kind = ANON_FANOTIFY_MARK_KIND__ANON_FAN_FILESYSTEM;
		m->has_sdev = true;
		m->sdev = b;
	} else {
		return -EINVAL;
	}
	m->mflags = mf;
	m->mask = mask;
	m->has_ignored_mask = true;
	m->ignored_mask = ign;
	return 0;
}

static int fanotify_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	AnonFanotify *f = malloc(sizeof(*f));
	const char *p = fdinfo_field(d->fdinfo, "fanotify flags");
	unsigned int flags = 0, evf = 0;
	size_t n = 0;
	int fd, q = 0;

	e->type = FD_TYPE__FD_FANOTIFY;
	if (!f)
		return -ENOMEM;
	anon_fanotify__init(f);
	e->fanotify = f;
	if (!p || sscanf(p, "%x event-flags:%x", &flags, &evf) != 2) {
		pr_err("fd %d: no fanotify flags in fdinfo", d->fd);
		return -EINVAL;
	}
	f->flags = flags;
	f->event_flags = evf;
	for (p = d->fdinfo; (p = strstr(p, "\nfanotify ")); p++)
		n += !!strncmp(p + 1, "fanotify flags:", 15);
	f->marks = calloc(n ? n : 1, sizeof(*f->marks));
	if (!f->marks)
		return -ENOMEM;
	for (p = d->fdinfo; f->n_marks < n && (p = strstr(p, "\nfanotify ")); p++) {
		AnonFanotifyMark *m;
		int r;

		if (!strncmp(p + 1, "fanotify flags:", 15))
			continue;
		if (!(m = malloc(sizeof(*m))))
			return -ENOMEM;
		anon_fanotify_mark__init(m);
		f->marks[f->n_marks++] = m;
		if (parse_mark(p + 1, m)) {
			pr_err("fd %d: cannot parse fanotify fdinfo line: %.80s", d->fd, p + 1);
			return -EINVAL;
		}
		if ((r = mark_path(c, p + 1, m)))
			return r;
	}
	if ((fd = fd_dump_getfd(c, d->fd)) >= 0) {
		if (!ioctl(fd, FIONREAD, &q) && q > 0) {
			e->has_notify_queued = true;
			e->notify_queued = (uint32_t)q;
			pr_warn("pid %d fd %d (fanotify): %d bytes of events not read yet will not "
				"be restored", c->pid, d->fd, q);
		}
	}
	return 0;
}

/* ---- restore ---- */

static int fanotify_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->fanotify)
		return fd_rst_fail(why, len, EINVAL, "fanotify without its group in the image");
	for (size_t i = 0; i < e->fanotify->n_marks; i++)
		if (!e->fanotify->marks[i]->path)
			return fd_rst_fail(why, len, EOPNOTSUPP, "fanotify mark %zu: where it is "
					   "was not found at the dump", i);
	return 0;
}

static unsigned int where(const AnonFanotifyMark *m)
{
	struct stat st;

	if (m->kind == ANON_FANOTIFY_MARK_KIND__ANON_FAN_MOUNT)
		return FAN_MARK_MOUNT;
	if (m->kind == ANON_FANOTIFY_MARK_KIND__ANON_FAN_FILESYSTEM)
		return FAN_MARK_FILESYSTEM;
	return !lstat(m->path, &st) && S_ISLNK(st.st_mode) ? FAN_MARK_DONT_FOLLOW : 0;
}

static int mark(int fd, const AnonFanotifyMark *m, char *why, size_t len)
{
	unsigned int at = where(m), evict = m->mflags & FAN_MARK_EVICTABLE;
	unsigned int ign = m->mflags & FAN_MARK_IGNORE ? FAN_MARK_IGNORE : FAN_MARK_IGNORED_MASK;

	if (m->mask && fanotify_mark(fd, FAN_MARK_ADD | at | evict, m->mask, AT_FDCWD, m->path))
		return fd_rst_fail(why, len, errno, "fanotify mark on %s (mask %#x): %s", m->path,
				   m->mask, strerror(errno));
	if (m->ignored_mask &&
	    fanotify_mark(fd, FAN_MARK_ADD | at | evict | ign |
			  (m->mflags & FAN_MARK_IGNORED_SURV_MODIFY), m->ignored_mask, AT_FDCWD,
			  m->path))
		return fd_rst_fail(why, len, errno, "fanotify ignore mark on %s (mask %#x): %s",
				   m->path, m->ignored_mask, strerror(errno));
	return 0;
}

static int fanotify_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const AnonFanotify *f = e->fanotify;
	int fd = fanotify_init(f->flags, f->event_flags), rc = 0;

	(void)r;
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "fanotify_init(%#x, %#x): %s", f->flags,
				   f->event_flags, strerror(errno));
	/* fdinfo lists the newest mark first */
	for (size_t i = f->n_marks; !rc && i > 0; i--)
		rc = mark(fd, f->marks[i - 1], why, len);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

const struct fd_kind fdk_fanotify = {
	.type = FD_TYPE__FD_FANOTIFY,
	.name = "fanotify",
	.dump_match = is_fanotify,
	.dump = fanotify_dump,
	.check = fanotify_check,
	.open = fanotify_open,
};
