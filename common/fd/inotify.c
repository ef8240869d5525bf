/* inotify: each watch (wd, watched inode and its superblock, mask), from
 * fdinfo's "inotify wd:" lines. Not restored yet: restore refuses it (the
 * watches name inodes, and finding their paths again is still to do). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd/fd.h"
#include "images/log.h"

static bool is_inotify(const struct fd_desc *d)
{
	return !strcmp(d->link, "anon_inode:inotify");
}

/* "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x ..." per watch. */
static int inotify_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	size_t n = 0;
	const char *p;

	(void)c;
	e->type = FD_TYPE__FD_INOTIFY;
	for (p = d->fdinfo; (p = strstr(p, "inotify wd:")); p++)
		n++;
	if (!n)
		return 0;
	e->inotify = calloc(n, sizeof(*e->inotify));
	if (!e->inotify)
		return -ENOMEM;
	for (p = d->fdinfo; e->n_inotify < n && (p = strstr(p, "inotify wd:")); p++) {
		InotifyWatch *w = malloc(sizeof(*w));
		unsigned int wd, sdev, mask, ign;
		unsigned long long ino;

		if (!w)
			return -ENOMEM;
		inotify_watch__init(w);
		e->inotify[e->n_inotify++] = w;
		if (sscanf(p, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%x", &wd,
			   &ino, &sdev, &mask, &ign) != 5) {
			pr_err("fd %d: cannot parse inotify fdinfo line: %.80s", d->fd, p);
			return -EINVAL;
		}
		w->wd = wd;
		w->ino = ino;
		w->sdev = sdev;
		w->mask = mask;
		w->has_ignored_mask = true;
		w->ignored_mask = ign;
	}
	return 0;
}

const struct fd_kind fdk_inotify = {
	.type = FD_TYPE__FD_INOTIFY,
	.name = "inotify",
	.dump_match = is_inotify,
	.dump = inotify_dump,
};
