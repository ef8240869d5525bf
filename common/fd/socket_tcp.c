/* TCP connections, restore: made again in repair mode (tcp(7)).
 *
 * In repair mode bind and connect send nothing: the socket is established
 * at once, with the sequence numbers set beforehand (TCP_QUEUE_SEQ of each
 * queue: where its dumped bytes start), the options the peers agreed
 * (TCP_REPAIR_OPTIONS), the timestamp clock and the windows. Bytes sent to
 * the receive queue land there as received; bytes sent to the send queue
 * count as sent and unacknowledged (retransmitted when due). The bytes the
 * program had written but the kernel never sent can only be written with
 * repair mode off: they go in the late step, once every socket of the tree
 * exists (the peer of a connection inside the tree must be there to
 * receive them, or its kernel would answer with a reset).
 *
 * Half-closed connections get their FINs back in the late step too: ours
 * by shutdown() in repair mode (it counts as sent), the peer's by a FIN
 * criu-lite sends as the peer would have (socket_raw.c), then the ACK of
 * ours where the peer had acknowledged it.
 *
 * --tcp-close: a connection to outside the tree comes back reset (reads
 * fail with ECONNRESET): a connection made in repair mode to a local port
 * nobody listens on, whose window probe is answered with a reset. */
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

#ifndef TCPOPT_SACK_PERM
#define TCPOPT_SACK_PERM TCPOPT_SACK_PERMITTED
#endif

#define F(st) (1u << (st))
#define FIN_SENT (F(TCP_FIN_WAIT1) | F(TCP_FIN_WAIT2) | F(TCP_CLOSING) | F(TCP_LAST_ACK))
#define FIN_RECEIVED (F(TCP_CLOSE_WAIT) | F(TCP_LAST_ACK) | F(TCP_CLOSING))
#define FIN_SENT_FIRST (F(TCP_FIN_WAIT1) | F(TCP_FIN_WAIT2) | F(TCP_CLOSING))
#define FIN_ACKED F(TCP_FIN_WAIT2)

static int rfail(char *why, size_t len, const char *what)
{
	return fd_rst_fail(why, len, errno, "TCP repair: %s: %s", what, strerror(errno));
}

static int set(int s, int opt, const void *v, socklen_t l, const char *what, char *why,
	       size_t len)
{
	return setsockopt(s, SOL_TCP, opt, v, l) ? rfail(why, len, what) : 0;
}

static int set_int(int s, int opt, int v, const char *what, char *why, size_t len)
{
	return set(s, opt, &v, sizeof(v), what, why, len);
}

/* Room in the send buffer for n more bytes, for a moment. */
static void sndbuf_fit(int s, size_t n)
{
	int v = 0;
	socklen_t l = sizeof(v);

	getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l);
	v = (int)(v / 2 + (n > (256u << 20) ? (256u << 20) : n) * 2);
	setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
}

/* Bytes into the queue chosen; the kernel may refuse a large linear
 * buffer (receive queue): smaller pieces then. Never waits: in repair
 * mode nothing is acknowledged, so a full send buffer would stay full
 * (the caller makes room first). */
static int fill(int s, int queue, const uint8_t *buf, size_t n, char *why, size_t len)
{
	size_t off = 0, chunk = n;

	if (!n)
		return 0;
	if (set_int(s, TCP_REPAIR_QUEUE, queue, "TCP_REPAIR_QUEUE", why, len))
		return -EINVAL;
	while (off < n) {
		ssize_t k = send(s, buf + off, chunk < n - off ? chunk : n - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k <= 0 && chunk > 1024) {
			chunk /= 2;
			continue;
		}
		if (k <= 0)
			return rfail(why, len, "putting queued bytes back");
		off += (size_t)k;
	}
	return 0;
}

