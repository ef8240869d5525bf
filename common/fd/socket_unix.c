/* Unix sockets, restore: which socket is whose peer, and how to make each
 * again so that every name, peer and queue is what it was.
 *
 *  - A connected pair (both ends in the tree, or one only in flight) is a
 *    socketpair, each end then bound to its own name (a socket may be
 *    bound once connected; socket_unix_name.c says where its file goes).
 *    An abstract name a listener of the tree holds cannot be bound twice:
 *    that end is made by connecting to the listener and accepting.
 *  - A survivor (its peer closed) is one end of a socketpair whose other
 *    end criu-lite keeps until the queue is back, then closes: reads give
 *    the data, then end of file.
 *  - A client waiting in a listener's accept queue is connected in the
 *    link step, in accept-queue order, once every listener exists.
 *  - A peer outside the tree needs --ext-unix-sk: a named one is connected
 *    to again by name, an unnamed one comes back closed.
 * The late step (socket_queue_rst.c) puts queues back, then shutdowns and
 * the remaining options. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "common/fscreds.h"
#include "images/log.h"

enum peer_kind { P_NONE, P_TREE, P_CLOSED, P_PENDING, P_OUTSIDE };

static const char *name_of(const SocketInfo *si)
{
	return si->local && si->local->path && si->local->path[0] ? si->local->path : NULL;
}

static bool is_listener(const SocketInfo *si)
{
	return si->has_state && si->state == SK_LISTEN;
}

struct listener_find {
	uint64_t ino;		/* a client in its accept queue, or */
	const char *name;	/* its name */
	const FdEntry *found;
};

static void listener_one(const FdEntry *e, void *arg)
{
	struct listener_find *f = arg;
	const SocketInfo *si = e->sock;

	if (f->found || si->family != AF_UNIX || !is_listener(si))
		return;
	if (f->name && name_of(si) && !strcmp(f->name, name_of(si)))
		f->found = e;
	for (size_t i = 0; !f->name && i < si->n_icons; i++)
		if (si->icons[i] == f->ino)
			f->found = e;
}

static const FdEntry *tree_listener(const struct fd_rst *r, uint64_t client, const char *name)
{
	struct listener_find f = { .ino = client, .name = name };

	sk_for_each_entry(r, listener_one, &f);
	return f.found;
}

static enum peer_kind peer_of(const struct fd_rst *r, const SocketInfo *si, const FdEntry **pe)
{
	*pe = NULL;
	if (is_listener(si))
		return P_NONE;
	if (si->peer_closed)
		return P_CLOSED;
	if (si->has_peer_ino && si->peer_ino) {
		*pe = sk_entry(r, si->peer_ino);
		return *pe ? P_TREE : P_OUTSIDE;
	}
	if (si->type == SOCK_DGRAM || si->state != SK_ESTABLISHED)
		return P_NONE;
	/* connected, no peer yet: waiting to be accepted */
	*pe = tree_listener(r, si->ino, NULL);
	return *pe ? P_PENDING : P_OUTSIDE;
}

static bool mutual(const SocketInfo *si, const FdEntry *pe)
{
	return pe->sock->has_peer_ino && pe->sock->peer_ino == si->ino;
}

/* ---- check ---- */

static const char *outside_name(const SocketInfo *si)
{
	return si->peer && si->peer->path && si->peer->path[0] ? si->peer->path : NULL;
}

static int check_rights(const struct fd_rst *r, const SocketInfo *si, char *why, size_t len)
{
	char inner[400];

	for (size_t q = 0; q < si->n_queue; q++)
		for (size_t k = 0; k < si->queue[q]->n_rights; k++) {
			const FdEntry *f = si->queue[q]->rights[k];
			const struct fd_kind *kind = r->kind_of ? r->kind_of((int)f->type) : NULL;

			if (!kind || !kind->check || !kind->open)
				snprintf(inner, sizeof(inner), "%s: restoring %s is not supported",
					 f->link ? f->link : "?", kind ? kind->name : "it");
			if (!kind || !kind->check || !kind->open ||
			    kind->check(r, f, inner, sizeof(inner)) < 0)
				return fd_rst_fail(why, len, EOPNOTSUPP, "a file in flight in its "
						   "queue: %s", inner);
		}
	return 0;
}

