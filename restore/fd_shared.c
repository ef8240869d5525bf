/* How each dumped fd comes back, and the objects criu-lite makes before it
 * forks the tree. A pipe, a socketpair or a listening socket may be open in
 * several processes of the tree; making it once in criu-lite, before the
 * first fork, lets every process inherit the same kernel object, exactly as
 * it was shared when dumped. Each process then dups what it needs to its
 * dumped fd numbers and closes the rest (fds.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "images/log.h"
#include "restore/fds.h"
#include "restore/rst.h"

#define SK_LISTEN 10	/* TCP_LISTEN, also what sock_diag shows for unix */

/* Is there an fd in the tree on pipe `ino` opened for `acc` (O_RDONLY/O_WRONLY)? */
static bool tree_has_pipe_end(struct rst_tree *t, uint64_t ino, int acc)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		for (size_t j = 0; j < t->procs[i].nr_fd; j++) {
			const FdEntry *e = t->procs[i].fd[j];

			if (e->type == FD_TYPE__FD_PIPE && e->pipe && e->pipe->ino == ino &&
			    (int)(e->flags & O_ACCMODE) == acc)
				return true;
		}
	return false;
}

static bool tree_has_socket(struct rst_tree *t, uint64_t ino)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		for (size_t j = 0; j < t->procs[i].nr_fd; j++) {
			const FdEntry *e = t->procs[i].fd[j];

			if (e->type == FD_TYPE__FD_SOCKET && e->sock && e->sock->ino == ino)
				return true;
		}
	return false;
}

static bool have_shell_tty(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (isatty(fd))
			return true;
	return false;
}

/* Sockets restore can recreate: unix socketpairs inside the tree, and
 * listening tcp and unix sockets. */
static enum rst_fd_how classify_socket(struct rst_tree *t, const FdEntry *e, char *buf, size_t len)
{
	const SocketInfo *s = e->sock;

	if (!s) {
		snprintf(buf, len, "socket without details in the image");
		return RST_FD_UNSUPPORTED;
	}
	if (s->has_state && s->state == SK_LISTEN) {
		if (s->family == AF_UNIX && s->local && s->local->path && s->local->path[0])
			return RST_FD_SHARED;
		if ((s->family == AF_INET || s->family == AF_INET6) && s->local && s->local->ip &&
		    s->type == SOCK_STREAM)
			return RST_FD_SHARED;
		snprintf(buf, len, "listening socket of family %u without a usable address",
			 s->family);
		return RST_FD_UNSUPPORTED;
	}
	if (s->family == AF_UNIX && s->has_peer_ino && tree_has_socket(t, s->peer_ino) &&
	    (!s->local || !s->local->path || !s->local->path[0]))
		return RST_FD_SHARED;
	if (e->fd <= 2)
		return RST_FD_SHELL;
	if (s->family == AF_UNIX)
		snprintf(buf, len, "unix socket connected to a process outside the dumped tree");
	else
		snprintf(buf, len, "connected or unbound socket (family %u): only listening "
			 "sockets and socketpairs inside the tree can be restored", s->family);
	return RST_FD_UNSUPPORTED;
}

enum rst_fd_how rst_fd_classify(struct rst_tree *t, const FdEntry *e, char *buf, size_t len)
{
	const char *link = e->link ? e->link : "";