int sk_tcp_opts(const SkTcp *t, struct tcp_repair_opt o[4])
{
	int n = 0;

	if (t->opt_mask & TCPI_OPT_SACK)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERM, 0 };
	if (t->opt_mask & TCPI_OPT_WSCALE)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_WINDOW, t->snd_wscale | t->rcv_wscale << 16 };
	if (t->opt_mask & TCPI_OPT_TIMESTAMPS)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	o[n++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, t->mss_clamp };
	return n;
}

static int repair_options(int s, const SkTcp *t, char *why, size_t len)
{
	struct tcp_repair_opt o[4];
	int n = sk_tcp_opts(t, o);

	if (set(s, TCP_REPAIR_OPTIONS, o, (socklen_t)(n * sizeof(o[0])), "TCP_REPAIR_OPTIONS", why,
		len))
		return -EINVAL;
	if (t->has_timestamp &&
	    set_int(s, TCP_TIMESTAMP, (int)t->timestamp, "TCP_TIMESTAMP", why, len))
		return -EINVAL;
	return 0;
}

bool sk_tcp_window(const SocketInfo *si, const SkTcp *t, struct tcp_repair_window *w)
{
	*w = (struct tcp_repair_window){ t->snd_wl1, t->snd_wnd, t->max_window, t->rcv_wnd,
					 t->rcv_wup };
	if (!t->has_rcv_wup)
		return false;
	/* the peer's FIN is sent again in the late step: it must fit the window */
	if (F(si->state) & FIN_RECEIVED) {
		w->rcv_wup--;
		w->rcv_wnd++;
	}
	return true;
}

static int window(int s, const SocketInfo *si, const SkTcp *t, char *why, size_t len)
{
	struct tcp_repair_window w;

	if (!sk_tcp_window(si, t, &w))
		return 0;
	return set(s, TCP_REPAIR_WINDOW, &w, sizeof(w), "TCP_REPAIR_WINDOW", why, len);
}

bool sk_tcp_has_fin(const SocketInfo *si)
{
	return F(si->state) & (FIN_SENT | FIN_RECEIVED);
}

/* Where each queue starts, FINs not counted. */
void sk_tcp_seqs(const SocketInfo *si, const SkTcp *t, uint32_t *rcv, uint32_t *snd)
{
	*rcv = t->inq_seq - (F(si->state) & FIN_RECEIVED ? 1 : 0) - (uint32_t)t->inq.len;
	*snd = t->outq_seq - (F(si->state) & FIN_SENT ? 1 : 0) - (uint32_t)t->outq.len;
}

static int connect_repaired(int s, const SocketInfo *si, char *why, size_t len)
{
	struct sockaddr_storage l, p;
	socklen_t ll, pl;

	if (sk_inet_addr((int)si->family, si->local, &l, &ll) ||
	    sk_inet_addr((int)si->family, si->peer, &p, &pl))
		return fd_rst_fail(why, len, EINVAL, "bad addresses in the image");
	if (bind(s, (struct sockaddr *)&l, ll))
		return fd_rst_fail(why, len, errno, "cannot bind to %s port %u: %s", si->local->ip,
				   si->local->port, strerror(errno));
	if (connect(s, (struct sockaddr *)&p, pl))
		return fd_rst_fail(why, len, errno, "cannot connect (repair) to %s port %u: %s",
				   si->peer->ip, si->peer->port, strerror(errno));
	return 0;
}