int sk_unix_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	const FdEntry *pe;
	const char *peer;

	if (si->has_pending_bytes && si->pending_bytes)
		return fd_rst_fail(why, len, EOPNOTSUPP, "unix socket waiting in a listener's "
				   "accept queue: what it already wrote is in the connection not "
				   "yet accepted, where only accept() could read it");
	if (name_of(si) && name_of(si)[0] != '@' && name_of(si)[0] != '/' && !si->name_dir)
		return fd_rst_fail(why, len, EOPNOTSUPP, "unix socket bound to the relative name "
				   "%s in an unknown directory", name_of(si));
	if (peer_of(r, si, &pe) == P_OUTSIDE) {
		peer = outside_name(si);
		if (!r->opts.ext_unix_sk && !fd_rst_is_shell(e) && peer)
			return fd_rst_fail(why, len, EOPNOTSUPP, "unix socket connected to %s outside "
					   "the dumped tree (--ext-unix-sk: connect to it again)",
					   peer);
		if (!r->opts.ext_unix_sk && !fd_rst_is_shell(e))
			return fd_rst_fail(why, len, EOPNOTSUPP, "unix socket connected to socket "
					   "%llu outside the dumped tree (--ext-unix-sk: restore it "
					   "closed)", (unsigned long long)si->peer_ino);
		if (peer && si->n_queue)
			return fd_rst_fail(why, len, EOPNOTSUPP, "unix socket connected to %s outside "
					   "the dumped tree has %zu unread messages only that peer "
					   "could send again", peer, si->n_queue);
	}
	return check_rights(r, si, why, len);
}

/* ---- open ---- */

/* Where the file of e's name goes (socket_unix_name.c). A listener owns
 * the file it bound; a connection it accepted shares its name, not the
 * file; among others the first one still named by the path owns it. */
struct owner_find {
	const FdEntry *e;
	const char *name;
	bool other_owns;
};

static void owner_one(const FdEntry *o, void *arg)
{
	struct owner_find *f = arg;
	const SocketInfo *si = o->sock, *me = f->e->sock;

	if (o == f->e || si->ino == me->ino || si->family != AF_UNIX || !name_of(si) ||
	    strcmp(name_of(si), f->name) || si->unlinked)
		return;
	if (is_listener(si) || (!is_listener(me) && si->ino < me->ino))
		f->other_owns = true;
}

static enum sk_file file_of(const struct fd_rst *r, const FdEntry *e)
{
	const SocketInfo *si = e->sock;
	struct owner_find f = { .e = e, .name = name_of(si) };

	if (!f.name || f.name[0] == '@')
		return SK_FILE_KEEP;
	if (si->unlinked)
		return is_listener(si) || si->type == SOCK_DGRAM ? SK_FILE_HIDE : SK_FILE_NONE;
	if (is_listener(si))
		return SK_FILE_KEEP;
	sk_for_each_entry(r, owner_one, &f);
	return f.other_owns ? SK_FILE_NONE : SK_FILE_KEEP;
}

/* A socket of e's kind registered as e, bound to its name. */
static struct sk_obj *new_obj(struct fd_rst *r, const FdEntry *e, int fd, bool bind_it, char *why,
			      size_t len)
{
	struct sk_obj *o;
	int rc;

	if (fd < 0) {
		fd_rst_fail(why, len, errno, "cannot create a unix socket: %s", strerror(errno));
		return NULL;
	}
	o = sk_obj_add(r, e->sock->ino, e, fd);
	if (!o) {
		close(fd);
		fd_rst_fail(why, len, ENOMEM, "out of memory");
		return NULL;
	}
	rc = sk_opts_restore(o->fd, e->sock, SK_OPTS_BIND, why, len);
	if (!rc && bind_it)
		rc = sk_unix_bind(r, o, e->sock, file_of(r, e), why, len);
	return rc ? NULL : o;
}

static int new_socket(const SocketInfo *si)
{
	return socket(AF_UNIX, (int)si->type | SOCK_CLOEXEC, 0);
}

static int make_listener(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	struct sk_obj *o = new_obj(r, e, new_socket(si), true, why, len);

	if (!o)
		return -EINVAL;
	if (listen(o->fd, si->has_backlog ? (int)si->backlog : SOMAXCONN))
		return fd_rst_fail(why, len, errno, "cannot listen: %s", strerror(errno));
	return 0;
}

/* The listener of the tree holding abstract name, made if not yet. */
static struct sk_obj *listener_obj(struct fd_rst *r, const FdEntry *l, char *why, size_t len)
{
	struct sk_obj *o = sk_obj_find(r->sk, l->sock->ino);
	int fd;

	if (o)
		return o;
	fd = r->sk->open(r, l, why, len);
	if (fd < 0)
		return NULL;
	close(fd);
	return sk_obj_find(r->sk, l->sock->ino);
}

/* Server end s (entry se, may be NULL: a survivor's vanished peer is the
 * client) accepted from listener l; client end ce (NULL: kept as s's
 * peer_fd, to close later). */