	switch (e->type) {
	case FD_TYPE__FD_REG:
	case FD_TYPE__FD_DIR:
		if (strstr(link, " (deleted)")) {
			snprintf(buf, len, "%s was deleted", link);
			return RST_FD_UNSUPPORTED;
		}
		if (!e->file || !e->file->path[0]) {
			snprintf(buf, len, "no file identity in the image");
			return RST_FD_UNSUPPORTED;
		}
		return RST_FD_OPEN;
	case FD_TYPE__FD_CHR:
		return e->file ? RST_FD_OPEN : RST_FD_UNSUPPORTED;
	case FD_TYPE__FD_FIFO:
		if (!e->file || !e->pipe) {
			snprintf(buf, len, "fifo without details in the image");
			return RST_FD_UNSUPPORTED;
		}
		return RST_FD_SHARED;
	case FD_TYPE__FD_TTY:
		if (e->fd <= 2)
			return RST_FD_SHELL;
		if (have_shell_tty())
			return RST_FD_SHELL_TTY;
		snprintf(buf, len, "terminal %s, and criu-lite runs without one", link);
		return RST_FD_UNSUPPORTED;
	case FD_TYPE__FD_PIPE:
		if (!e->pipe) {
			snprintf(buf, len, "pipe without details in the image");
			return RST_FD_UNSUPPORTED;
		}
		if (tree_has_pipe_end(t, e->pipe->ino, O_RDONLY) &&
		    tree_has_pipe_end(t, e->pipe->ino, O_WRONLY))
			return RST_FD_SHARED;
		if (e->fd <= 2)
			return RST_FD_SHELL;
		snprintf(buf, len, "pipe whose other end is outside the dumped tree");
		return RST_FD_UNSUPPORTED;
	case FD_TYPE__FD_SOCKET:
		return classify_socket(t, e, buf, len);
	case FD_TYPE__FD_EVENTFD:
		return RST_FD_EVENTFD;
	case FD_TYPE__FD_EPOLL:
		return RST_FD_EPOLL;
	case FD_TYPE__FD_SIGNALFD:
		return e->has_signalfd_mask ? RST_FD_SIGNALFD : RST_FD_UNSUPPORTED;
	case FD_TYPE__FD_TIMERFD:
		if (e->timerfd)
			return RST_FD_TIMERFD;
		break;
	case FD_TYPE__FD_UNSUPPORTED:
		if (e->fd <= 2)
			return RST_FD_SHELL;
		snprintf(buf, len, "%s", e->unsupported_reason ? e->unsupported_reason :
			 "kind of file criu-lite does not dump");
		return RST_FD_UNSUPPORTED;
	default:
		break;
	}
	snprintf(buf, len, "%s: restoring this kind of file is not supported", link);
	return RST_FD_UNSUPPORTED;
}

const char *rst_fd_unsupported(struct rst_tree *t, const struct rst_proc *p, const FdEntry *e,
			       char *buf, size_t len)
{
	(void)p;
	buf[0] = '\0';
	if (rst_fd_classify(t, e, buf, len) != RST_FD_UNSUPPORTED)
		return NULL;
	if (!buf[0])
		snprintf(buf, len, "%s cannot be restored", e->link ? e->link : "this file");
	return buf;
}

struct rst_shared *rst_shared_find(struct rst_tree *t, int kind, uint64_t ino)
{
	for (size_t i = 0; i < t->nr_sh; i++)
		if (t->sh[i].kind == kind && t->sh[i].ino == ino)
			return &t->sh[i];
	return NULL;
}

static struct rst_shared *shared_add(struct rst_tree *t, int kind, uint64_t ino)
{
	struct rst_shared *s = &t->sh[t->nr_sh++];

	s->kind = kind;
	s->ino = ino;
	s->fds[0] = s->fds[1] = -1;
	return s;
}

static int pipe_fill(struct rst_shared *s, const PipeInfo *pi)
{
	int fl = fcntl(s->fds[1], F_GETFL);
	size_t off = 0;

	if (pi->has_pipe_size && pi->pipe_size > (uint32_t)fcntl(s->fds[1], F_GETPIPE_SZ) &&
	    fcntl(s->fds[1], F_SETPIPE_SZ, pi->pipe_size) < 0)
		pr_warn("pipe %llu: cannot grow it to %u bytes: %s",
			(unsigned long long)s->ino, pi->pipe_size, strerror(errno));
	if (pi->data_truncated)
		pr_warn("pipe %llu: only the first %zu unread bytes were dumped",
			(unsigned long long)s->ino, pi->data.len);
	/* Non-blocking: a full pipe must fail, not hang the restore. */
	fcntl(s->fds[1], F_SETFL, fl | O_NONBLOCK);
	while (off < pi->data.len) {
		ssize_t n = write(s->fds[1], pi->data.data + off, pi->data.len - off);

		if (n <= 0) {
			int r = pr_perror("pipe %llu: cannot put back %zu unread bytes",
					  (unsigned long long)s->ino, pi->data.len);

			fcntl(s->fds[1], F_SETFL, fl);
			return r;
		}
		off += n;
	}
	fcntl(s->fds[1], F_SETFL, fl);
	return 0;
}

static int make_pipe(struct rst_tree *t, const FdEntry *e)
{
	struct rst_shared *s = rst_shared_find(t, FD_TYPE__FD_PIPE, e->pipe->ino);

	if (!s) {
		s = shared_add(t, FD_TYPE__FD_PIPE, e->pipe->ino);
		if (pipe2(s->fds, O_CLOEXEC))
			return pr_perror("cannot create a pipe");
	}
	/* The data is stored in every process image holding the pipe: put
	 * it back once. */
	if (!s->data_done && e->pipe->has_data && e->pipe->data.len) {
		s->data_done = true;
		return pipe_fill(s, e->pipe);
	}
	return 0;
}

