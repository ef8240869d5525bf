/* Unix socket names, restore: bind a socket to exactly the name it had.
 *
 * The name a socket reports (getsockname, a peer's getpeername, a
 * datagram's sender) is the string it was bound with; for a path, bind
 * also creates the file, and the name outlives the file. So several
 * sockets of a tree can share one name: a listener and the connections it
 * accepted (one file, the listener's), two listeners bound one after the
 * other to a path unlinked in between (one file or none). Each socket is
 * bound with its own name, and where its file must not stay:
 *  - KEEP: the file stays at the path (the socket that owned it at dump);
 *  - HIDE: it moves to a private name in the same directory, through which
 *    clients are connected, and is unlinked once they all are;
 *  - NONE: it is unlinked at once.
 * Whatever was at the path before is moved aside for the bind and put back
 * (a KEEP replaces a stale socket file nobody listens on, and refuses a live
 * one). A relative name is bound from the directory it was bound in. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "common/fscreds.h"

/* Somebody listens on the socket file at path. */
static bool live(const char *path)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, r;

	if (sk_unix_addr(path, &sa, &len))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (struct sockaddr *)&sa, len);
	if (r && errno == EPROTOTYPE) {
		close(fd);
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, len);
	}
	r = !r || errno == EAGAIN;
	if (fd >= 0)
		close(fd);
	return r;
}

/* A private name beside path: "<dir>/.criu-lite-<pid>-<seq>". */
static int private_name(struct sk_rst *s, const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');
	int dl = slash ? (int)(slash - path) : 0;
	int n = snprintf(out, len, "%.*s%s.criu-lite-%d-%d", dl, path, slash ? "/" : "",
			 (int)getpid(), ++s->aside_seq);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int do_bind(int fd, const char *name, const char *dir)
{
	struct sockaddr_un sa;
	socklen_t len;
	int here = -1, r;

	if ((r = sk_unix_addr(name, &sa, &len)))
		return r;
	if (dir) {
		here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (here < 0 || chdir(dir)) {
			r = -errno;
			if (here >= 0)
				close(here);
			return r;
		}
	}
	r = bind(fd, (struct sockaddr *)&sa, len) ? -errno : 0;
	if (here >= 0) {
		if (fchdir(here) && !r)
			r = -errno;
		close(here);
	}
	return r;
}

static int set_reach(struct sk_obj *o, const char *name)
{
	if (!o->reach && !(o->reach = malloc(sizeof(*o->reach))))
		return -ENOMEM;
	return sk_unix_addr(name, o->reach, &o->reach_len);
}

/* What is at path now is moved to *aside (or removed when KEEP finds a
 * stale socket file there). */
static int clear_path(struct sk_rst *s, const char *path, enum sk_file f, char *aside,
		      size_t alen, char *why, size_t len)
{
	struct stat st;

	aside[0] = '\0';
	if (lstat(path, &st))
		return 0;
	if (f == SK_FILE_KEEP) {
		if (!S_ISSOCK(st.st_mode))
			return fd_rst_fail(why, len, EEXIST, "%s exists and is not a socket", path);
		if (live(path))
			return fd_rst_fail(why, len, EADDRINUSE, "%s: another socket listens on it",
					   path);
		return unlink(path) ? fd_rst_fail(why, len, errno, "cannot remove the old socket "
						  "file %s: %s", path, strerror(errno)) : 0;
	}
	if (private_name(s, path, aside, alen))
		return fd_rst_fail(why, len, ENAMETOOLONG, "%s: name too long", path);
	if (rename(path, aside))
		return fd_rst_fail(why, len, errno, "cannot move %s aside: %s", path,
				   strerror(errno));
	return 0;
}

static int bind_path(struct fd_rst *r, struct sk_obj *o, const SocketInfo *si, enum sk_file f,
		     char *why, size_t len)
{
	struct sk_rst *s = r->sk;
	const char *name = si->local->path;
	const char *dir = name[0] == '/' ? NULL : si->name_dir;
	char full[PATH_MAX], aside[PATH_MAX], hidden[PATH_MAX];
	int rc;

	if (!dir && name[0] != '/')
		return fd_rst_fail(why, len, EINVAL, "relative unix name %s with no directory", name);
	snprintf(full, sizeof(full), "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
	if ((rc = clear_path(s, full, f, aside, sizeof(aside), why, len)))
		return rc;
	rc = do_bind(o->fd, name, dir);
	if (!rc && f == SK_FILE_KEEP)
		rc = set_reach(o, full);
	else if (!rc && f == SK_FILE_HIDE) {
		rc = private_name(s, full, hidden, sizeof(hidden));
		if (!rc && rename(full, hidden))
			rc = -errno;
		if (!rc)
			rc = sk_unlink_later(s, hidden);
		if (!rc)
			rc = set_reach(o, hidden);
	} else if (!rc && unlink(full)) {
		rc = -errno;
	}
	if (aside[0] && rename(aside, full) && !rc)
		rc = -errno;
	if (rc)
		return fd_rst_fail(why, len, -rc, "cannot bind to %s: %s", name, strerror(-rc));
	return 0;
}

int sk_unix_bind(struct fd_rst *r, struct sk_obj *o, const SocketInfo *si, enum sk_file f,
		 char *why, size_t len)
{
	const char *name = si->local ? si->local->path : NULL;
	int rc;

	if (!name || !name[0])
		return 0;
	if (name[0] != '@') {
		const struct fscreds *prev;

		/* The name is the images' word: made, moved and bound as the
		 * process that held the socket would. */
		if ((rc = fd_rst_as_owner(r, o->e, &prev, why, len)))
			return rc;
		rc = bind_path(r, o, si, f, why, len);
		fscreds_leave(prev);
		return rc;
	}
	rc = do_bind(o->fd, name, NULL);
	if (rc)
		return fd_rst_fail(why, len, -rc, "cannot bind to the abstract name %s: %s", name,
				   strerror(-rc));
	return set_reach(o, name);
}
