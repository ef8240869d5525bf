/* Sockets, restore half (the dump half reads sock_diag: socket_diag.c).
 *
 * What comes back today: unix socketpairs whose two ends are in the tree
 * (made once, each end dup'ed by every fd on it), and listening unix and
 * TCP sockets (bound and listening again at their address). An fd 0-2 on a
 * socket to outside the tree is the restoring shell's stdio. Everything
 * else is refused, naming the fd. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

#define SK_LISTEN 10	/* TCP_LISTEN, also what sock_diag shows for unix */
/* Per-fd flags that belong to the open file description. */
#define FL_SETTABLE (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

static bool is_socket(const struct fd_desc *d)
{
	return S_ISSOCK(d->st.st_mode) || !strncmp(d->link, "socket:[", 8);
}

static bool is_sock(const FdEntry *e, const void *arg)
{
	return e->sock && e->sock->ino == *(const uint64_t *)arg;
}

static bool tree_has_socket(const struct fd_rst *r, uint64_t ino)
{
	return fd_rst_find(r, FD_TYPE__FD_SOCKET, is_sock, &ino);
}

static bool is_listener(const SocketInfo *s)
{
	return s->has_state && s->state == SK_LISTEN;
}

/* A unix socket with no name whose peer is an fd of the tree: a socketpair
 * made again whole. */
static bool is_pair(const struct fd_rst *r, const SocketInfo *s)
{
	return s->family == AF_UNIX && s->has_peer_ino && tree_has_socket(r, s->peer_ino) &&
	       (!s->local || !s->local->path || !s->local->path[0]);
}

static int socket_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *s = e->sock;

	if (!s)
		return fd_rst_fail(why, len, EINVAL, "socket without details in the image");
	if (is_listener(s)) {
		if (s->family == AF_UNIX && s->local && s->local->path && s->local->path[0])
			return 0;
		if ((s->family == AF_INET || s->family == AF_INET6) && s->local && s->local->ip &&
		    s->type == SOCK_STREAM)
			return 0;
		return fd_rst_fail(why, len, EOPNOTSUPP, "listening socket of family %u without "
				   "a usable address", s->family);
	}
	if (is_pair(r, s) || fd_rst_is_shell(e))
		return 0;
	if (s->family == AF_UNIX)
		return fd_rst_fail(why, len, EOPNOTSUPP, "unix socket connected to a process "
				   "outside the dumped tree");
	return fd_rst_fail(why, len, EOPNOTSUPP, "connected or unbound socket (family %u): only "
			   "listening sockets and socketpairs inside the tree can be restored",
			   s->family);
}

static int make_socketpair(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	struct fd_rst_obj *a, *b;
	int sv[2];

	if (socketpair(AF_UNIX, (int)si->type | SOCK_CLOEXEC, 0, sv))
		return fd_rst_fail(why, len, errno, "cannot create a unix socketpair: %s",
				   strerror(errno));
	a = fd_rst_obj_add(r, FD_TYPE__FD_SOCKET, si->ino);
	b = a ? fd_rst_obj_add(r, FD_TYPE__FD_SOCKET, si->peer_ino) : NULL;
	if (!b) {
		close(sv[0]);
		close(sv[1]);
		return -ENOMEM;
	}
	a = fd_rst_obj_find(r, FD_TYPE__FD_SOCKET, si->ino);	/* b's add may move a */
	a->fds[0] = sv[0];
	b->fds[0] = sv[1];
	if (si->has_rqueue && si->rqueue)
		pr_warn("unix socket %llu: %u queued bytes are not restored",
			(unsigned long long)si->ino, si->rqueue);
	if (si->has_shutdown && si->shutdown)
		shutdown(sv[0], (int)si->shutdown - 1);
	return 0;
}

/* A unix socket file left by the dumped process (killed, or still there):
 * remove it only if nobody listens on it any more. */
static void unlink_stale_unix(const struct sockaddr_un *sa, socklen_t len)
{
	struct stat st;
	int fd;

	if (sa->sun_path[0] == '\0' || stat(sa->sun_path, &st) || !S_ISSOCK(st.st_mode))
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)sa, len) && errno == ECONNREFUSED)
		unlink(sa->sun_path);
	close(fd);
}

static int listen_addr(const SocketInfo *si, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (si->family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		const char *path = si->local->path;
		size_t n = strlen(path);

		if (n >= sizeof(un->sun_path))
			return -ENAMETOOLONG;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, n);
		if (path[0] == '@')
			un->sun_path[0] = '\0';	/* abstract */
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				   (path[0] == '@' ? 0 : 1));
		return 0;
	}
	if (si->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)si->local->port);
		*len = sizeof(*in);
		return inet_pton(AF_INET, si->local->ip, &in->sin_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)si->local->port);
	*len = sizeof(*in6);
	return inet_pton(AF_INET6, si->local->ip, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
}

static int make_listener(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	struct sockaddr_storage ss;
	struct fd_rst_obj *o;
	socklen_t alen;
	int one = 1, fd;

	if (listen_addr(si, &ss, &alen))
		return fd_rst_fail(why, len, EINVAL, "bad listening address in the image");
	fd = socket((int)si->family, (int)si->type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot create a listening socket: %s",
				   strerror(errno));
	o = fd_rst_obj_add(r, FD_TYPE__FD_SOCKET, si->ino);
	if (!o) {
		close(fd);
		return -ENOMEM;
	}
	o->fds[0] = fd;
	if (si->family == AF_UNIX)
		unlink_stale_unix((struct sockaddr_un *)&ss, alen);
	else
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, alen))
		return fd_rst_fail(why, len, errno, "cannot bind the listening socket to %s%s%.0u: "
				   "%s", si->local->path ? si->local->path : si->local->ip,
				   si->family == AF_UNIX ? "" : " port ", si->local->port,
				   strerror(errno));
	if (listen(fd, si->has_backlog ? (int)si->backlog : SOMAXCONN))
		return fd_rst_fail(why, len, errno, "cannot listen: %s", strerror(errno));
	if (si->n_icons)
		pr_warn("fd %u: %zu connections not yet accepted are not restored", e->fd,
			si->n_icons);
	return 0;
}

static int socket_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	struct fd_rst_obj *o = fd_rst_obj_find(r, FD_TYPE__FD_SOCKET, si->ino);
	int fd, rc = 0;

	if (!o && !is_listener(si) && !is_pair(r, si))
		return fd_rst_open_shell(e, why, len);
	if (!o)
		rc = is_listener(si) ? make_listener(r, e, why, len) :
				       make_socketpair(r, e, why, len);
	if (rc)
		return rc;
	o = fd_rst_obj_find(r, FD_TYPE__FD_SOCKET, si->ino);
	fd = fcntl(o->fds[0], F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "dup: %s", strerror(errno));
	fcntl(fd, F_SETFL, e->flags & FL_SETTABLE);
	return fd;
}

const struct fd_kind fdk_socket = {
	.type = FD_TYPE__FD_SOCKET,
	.name = "socket",
	.dump_match = is_socket,
	.dump = socket_dump,
	.dump_done = socket_dump_done,
	.check = socket_check,
	.open = socket_open,
};
