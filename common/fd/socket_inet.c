/* Inet sockets (TCP, UDP, UDP-Lite, ICMP ping; IPv4 and IPv6), restore.
 *
 * A listener binds and listens again; a socket bound but not listening
 * binds again; a TCP connection comes back in repair mode (socket_tcp.c).
 * A datagram socket binds, joins its groups, gets its queued datagrams
 * again from their senders' addresses (socket_raw.c), then connects (a
 * connected socket hears only its peer) and shuts down as it was.
 *
 * Connections to peers outside the tree: with --tcp-established they come
 * back as they were (the network lock the dump left holds their packets
 * until the late step, then goes); with --tcp-close they come back reset;
 * with neither, they are refused (an fd 0-2 is the restoring shell's). */
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

int sk_inet_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_inet_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_inet_late(struct fd_rst *r, struct sk_obj *o, char *why, size_t len);
int sk_inet_finish(struct fd_rst *r, bool ok, char *why, size_t len);
int sk_mcast_restore(int s, const SocketInfo *si, char *why, size_t len);

static bool is_tcp(const SocketInfo *si)
{
	return si->type == SOCK_STREAM && si->protocol == IPPROTO_TCP;
}


int sk_inet_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;

	if (si->type == SOCK_DGRAM)
		return 0;
	if (!is_tcp(si))
		return fd_rst_fail(why, len, EOPNOTSUPP, "inet socket of type %u, protocol %u",
				   si->type, si->protocol);
	if (!sk_is_tcp_conn(si))
		return si->state == SK_LISTEN && !si->local ?
		       fd_rst_fail(why, len, EINVAL, "listening socket without an address") : 0;
	if (!si->tcp || !si->local || !si->peer)
		return fd_rst_fail(why, len, EINVAL, "TCP connection without its state in the image");
	if (sk_tcp_in_tree(r, si) || r->opts.tcp_established || r->opts.tcp_close ||
	    fd_rst_is_shell(e))
		return 0;
	return fd_rst_fail(why, len, EOPNOTSUPP, "TCP connection to %s port %u, outside the "
			   "dumped tree (--tcp-established: restore it, --tcp-close: it ends)",
			   si->peer->ip, si->peer->port);
}

/* Bound to something other than "any address, any port". */
static bool bound(const SocketInfo *si)
{
	uint8_t b[16] = { 0 }, any4[16] = { [10] = 0xff, [11] = 0xff };

	if (!si->local || !si->local->ip)
		return false;
	if (si->local->port)
		return true;
	return sk_ip16(si->local->ip, b) && memcmp(b, (uint8_t[16]){ 0 }, 16) && memcmp(b, any4, 16);
}

static int do_bind(int s, const SocketInfo *si, char *why, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (!bound(si))
		return 0;
	if (sk_inet_addr((int)si->family, si->local, &ss, &sl))
		return fd_rst_fail(why, len, EINVAL, "bad address in the image");
	if (bind(s, (struct sockaddr *)&ss, sl))
		return fd_rst_fail(why, len, errno, "cannot bind to %s port %u: %s", si->local->ip,
				   si->local->port, strerror(errno));
	return 0;
}

/* A listener, or a TCP socket bound (or not) and not connected. */
static int plain(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	int proto = si->has_protocol ? (int)si->protocol : 0;
	int s = socket((int)si->family, (int)si->type | SOCK_CLOEXEC, proto), one = 1, reuse;
	struct sk_obj *o;

	if (s < 0)
		return fd_rst_fail(why, len, errno, "cannot create the socket: %s", strerror(errno));
	if (!(o = sk_obj_add(r, si->ino, e, s))) {
		close(s);
		return -ENOMEM;
	}
	if (sk_opts_restore(s, si, SK_OPTS_BIND, why, len))
		return -EINVAL;
	/* the dumped program's own connections may hold the port a while */
	reuse = si->opts && si->opts->has_reuseaddr ? (int)si->opts->reuseaddr : 0;
	if (is_tcp(si))
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (do_bind(s, si, why, len))
		return -EINVAL;
	if (is_tcp(si))
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
	if (si->state == SK_LISTEN &&
	    listen(s, si->has_backlog ? (int)si->backlog : SOMAXCONN))
		return fd_rst_fail(why, len, errno, "cannot listen: %s", strerror(errno));
	return si->type == SOCK_DGRAM ? sk_mcast_restore(s, si, why, len) : 0;
}