/* A fifo: held open read-write here (that never blocks), so each process
 * can reopen it through /proc/self/fd with its own flags without waiting
 * for a peer; its unread data goes back through that fd. */
static int make_fifo(struct rst_tree *t, const FdEntry *e)
{
	struct rst_shared *s = rst_shared_find(t, FD_TYPE__FD_FIFO, e->pipe->ino);

	if (s)
		return 0;
	s = shared_add(t, FD_TYPE__FD_FIFO, e->pipe->ino);
	s->fds[0] = open(e->file->path, O_RDWR | O_CLOEXEC);
	if (s->fds[0] < 0)
		return pr_perror("cannot open fifo %s", e->file->path);
	s->fds[1] = s->fds[0];
	if (e->pipe->has_data && e->pipe->data.len) {
		s->data_done = true;
		return pipe_fill(s, e->pipe);
	}
	return 0;
}

static int make_socketpair(struct rst_tree *t, const FdEntry *e)
{
	const SocketInfo *si = e->sock;
	struct rst_shared *a, *b;
	int sv[2];

	if (rst_shared_find(t, FD_TYPE__FD_SOCKET, si->ino))
		return 0;
	if (socketpair(AF_UNIX, (int)si->type | SOCK_CLOEXEC, 0, sv))
		return pr_perror("cannot create a unix socketpair");
	a = shared_add(t, FD_TYPE__FD_SOCKET, si->ino);
	a->fds[0] = sv[0];
	b = shared_add(t, FD_TYPE__FD_SOCKET, si->peer_ino);
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

static int make_listener(struct rst_tree *t, const FdEntry *e)
{
	const SocketInfo *si = e->sock;
	struct sockaddr_storage ss;
	struct rst_shared *s;
	socklen_t len;
	int one = 1, r;

	if (rst_shared_find(t, FD_TYPE__FD_SOCKET, si->ino))
		return 0;
	r = listen_addr(si, &ss, &len);
	if (r) {
		pr_err("fd %u: bad listening address in the image", e->fd);
		return r;
	}
	s = shared_add(t, FD_TYPE__FD_SOCKET, si->ino);
	s->fds[0] = socket((int)si->family, (int)si->type | SOCK_CLOEXEC, 0);
	if (s->fds[0] < 0)
		return pr_perror("cannot create a listening socket");
	if (si->family == AF_UNIX)
		unlink_stale_unix((struct sockaddr_un *)&ss, len);
	else
		setsockopt(s->fds[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->fds[0], (struct sockaddr *)&ss, len))
		return pr_perror("cannot bind the listening socket of fd %u to %s%s%.0u", e->fd,
				 si->local->path ? si->local->path : si->local->ip,
				 si->family == AF_UNIX ? "" : " port ", si->local->port);
	if (listen(s->fds[0], si->has_backlog ? (int)si->backlog : SOMAXCONN))
		return pr_perror("cannot listen on the socket of fd %u", e->fd);
	if (si->n_icons)
		pr_warn("fd %u: %zu connections not yet accepted are not restored", e->fd,
			si->n_icons);
	return 0;
}

int rst_shared_create(struct rst_tree *t)
{
	size_t nr = 0;
	int r = 0;

	for (size_t i = 0; i < t->nr_procs; i++)
		nr += t->procs[i].nr_fd * 2;
	t->sh = calloc(nr ? nr : 1, sizeof(*t->sh));
	if (!t->sh)
		return -ENOMEM;
	for (size_t i = 0; !r && i < t->nr_procs; i++) {
		for (size_t j = 0; !r && j < t->procs[i].nr_fd; j++) {
			const FdEntry *e = t->procs[i].fd[j];
			char buf[8];

			if (rst_fd_classify(t, e, buf, sizeof(buf)) != RST_FD_SHARED)
				continue;
			if (e->type == FD_TYPE__FD_PIPE)
				r = make_pipe(t, e);
			else if (e->type == FD_TYPE__FD_FIFO)
				r = make_fifo(t, e);
			else if (e->sock->has_state && e->sock->state == SK_LISTEN)
				r = make_listener(t, e);
			else
				r = make_socketpair(t, e);
		}
	}
	return r;
}

void rst_shared_close(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_sh; i++) {
		struct rst_shared *s = &t->sh[i];

		if (s->fds[1] >= 0 && s->fds[1] != s->fds[0])
			close(s->fds[1]);
		if (s->fds[0] >= 0)
			close(s->fds[0]);
		s->fds[0] = s->fds[1] = -1;
	}
}
