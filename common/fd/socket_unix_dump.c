/* Unix sockets, dump: what sock_diag does not say directly.
 *
 *  - Whether a path name still names the socket: the kernel keeps the name
 *    a socket was bound to after its file is unlinked (or replaced by
 *    another socket's); UNIX_DIAG_VFS gives the bound file's inode, which
 *    we compare with what the path holds now, seen from the process's root.
 *  - A connected socket whose peer shows as inode 0: the peer was closed
 *    (a socketpair survivor), unless the socket waits in a listener's
 *    accept queue (the server end has no inode until accept()). What such
 *    a client wrote sits in that not-yet-accepted end, where only accept()
 *    could read it: named, for restore to refuse.
 *  - The receive queue (socket_queue.c). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

/* sock_diag gives the kernel's dev_t (major << 20 | minor). */
static bool same_file(const struct stat *st, const struct sk_rec *r)
{
	return st->st_ino == r->vfs_ino && major(st->st_dev) == (r->vfs_dev >> 20) &&
	       minor(st->st_dev) == (r->vfs_dev & 0xfffff);
}

static int unix_path(struct fd_dump *c, const struct sk_rec *r, SocketInfo *si)
{
	char where[PATH_MAX + 64], dir[PATH_MAX];
	const char *name = r->name;
	struct stat st;
	ssize_t n;

	if (name[0] == '/') {
		snprintf(where, sizeof(where), "/proc/%d/root%s", c->pid, name);
	} else {
		/* Relative to the cwd at bind time: we know only today's. */
		snprintf(where, sizeof(where), "/proc/%d/cwd", c->pid);
		n = readlink(where, dir, sizeof(dir) - 1);
		if (n < 0)
			return 0;
		dir[n] = '\0';
		if (!(si->name_dir = strdup(dir)))
			return -ENOMEM;
		snprintf(where, sizeof(where), "/proc/%d/cwd/%s", c->pid, name);
	}
	si->has_unlinked = true;
	si->unlinked = stat(where, &st) || !S_ISSOCK(st.st_mode) || !same_file(&st, r);
	return 0;
}

int sk_unix_dump(struct fd_dump *c, const struct fd_desc *d, const struct sk_rec *r, int s,
		 SocketInfo *si)
{
	int ret = 0;

	(void)d;
	if (r->name && r->name[0] != '@' && r->vfs_ino)
		ret = unix_path(c, r, si);
	if (ret)
		return ret;
	if (r->has_peer && !r->peer_ino && r->state != SK_LISTEN) {
		const struct sk_rec *l = sk_find_listener_of(c->sk, r->ino);

		if (l) {
			/* the listener's name: where a client outside the tree reconnects */
			if (l->name && !si->peer) {
				if (!(si->peer = malloc(sizeof(*si->peer))))
					return -ENOMEM;
				sock_addr__init(si->peer);
				if (!(si->peer->path = strdup(l->name)))
					return -ENOMEM;
			}
			/* wqueue: what this end wrote that no one read yet */
			if (r->has_queues && r->wqueue) {
				si->has_pending_bytes = true;
				si->pending_bytes = r->wqueue;
			}
		} else {
			si->has_peer_closed = si->peer_closed = true;
		}
	}
	if (r->state == SK_LISTEN || s < 0)
		return 0;
	return sk_queue_dump(c, s, si);
}