int sk_inet_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;

	if (!sk_is_tcp_conn(si))
		return plain(r, e, why, len);
	if (sk_lock_note(r->sk, si))
		return fd_rst_fail(why, len, ENOMEM, "too many network locks");
	if (sk_tcp_in_tree(r, si) || r->opts.tcp_established) {
		bool in_repair;
		int hi, s = sk_tcp_ahead_take(r, e, &in_repair, &hi);

		return s >= 0 ? sk_tcp_adopt(r, e, s, in_repair, hi) : sk_tcp_restore(r, e, why, len);
	}
	if (r->opts.tcp_close)
		return sk_tcp_closed(r, e, why, len);
	return 1;	/* the restoring shell's stdio (checked) */
}

/* ---- late: datagrams, connections, the lock ---- */

static int datagrams(const SocketInfo *si, char *why, size_t len)
{
	int fam = (int)si->family, proto = (int)si->protocol;
	uint8_t dst[16], src[16];

	if (!si->local || !si->local->ip || inet_pton(fam, si->local->ip, dst) != 1)
		return si->n_queue ? fd_rst_fail(why, len, EINVAL, "datagrams queued to a socket "
						 "with no address") : 0;
	for (size_t q = 0; q < si->n_queue; q++) {
		const SkPacket *pk = si->queue[q];
		int rc;

		if (!pk->from || !pk->from->ip || inet_pton(fam, pk->from->ip, src) != 1)
			return fd_rst_fail(why, len, EINVAL, "a queued datagram has no sender");
		rc = sk_raw_udp(fam, proto, src, (uint16_t)pk->from->port, dst,
				(uint16_t)si->local->port, pk->data.data, pk->data.len);
		if (rc)
			return fd_rst_fail(why, len, -rc, "cannot queue a datagram again: %s",
					   strerror(-rc));
	}
	return 0;
}

static int dgram_late(struct sk_obj *o, char *why, size_t len)
{
	const SocketInfo *si = o->e->sock;
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc = datagrams(si, why, len);

	if (!rc && si->has_state && si->state == SK_ESTABLISHED && si->peer) {
		if (sk_inet_addr((int)si->family, si->peer, &ss, &sl) ||
		    connect(o->fd, (struct sockaddr *)&ss, sl))
			rc = fd_rst_fail(why, len, errno, "cannot connect to %s port %u: %s",
					 si->peer->ip ? si->peer->ip : "?", si->peer->port,
					 strerror(errno));
	}
	if (!rc && (si->shutdown & 2))
		shutdown(o->fd, SHUT_WR);
	if (!rc && (si->shutdown & 1))
		shutdown(o->fd, SHUT_RD);
	return rc;
}

int sk_inet_late(struct fd_rst *r, struct sk_obj *o, char *why, size_t len)
{
	if (o->e->sock->type == SOCK_DGRAM)
		return dgram_late(o, why, len);
	return sk_tcp_late(r, o, why, len);
}

/* The locks dumps left for these connections go, whatever the outcome
 * (on failure the connections are lost: their peers hear so at once). */
int sk_inet_finish(struct fd_rst *r, bool ok, char *why, size_t len)
{
	struct sk_rst *s = r->sk;
	int rc = 0;

	for (size_t i = 0; s && i < s->nr_locks; i++) {
		if (sk_lock_remove(s->locks[i]) && !rc)
			rc = fd_rst_fail(why, len, EIO, "cannot remove the network lock %s",
					 s->locks[i]);
		if (!ok)
			pr_warn("network lock %s removed: the connections it held are lost",
				s->locks[i]);
		free(s->locks[i]);
	}
	if (s)
		s->nr_locks = 0;
	return rc;
}
