/* Unix socket queues, restore: every message sent again, in order, into the
 * socket that held it, by the socket that could have sent it.
 *
 * The files in flight are opened in the link step, while every open file
 * description of the tree is still held by criu-lite (a pipe in flight
 * that a process also holds is the same pipe); the messages go in the late
 * step, once every process exists, because credentials in flight name
 * processes (SCM_CREDENTIALS is refused for a pid that does not exist; a
 * process of the tree is named by its pid now).
 *
 * The sender: for a connected socket its peer (or, for a survivor, the
 * other end criu-lite kept); for a named datagram socket the socket of the
 * tree bound to the sender's name, else one made for the message, bound to
 * that name (or to none). Neither end has SO_PASSCRED yet, so the kernel
 * adds no credentials to a message that had none. The sender's buffer is
 * made large enough for the whole queue, then set back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"

int sk_queue_prepare(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct sk_rst *s = r->sk;
	const SocketInfo *si = e->sock;

	for (size_t q = 0; q < si->n_queue; q++) {
		const SkPacket *pk = si->queue[q];
		struct sk_rights *n;

		if (!pk->n_rights)
			continue;
		n = realloc(s->rights, (s->nr_rights + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->rights = n;
		n = &s->rights[s->nr_rights++];
		n->pk = pk;
		n->n = 0;
		if (!(n->fds = calloc(pk->n_rights, sizeof(int))))
			return -ENOMEM;
		for (size_t k = 0; k < pk->n_rights; k++) {
			const FdEntry *f = pk->rights[k];
			const struct fd_kind *kind = r->kind_of ? r->kind_of((int)f->type) : NULL;
			int fd = kind && kind->open ? kind->open(r, f, why, len) : -EOPNOTSUPP;

			if (fd < 0)
				return fd;
			n->fds[n->n++] = fd;
		}
	}
	return 0;
}

static const struct sk_rights *rights_of(const struct sk_rst *s, const SkPacket *pk)
{
	for (size_t i = 0; i < s->nr_rights; i++)
		if (s->rights[i].pk == pk)
			return &s->rights[i];
	return NULL;
}

/* One message: its files and credentials go with its first bytes. */
static int send_packet(const struct fd_rst *r, int fd, const void *to,
		       socklen_t tolen, const SkPacket *pk, char *why, size_t len)
{
	const struct sk_rights *rt = rights_of(r->sk, pk);
	size_t nfds = rt ? rt->n : 0, off = 0, dlen = pk->has_data ? pk->data.len : 0;
	size_t clen = (nfds ? CMSG_SPACE(nfds * sizeof(int)) : 0) +
		      (pk->creds ? CMSG_SPACE(sizeof(struct ucred)) : 0);
	char *cbuf = clen ? calloc(1, clen) : NULL;
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = tolen,
			    .msg_control = cbuf, .msg_controllen = clen };
	struct cmsghdr *c = cbuf ? (struct cmsghdr *)cbuf : NULL;
	ssize_t n;

	if (clen && !cbuf)
		return -ENOMEM;
	if (nfds) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), rt->fds, nfds * sizeof(int));
		c = (struct cmsghdr *)((char *)c + CMSG_SPACE(nfds * sizeof(int)));
	}
	if (pk->creds) {
		struct ucred u = { sk_real_pid(r, pk->creds->pid), pk->creds->uid, pk->creds->gid };

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(u));
		memcpy(CMSG_DATA(c), &u, sizeof(u));
	}
	do {
		struct iovec iov = { pk->data.data + off, dlen - off };

		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		n = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		m.msg_control = NULL;	/* files and credentials once */
		m.msg_controllen = 0;
		off += n > 0 ? (size_t)n : 0;
	} while (n > 0 && off < dlen);
	free(cbuf);
	if (n < 0 && errno == ESRCH && pk->creds)
		return fd_rst_fail(why, len, ESRCH, "a message in its queue carries the "
				   "credentials of pid %u, which does not exist now", pk->creds->pid);
	if (n < 0)
		return fd_rst_fail(why, len, errno, "cannot put its queued messages back: %s",
				   strerror(errno));
	return 0;
}

/* ---- the sender's buffer ---- */

static int fresh_sndbuf(int type)
{
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0), v = 0;
	socklen_t l = sizeof(v);

	if (s >= 0) {
		getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l);
		close(s);
	}
	return v;
}