static int via_listener(struct fd_rst *r, const FdEntry *l, const FdEntry *se, const FdEntry *ce,
			char *why, size_t len)
{
	struct sk_obj *lo = listener_obj(r, l, why, len), *co = NULL, *so;
	int c, s;

	if (!lo)
		return -EINVAL;
	c = new_socket(se->sock);
	if (ce && !(co = new_obj(r, ce, c, true, why, len)))
		return -EINVAL;
	if (co)
		c = co->fd;
	lo = sk_obj_find(r->sk, l->sock->ino);	/* new_obj may have moved it */
	if (connect(c, (struct sockaddr *)lo->reach, lo->reach_len)) {
		if (!co)
			close(c);
		return fd_rst_fail(why, len, errno, "cannot connect through %s: %s",
				   name_of(l->sock), strerror(errno));
	}
	s = accept4(lo->fd, NULL, NULL, SOCK_CLOEXEC);
	if (!(so = new_obj(r, se, s, false, why, len))) {
		if (!co)
			close(c);
		return -EINVAL;
	}
	if (!co)
		so->peer_fd = c;
	return 0;
}

/* Does an abstract name of this end belong to a listener of the tree? */
static const FdEntry *held_abstract(const struct fd_rst *r, const FdEntry *e)
{
	const char *name = name_of(e->sock);

	if (!name || name[0] != '@')
		return NULL;
	return tree_listener(r, 0, name);
}

static int make_pair(struct fd_rst *r, const FdEntry *a, const FdEntry *b, char *why, size_t len)
{
	const FdEntry *l;
	int sv[2];

	if ((l = held_abstract(r, a)))
		return via_listener(r, l, a, b, why, len);
	if (b && (l = held_abstract(r, b)))
		return via_listener(r, l, b, a, why, len);
	if (socketpair(AF_UNIX, (int)a->sock->type | SOCK_CLOEXEC, 0, sv))
		return fd_rst_fail(why, len, errno, "cannot create a unix socketpair: %s",
				   strerror(errno));
	if (!b) {
		struct sk_obj *o = new_obj(r, a, sv[0], true, why, len);

		if (!o) {
			close(sv[1]);
			return -EINVAL;
		}
		o->peer_fd = sv[1];
		return 0;
	}
	if (!new_obj(r, a, sv[0], true, why, len)) {
		close(sv[1]);
		return -EINVAL;
	}
	return new_obj(r, b, sv[1], true, why, len) ? 0 : -EINVAL;
}

int sk_unix_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	const FdEntry *pe;
	enum peer_kind k;

	if (sk_index(r))
		return -ENOMEM;
	if (is_listener(si))
		return make_listener(r, e, why, len);
	k = peer_of(r, si, &pe);
	if (k == P_OUTSIDE && !r->opts.ext_unix_sk && fd_rst_is_shell(e))
		return 1;	/* the restoring shell's stdio */
	if (k == P_OUTSIDE && !outside_name(si))
		k = P_CLOSED;
	if (k == P_CLOSED)
		return make_pair(r, e, NULL, why, len);
	if (k == P_TREE && (si->type != SOCK_DGRAM || mutual(si, pe)))
		return make_pair(r, e, pe, why, len);
	/* unconnected now; connected in the link (stream) or late (dgram) step */
	return new_obj(r, e, new_socket(si), true, why, len) ? 0 : -EINVAL;
}

/* ---- link: clients waiting to be accepted, in queue order ---- */

/* As e's process: the name is the images' word (a socket in a directory
 * only root may enter stays out of reach). */
static int connect_to(struct fd_rst *r, const FdEntry *e, int fd, const struct sockaddr *sa,
		      socklen_t sl, const char *what, char *why, size_t len)
{
	const struct fscreds *prev;
	int rc = fd_rst_as_owner(r, e, &prev, why, len), err;

	if (rc)
		return rc;
	rc = connect(fd, sa, sl);
	err = errno;
	fscreds_leave(prev);
	if (rc)
		return fd_rst_fail(why, len, err, "cannot connect a unix socket to %s: %s", what,
				   strerror(err));
	return 0;
}

/* Make every client in the accept queue of listener `ino`, then connect
 * them in order (making one may move the objects: found again by inode). */
