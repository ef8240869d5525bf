/* Sockets: the kind (fd.h). Dump is socket_dump.c; restore dispatches by
 * family (socket_unix.c, socket_inet.c, socket_other.c) in three steps:
 * open (every socket, once, in criu-lite before the tree is forked), link
 * (what needs every socket made: clients connected to listeners, files in
 * flight opened), late (once every process exists: queues, shutdowns, the
 * last options, TCP out of repair, the network lock released).
 *
 * --inherit-fd gives a socket the restorer's own fd; an fd 0-2 on a socket
 * whose peer is outside the tree is the restoring shell's stdio. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

int sk_inet_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_inet_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_inet_late(struct fd_rst *r, struct sk_obj *o, char *why, size_t len);
int sk_inet_finish(struct fd_rst *r, bool ok, char *why, size_t len);
int sk_other_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_other_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len);

static void socket_dump_end(const struct fd_rst_opts *opts, enum fd_dump_end end)
{
	if (end == FD_DUMP_KILL_AHEAD)
		sk_tcp_dump_silence_ahead(opts);
	else if (end == FD_DUMP_KILLED)
		sk_tcp_dump_killed();
	else
		sk_tcp_dump_finish(opts, end == FD_DUMP_KILL);
}

static bool is_socket(const struct fd_desc *d)
{
	return S_ISSOCK(d->st.st_mode) || !strncmp(d->link, "socket:[", 8);
}

static bool is_inet(const SocketInfo *si)
{
	return si->family == AF_INET || si->family == AF_INET6;
}

static int socket_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;

	if (!si)
		return fd_rst_fail(why, len, EINVAL, "socket without details in the image");
	if (fd_rst_inherited(r, e, why, len) >= 0)
		return 0;
	if (si->pending_why)
		return fd_rst_fail(why, len, EOPNOTSUPP, "%s", si->pending_why);
	if (si->family == AF_UNIX)
		return sk_unix_check(r, e, why, len);
	if (is_inet(si))
		return sk_inet_check(r, e, why, len);
	return sk_other_check(r, e, why, len);
}

static int open_family(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;

	if (si->family == AF_UNIX)
		return sk_unix_open(r, e, why, len);
	if (is_inet(si))
		return sk_inet_open(r, e, why, len);
	return sk_other_open(r, e, why, len);
}

static int sk_open_entry(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	struct fd_rst_obj *o = fd_rst_obj_find(r, FD_TYPE__FD_SOCKET, si->ino);
	struct sk_obj *so;
	int fd, rc;

	if (!o) {
		/* 1: the family says "the restoring shell's" (stdio to outside) */
		rc = open_family(r, e, why, len);
		if (rc == 1)
			return fd_rst_open_shell(e, why, len);
		if (rc < 0)
			return rc;
		o = fd_rst_obj_find(r, FD_TYPE__FD_SOCKET, si->ino);
		if (!o)
			return fd_rst_fail(why, len, EIO, "socket %llu was not made",
					   (unsigned long long)si->ino);
	}
	/* made ahead (socket_tcp_ahead.c), or now */
	so = sk_obj_find(r->sk, si->ino);
	if (so && so->table_fd >= 0) {
		fd = so->table_fd;
		so->table_fd = -1;
	} else {
		fd = fcntl(o->fds[0], F_DUPFD_CLOEXEC, r->fd_hi);
	}
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "dup: %s", strerror(errno));
	/* made here without status flags: set only those it had */
	if (e->flags & SK_FL_SETTABLE)
		fcntl(fd, F_SETFL, e->flags & SK_FL_SETTABLE);
	return fd;
}

static int socket_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct sk_rst *s = sk_rst_get(r);
	int fd = fd_rst_inherited(r, e, why, len);

	if (fd != -ENOENT)
		return fd;
	if (!s)
		return -ENOMEM;
	s->open = sk_open_entry;
	return sk_open_entry(r, e, why, len);
}

static int socket_link(struct fd_rst *r, char *why, size_t len)
{
	int rc = sk_tcp_ring_run(r, why, len);

	return !rc && r->sk ? sk_unix_link(r, why, len) : rc;
}