static void sndbuf_raise(int fd, size_t need)
{
	int v = (int)(need > (64u << 20) ? (64u << 20) : need) + (1 << 20);

	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
}

/* Back to what the dump saw: the program's size, or the default and no lock. */
static void sndbuf_reset(int fd, const SocketInfo *si)
{
	const SkOpts *so = si ? si->opts : NULL;
	int v = so && so->has_sndbuf ? so->sndbuf / 2 : fresh_sndbuf((int)(si ? si->type :
								      SOCK_DGRAM)) / 2;
	int lock = so && so->has_buf_lock ? (int)so->buf_lock : 0;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_BUF_LOCK, &lock, sizeof(lock));
}

/* ---- who sends ---- */

/* A datagram socket of the tree bound to `name` (made already). */
static struct sk_obj *named_obj(struct sk_rst *s, const char *name)
{
	for (size_t i = 0; i < s->nr_obj; i++) {
		const SocketInfo *si = s->obj[i].e->sock;

		if (si->family == AF_UNIX && si->type == SOCK_DGRAM && si->local &&
		    si->local->path && !strcmp(si->local->path, name))
			return &s->obj[i];
	}
	return NULL;
}

/* A socket made to send one message from `name` (or from no name). */
static int temp_sender(struct fd_rst *r, const SockAddr *from, char *why, size_t len)
{
	SockAddr local = SOCK_ADDR__INIT;
	SocketInfo si = SOCKET_INFO__INIT;
	struct sk_obj o = { .fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) };

	if (o.fd < 0)
		return fd_rst_fail(why, len, errno, "socket: %s", strerror(errno));
	if (from && from->path && from->path[0]) {
		local.path = from->path;
		si.local = &local;
		if (sk_unix_bind(r, &o, &si, SK_FILE_NONE, why, len)) {
			close(o.fd);
			return -EADDRINUSE;
		}
	}
	return o.fd;
}

static int dgram_queue(struct fd_rst *r, struct sk_obj *o, char *why, size_t len)
{
	const SocketInfo *si = o->e->sock;
	int rc = 0;

	for (size_t q = 0; q < si->n_queue && !rc; q++) {
		const SkPacket *pk = si->queue[q];
		const char *from = pk->from && pk->from->path ? pk->from->path : NULL;
		struct sk_obj *so = from ? named_obj(r->sk, from) : NULL;
		int fd = so ? so->fd : temp_sender(r, pk->from, why, len);

		if (fd < 0)
			return fd;
		if (!o->reach_len) {
			rc = fd_rst_fail(why, len, EINVAL, "its queued datagrams came from others, "
					 "and it has no name to send them to");
		} else {
			sndbuf_raise(fd, pk->data.len);
			rc = send_packet(r, fd, o->reach, o->reach_len, pk, why, len);
			if (so)
				sndbuf_reset(fd, so->e->sock);
		}
		if (!so)
			close(fd);
	}
	return rc;
}

int sk_queue_restore(struct fd_rst *r, struct sk_obj *o, char *why, size_t len)
{
	const SocketInfo *si = o->e->sock;
	struct sk_obj *po = NULL;
	size_t total = 0;
	int fd, rc = 0;

	if (!si->n_queue)
		return 0;
	if (o->peer_fd < 0 && si->has_peer_ino && si->peer_ino)
		po = sk_obj_find(r->sk, si->peer_ino);
	/* a datagram socket hears its peer only if the peer is connected to it */
	if (si->type == SOCK_DGRAM && po && !(po->e->sock->has_peer_ino &&
					      po->e->sock->peer_ino == si->ino))
		po = NULL;
	fd = o->peer_fd >= 0 ? o->peer_fd : po ? po->fd : -1;
	if (fd < 0 && si->type == SOCK_DGRAM)
		return dgram_queue(r, o, why, len);
	if (fd < 0)
		return fd_rst_fail(why, len, EINVAL, "no socket can send its queued data again");
	for (size_t q = 0; q < si->n_queue; q++)
		total += si->queue[q]->data.len;
	sndbuf_raise(fd, total * 2);
	for (size_t q = 0; q < si->n_queue && !rc; q++)
		rc = send_packet(r, fd, NULL, 0, si->queue[q], why, len);
	sndbuf_reset(fd, po ? po->e->sock : si);
	return rc;
}