static int connect_pending(struct fd_rst *r, uint64_t ino, char *why, size_t len)
{
	const SocketInfo *ls = sk_obj_find(r->sk, ino)->e->sock;
	int fd;

	for (size_t i = 0; i < ls->n_icons; i++) {
		const FdEntry *ce = sk_entry(r, ls->icons[i]);

		if (ce && !sk_obj_find(r->sk, ce->sock->ino)) {
			if ((fd = r->sk->open(r, ce, why, len)) < 0)
				return fd;
			close(fd);
		}
	}
	for (size_t i = 0; i < ls->n_icons; i++) {
		struct sk_obj *lo = sk_obj_find(r->sk, ino), *co = sk_obj_find(r->sk, ls->icons[i]);

		/* no entry: a client outside the tree, whose connection ended with the dump */
		if (co && connect_to(r, co->e, co->fd, (struct sockaddr *)lo->reach, lo->reach_len,
				     name_of(ls), why, len))
			return -EINVAL;
	}
	return 0;
}

/* A stream client of a listener outside the tree (--ext-unix-sk). */
static int connect_outside(struct fd_rst *r, struct sk_obj *o, char *why, size_t len)
{
	const char *name = outside_name(o->e->sock);
	struct sockaddr_un sa;
	socklen_t sl;

	if (sk_unix_addr(name, &sa, &sl))
		return fd_rst_fail(why, len, ENAMETOOLONG, "name too long: %s", name);
	return connect_to(r, o->e, o->fd, (struct sockaddr *)&sa, sl, name, why, len);
}

int sk_unix_link(struct fd_rst *r, char *why, size_t len)
{
	struct sk_rst *s = r->sk;
	int rc = 0;

	for (size_t i = 0; s && !rc && i < s->nr_ent; i++)
		rc = sk_queue_prepare(r, s->ent[i], why, len);
	/* connecting may open more sockets and move s->obj: by index */
	for (size_t i = 0; s && !rc && i < s->nr_obj; i++) {
		const SocketInfo *si = s->obj[i].e->sock;
		const FdEntry *pe;

		if (si->family != AF_UNIX)
			continue;
		if (is_listener(si) && si->n_icons)
			rc = connect_pending(r, s->obj[i].ino, why, len);
		else if (si->type != SOCK_DGRAM && peer_of(r, si, &pe) == P_OUTSIDE &&
			 outside_name(si))
			rc = connect_outside(r, &s->obj[i], why, len);
	}
	return rc;
}

/* A datagram socket connected to a peer it is not the peer of (a client of
 * a named server): connected in the late step, after its queue is back
 * (once connected, only that peer could send to it). The address, or 0. */
int sk_unix_dgram_target(struct fd_rst *r, const SocketInfo *si, struct sockaddr_storage *ss,
			 socklen_t *sl)
{
	const FdEntry *pe;
	enum peer_kind k;
	struct sk_obj *po;

	if (si->family != AF_UNIX || si->type != SOCK_DGRAM)
		return 0;
	k = peer_of(r, si, &pe);
	if (k == P_TREE && !mutual(si, pe)) {
		if (!(po = sk_obj_find(r->sk, pe->sock->ino)) || !po->reach_len)
			return -ENOENT;
		memcpy(ss, po->reach, po->reach_len);
		*sl = po->reach_len;
		return 1;
	}
	if (k == P_OUTSIDE && outside_name(si)) {
		if (sk_unix_addr(outside_name(si), (struct sockaddr_un *)ss, sl))
			return -ENAMETOOLONG;
		return 1;
	}
	return 0;
}

/* ---- late: connections that had to wait for the queues, shutdowns ---- */

int sk_unix_late(struct fd_rst *r, char *why, size_t len)
{
	struct sk_rst *s = r->sk;
	int rc = 0;

	for (size_t i = 0; i < s->nr_obj && !rc; i++) {
		struct sockaddr_storage ss;
		socklen_t sl;

		rc = sk_unix_dgram_target(r, s->obj[i].e->sock, &ss, &sl);
		if (rc == 1)
			rc = connect_to(r, s->obj[i].e, s->obj[i].fd, (struct sockaddr *)&ss, sl,
					outside_name(s->obj[i].e->sock) ?: "its peer", why, len);
		else if (rc < 0)
			rc = fd_rst_fail(why, len, -rc, "its datagram peer cannot be reached");
	}
	for (size_t i = 0; i < s->nr_obj && !rc; i++) {
		struct sk_obj *o = &s->obj[i];
		const SocketInfo *si = o->e->sock;

		if (si->family != AF_UNIX || is_listener(si))
			continue;
		/* a survivor: its peer goes now, as it had gone */
		if (o->peer_fd >= 0) {
			close(o->peer_fd);
			o->peer_fd = -1;
			continue;
		}
		if (si->shutdown & 2)
			shutdown(o->fd, SHUT_WR);
		if (si->shutdown & 1)
			shutdown(o->fd, SHUT_RD);
	}
	sk_unlink_all(s);
	return rc;
}
