/* Sockets, dump half: sock_diag's record (socket_diag.c), then what only
 * the socket can say, asked of a duplicate borrowed with pidfd_getfd (the
 * same socket: nothing is reopened), by family. A socket the dump cannot
 * read whole gets `pending_why`, which restore's check names and refuses. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

int sk_inet_dump(struct fd_dump *c, const struct fd_desc *d, const struct sk_rec *r, int s,
		 SocketInfo *si);
int sk_other_dump(struct fd_dump *c, int s, SocketInfo *si);

void socket_dump_done(struct fd_dump *c)
{
	if (c->sk)
		sk_pre_free(c->sk);
	sk_cache_free(c->sk);
	c->sk = NULL;
	sk_ring_dump_done();
}

static SockAddr *sk_addr(const struct sk_rec *r, bool local, const struct sk_rec *peer)
{
	SockAddr *a = malloc(sizeof(*a));

	if (!a)
		return NULL;
	sock_addr__init(a);
	if (r->family == AF_UNIX) {
		const struct sk_rec *who = local ? r : peer;

		if (!who || !who->name)
			return a;
		if (!(a->path = strdup(who->name)))
			goto fail;
		return a;
	}
	if (!(a->ip = sk_ip_string(r->family, local ? r->lip : r->pip)))
		goto fail;
	a->has_port = true;
	a->port = local ? r->lport : r->pport;
	return a;
fail:
	free(a);
	return NULL;
}

static int fill_from_rec(const struct fd_dump *c, const struct sk_rec *r, SocketInfo *si)
{
	const struct sk_rec *peer = r->peer_ino ? sk_find(c->sk, r->peer_ino) : NULL;

	si->family = r->family;
	si->type = r->type;
	si->has_protocol = si->has_state = si->has_shutdown = true;
	si->protocol = r->protocol;
	si->state = r->state;
	si->shutdown = r->shutdown;
	if (r->peer_ino) {
		si->has_peer_ino = true;
		si->peer_ino = r->peer_ino;
	}
	if (r->has_queues) {
		si->has_rqueue = si->has_wqueue = true;
		si->rqueue = r->rqueue;
		si->wqueue = r->wqueue;
		/* a listener's "wqueue" is its backlog (sk_max_ack_backlog) */
		if (r->state == SK_LISTEN) {
			si->has_backlog = true;
			si->backlog = r->wqueue;
		}
	}
	if (r->n_icons) {
		if (!(si->icons = malloc(r->n_icons * sizeof(*si->icons))))
			return -ENOMEM;
		for (size_t i = 0; i < r->n_icons; i++)
			si->icons[i] = r->icons[i];
		si->n_icons = r->n_icons;
	}
	si->local = sk_addr(r, true, NULL);
	if (!si->local)
		return -ENOMEM;
	if (r->family != AF_UNIX || peer) {
		si->peer = sk_addr(r, false, peer);
		if (!si->peer)
			return -ENOMEM;
	}
	return 0;
}

/* Family, type and protocol asked of the socket itself. */
static void sk_basics(int s, SocketInfo *si)
{
	int dom = -1, type = -1, proto = -1;
	socklen_t len = sizeof(int);

	if (s >= 0) {
		if (getsockopt(s, SOL_SOCKET, SO_DOMAIN, &dom, &len))
			dom = -1;
		len = sizeof(int);
		if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len))
			type = -1;
		len = sizeof(int);
		if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &proto, &len))
			proto = -1;
	}
	si->family = dom < 0 ? AF_UNSPEC : (uint32_t)dom;
	si->type = type < 0 ? 0 : (uint32_t)type;
	si->has_protocol = proto >= 0;
	si->protocol = proto < 0 ? 0 : (uint32_t)proto;
}

static int by_family(struct fd_dump *c, const struct fd_desc *d, const struct sk_rec *r, int s,
		     SocketInfo *si)
{
	switch (si->family) {
	case AF_UNIX:
		return r ? sk_unix_dump(c, d, r, s, si) : -EOPNOTSUPP;
	case AF_INET:
	case AF_INET6:
		return sk_inet_dump(c, d, r, s, si);
	default:
		return sk_other_dump(c, s, si);
	}
}

int socket_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const struct sk_rec *r;
	char reason[128];
	SocketInfo *si;
	int s, ret;

	if (!c->sk_loaded) {
		c->sk_loaded = true;
		ret = sk_cache_load(c);
		if (ret < 0)
			return ret;
	}
	if (!(si = e->sock = malloc(sizeof(*si))))
		return -ENOMEM;
	socket_info__init(si);
	si->ino = d->st.st_ino;
	s = sk_pre_getfd(c, d->fd);
	r = sk_find(c->sk, si->ino);
	if (!r)
		sk_basics(s, si);
	/* the TCP table from BPF has the process's own TCP fds only */
	if (!r && si->protocol == IPPROTO_TCP)
		r = sk_find_tcp_walked(c, si->ino);
	ret = r ? fill_from_rec(c, r, si) : 0;
	if (!ret && si->family == AF_UNSPEC)
		return fd_dump_unsupported(c, d, e, "socket not found by sock_diag");
	e->type = FD_TYPE__FD_SOCKET;
	if (!ret && s < 0) {
		snprintf(reason, sizeof(reason), "the socket could not be borrowed to read its "
			 "options and queues (%s)", strerror(-s));
		ret = (si->pending_why = strdup(reason)) ? 0 : -ENOMEM;
	}
	if (!ret && s >= 0)
		ret = sk_pre_opts(c, d->fd, s, si, r);
	if (!ret)
		ret = by_family(c, d, r, s, si);
	if (ret == -EOPNOTSUPP) {
		snprintf(reason, sizeof(reason), "socket of family %u, type %u, protocol %u",
			 si->family, si->type, si->protocol);
		return fd_dump_unsupported(c, d, e, reason);
	}
	return ret;
}