/* The connection of si on s (options of the bind step set), one call at a time. */
int sk_tcp_repair(int s, const SocketInfo *si, char *why, size_t len)
{
	const SkTcp *t = si->tcp;
	uint32_t rcv, snd;

	if (set_int(s, TCP_REPAIR, 1, "TCP_REPAIR (needs CAP_NET_ADMIN)", why, len))
		return -EINVAL;
	sk_tcp_seqs(si, t, &rcv, &snd);
	/* the bytes sent and not yet acknowledged may be more than a new
	 * socket's buffer holds (the dumped one had grown): room for them
	 * until the late step puts the program's size back */
	if (t->outq.len > t->unsent)
		sndbuf_fit(s, t->outq.len - t->unsent);
	if (set_int(s, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE", why, len) ||
	    set_int(s, TCP_QUEUE_SEQ, (int)rcv, "TCP_QUEUE_SEQ", why, len) ||
	    set_int(s, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE", why, len) ||
	    set_int(s, TCP_QUEUE_SEQ, (int)snd, "TCP_QUEUE_SEQ", why, len) ||
	    connect_repaired(s, si, why, len) || repair_options(s, t, why, len) ||
	    fill(s, TCP_RECV_QUEUE, t->inq.data, t->inq.len, why, len) ||
	    fill(s, TCP_SEND_QUEUE, t->outq.data, t->outq.len - t->unsent, why, len) ||
	    window(s, si, t, why, len))
		return -EINVAL;
	return 0;
}

/* A TCP socket for e, its bind-step options set, registered: the fd, or
 * -errno with why filled. */
int sk_tcp_make(struct fd_rst *r, const FdEntry *e, bool opts, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	int s = socket((int)si->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);

	if (s < 0)
		return rfail(why, len, "socket");
	if ((s = sk_tcp_adopt(r, e, s, true, -1)) < 0)
		return s;
	/* options first: SO_REUSEADDR would undo the reuse repair mode forces
	 * (the port is the listener's too) */
	if (opts && sk_opts_restore(s, si, SK_OPTS_BIND, why, len))
		return -EINVAL;
	return s;
}

int sk_tcp_adopt(struct fd_rst *r, const FdEntry *e, int s, bool in_repair, int table_fd)
{
	struct sk_obj *o = sk_obj_add(r, e->sock->ino, e, s);

	if (!o) {
		close(s);
		if (table_fd >= 0)
			close(table_fd);
		return -ENOMEM;
	}
	o->in_repair = in_repair;
	o->table_fd = table_fd;
	return s;
}

/* ---- late ---- */

/* The program's size if it set one; else the kernel's tuning again. */
static void sndbuf_back(int s, const SocketInfo *si)
{
	const SkOpts *o = si->opts;
	int lock = o && o->has_buf_lock ? (int)o->buf_lock : 0, v;

	if (o && o->has_sndbuf) {
		v = o->sndbuf / 2;
		setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
	}
	setsockopt(s, SOL_SOCKET, SO_BUF_LOCK, &lock, sizeof(lock));
}

static int ip_bytes(int family, const char *ip, uint8_t *out)
{
	return inet_pton(family, ip, out) == 1 ? 0 : -EINVAL;
}

/* A segment from the peer to us. */
static int from_peer(const SocketInfo *si, uint32_t seq, uint32_t ack, uint8_t flags,
		     char *why, size_t len)
{
	uint8_t src[16], dst[16];
	int fam = (int)si->family, r;

	if (ip_bytes(fam, si->peer->ip, src) || ip_bytes(fam, si->local->ip, dst))
		return fd_rst_fail(why, len, EINVAL, "bad addresses in the image");
	r = sk_raw_tcp(fam, src, (uint16_t)si->peer->port, dst, (uint16_t)si->local->port, seq,
		       ack, flags, 0xffff);
	return r ? fd_rst_fail(why, len, -r, "cannot send the peer's FIN again: %s",
			       strerror(-r)) : 0;
}

/* Our FIN, into the send queue as sent (not yet acknowledged). */
static int our_fin(int s, char *why, size_t len)
{
	if (set_int(s, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE", why, len))
		return -EINVAL;
	if (shutdown(s, SHUT_WR))
		return rfail(why, len, "shutdown");
	return set_int(s, TCP_REPAIR_QUEUE, TCP_NO_QUEUE, "TCP_REPAIR_QUEUE", why, len);
}

static int fins(int s, const SocketInfo *si, char *why, size_t len)
{
	const SkTcp *t = si->tcp;
	unsigned int st = F(si->state);
	uint32_t una = t->outq_seq - (st & FIN_SENT ? 1 : 0) - (uint32_t)t->outq.len;
	int r = 0;

	if (st & FIN_SENT_FIRST)
		r = our_fin(s, why, len);
	if (!r && (st & FIN_RECEIVED))
		r = from_peer(si, t->inq_seq - 1, una, TH_FIN | TH_ACK, why, len);
	if (!r && si->state == TCP_LAST_ACK)
		r = our_fin(s, why, len);
	if (!r && (st & FIN_ACKED))
		r = from_peer(si, t->inq_seq, t->outq_seq, TH_ACK, why, len);
	return r;
}

/* TCP_REPAIR's value to leave repair mode. Off (0) sends the peer a
 * window probe; a connection to outside the tree is still behind the
 * network lock the dump left (it goes after the late step), which would
 * drop the probe: building and routing it is a few microseconds a
 * connection for nothing, so it leaves without (the peer resends what
 * the lock dropped, as it would have anyway). */
int sk_tcp_repair_off(const struct fd_rst *r, const SocketInfo *si)
{
	bool locked = si->tcp && si->tcp->lock && *si->tcp->lock && r->opts.tcp_established &&
		      !sk_tcp_in_tree(r, si);

	return locked ? TCP_REPAIR_OFF_NO_WP : TCP_REPAIR_OFF;
}

int sk_tcp_late_one(struct fd_rst *r, struct sk_obj *o, char *why, size_t len)
{
	const SocketInfo *si = o->e->sock;
	const SkTcp *t = si->tcp;
	int reuse = si->opts && si->opts->has_reuseaddr ? (int)si->opts->reuseaddr : 0;
	size_t off;

	if (!o->in_repair)
		return 0;
	if ((F(si->state) & (FIN_SENT | FIN_RECEIVED)) && fins(o->fd, si, why, len))
		return -EINVAL;
	if (set_int(o->fd, TCP_REPAIR, sk_tcp_repair_off(r, si), "TCP_REPAIR off", why, len))
		return -EINVAL;
	o->in_repair = false;
	/* repair mode off drops SO_REUSEADDR: the program's value again */
	if (reuse)
		setsockopt(o->fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
	off = t->outq.len - t->unsent;
	if (t->unsent)
		sndbuf_fit(o->fd, t->unsent);
	while (off < t->outq.len) {
		ssize_t k = send(o->fd, t->outq.data + off, t->outq.len - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k <= 0)
			return rfail(why, len, "writing the bytes never sent");
		off += (size_t)k;
	}
	if (t->outq.len)
		sndbuf_back(o->fd, si);
	return 0;
}

/* ---- --tcp-close ---- */

int sk_tcp_closed(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	int fam = (int)si->family;
	struct sockaddr_storage a = { .ss_family = (sa_family_t)fam };
	socklen_t al = fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int hole = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0), s = -1, rc = -EINVAL;

	if (fam == AF_INET6)
		((struct sockaddr_in6 *)&a)->sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* a port bound by nobody listening: what reaches it is answered by a reset */
	if (hole < 0 || bind(hole, (struct sockaddr *)&a, al) ||
	    getsockname(hole, (struct sockaddr *)&a, &al))
		goto out;
	s = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s < 0 || set_int(s, TCP_REPAIR, 1, "TCP_REPAIR", why, len) ||
	    connect(s, (struct sockaddr *)&a, al) ||
	    set_int(s, TCP_REPAIR, 0, "TCP_REPAIR off", why, len))
		goto out;
	rc = sk_obj_add(r, si->ino, e, s) ? 0 : -ENOMEM;
	if (!rc)
		s = -1;
out:
	if (rc == -EINVAL && !why[0])
		fd_rst_fail(why, len, errno, "cannot make a reset connection: %s", strerror(errno));
	if (s >= 0)
		close(s);
	if (hole >= 0)
		close(hole);
	return rc;
}