static void rst_free(struct fd_rst *r)
{
	if (r->sk) {
		sk_tcp_ring_free(r->sk);
		sk_tcp_ahead_free(r->sk);
	}
	sk_rst_free(r);
}

/* The end of the late step, on a thread of its own while criu-lite
 * rebuilds the processes (settle waits for it before any runs): removing
 * the lock's table of a thousand connections is ~1 ms of kernel work,
 * closing our copies of their sockets ~0.4 ms. Below TAIL_MIN sockets a
 * thread would cost more than it spares. */
#define TAIL_MIN 64

static struct {
	struct fd_rst r;	/* .sk only: what the tail frees */
	pthread_t th;
	bool running;
	int rc;
	char why[256];
} tail;

static void *tail_run(void *arg)
{
	(void)arg;
	tail.rc = sk_inet_finish(&tail.r, true, tail.why, sizeof(tail.why));
	rst_free(&tail.r);
	return NULL;
}

/* r's sockets handed to the tail: 0, or -1 (no thread: r's still). */
static int tail_start(struct fd_rst *r)
{
	if (r->sk->nr_obj < TAIL_MIN || !par_two_threads())
		return -1;
	/* the names made for the link step go now: none is left once a
	 * process of the tree runs, whatever the thread's pace */
	sk_unlink_all(r->sk);
	tail.r.sk = r->sk;
	if (!par_start(&tail.th, tail_run, NULL)) {
		tail.r.sk = NULL;
		return -1;
	}
	tail.running = true;
	pr_debug("%zu sockets' end (the network lock, our copies) on a second thread",
		 r->sk->nr_obj);
	r->sk = NULL;
	return 0;
}

static int tail_join(char *why, size_t len)
{
	if (!tail.running)
		return 0;
	pthread_join(tail.th, NULL);
	tail.running = false;
	if (tail.rc)
		snprintf(why, len, "%s", tail.why);
	return tail.rc;
}

/* Every socket made, in the order made: queues first (a shutdown or a
 * filter would stop them), then connections, shutdowns, options. */
static int socket_late(struct fd_rst *r, char *why, size_t len)
{
	struct sk_rst *s = r->sk;
	int rc = 0;

	if (!s)
		return 0;
	/* connections made in the link step (files in flight) */
	rc = sk_tcp_ring_run(r, why, len);
	for (size_t i = 0; !rc && i < s->nr_obj; i++)
		if (s->obj[i].e->sock->family == AF_UNIX)
			rc = sk_queue_restore(r, &s->obj[i], why, len);
	if (!rc)
		rc = sk_unix_late(r, why, len);
	for (size_t i = 0; !rc && i < s->nr_obj; i++)
		if (is_inet(s->obj[i].e->sock))
			rc = sk_inet_late(r, &s->obj[i], why, len);
	if (!rc)
		rc = sk_tcp_ring_run(r, why, len);
	for (size_t i = 0; !rc && i < s->nr_obj; i++)
		rc = sk_opts_restore(s->obj[i].fd, s->obj[i].e->sock, SK_OPTS_LATE, why, len);
	if (!rc && !tail_start(r))
		return 0;
	if (!rc)
		rc = sk_inet_finish(r, true, why, len);
	rst_free(r);
	return rc;
}

static int socket_settle(struct fd_rst *r, char *why, size_t len)
{
	(void)r;
	return tail_join(why, len);
}

static void socket_rst_done(struct fd_rst *r)
{
	char why[256];

	tail_join(why, sizeof(why));
	if (r->sk)
		sk_inet_finish(r, false, why, sizeof(why));
	rst_free(r);
}

const struct fd_kind fdk_socket = {
	.type = FD_TYPE__FD_SOCKET,
	.name = "socket",
	.dump_match = is_socket,
	.dump = socket_dump,
	.dump_done = socket_dump_done,
	.dump_end = socket_dump_end,
	.check = socket_check,
	.open_proc = sk_tcp_ahead_open_proc,
	.open = socket_open,
	.link_tree = socket_link,
	.late_tree = socket_late,
	.settle = socket_settle,
	.rst_done = socket_rst_done,
};
