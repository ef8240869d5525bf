/* TCP connections, restore, many at once: the calls of socket_tcp.c for a
 * connection with no bytes to put back (most of a server's idle clients),
 * queued as one chain per connection on the ring (socket_ring.c) and run
 * a few hundred connections per io_uring_enter: 10 calls a connection
 * become a tenth of one. Connections with queued bytes, and every
 * connection when there is no ring, go through socket_tcp.c one call at a
 * time, as do those whose first call the ring refuses (a kernel whose
 * sockets take no io_uring commands): nothing was set on them yet.
 *
 * The chain: repair mode on, each queue's sequence number, bind, connect
 * (in repair mode: nothing is sent), the options the peers agreed, the
 * timestamp clock, the windows. Late: repair mode off (and SO_REUSEADDR,
 * which it drops, back). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"

#define MAX_PEND 100		/* chains per run: CHAIN_MAX sqes each fit the ring */
#define MAX_OPTS SK_TCP_MAX_OPTS
#define CHAIN_MAX (12 + MAX_OPTS)

enum step { OPT, REPAIR, RQ_RECV, SEQ_RECV, RQ_SEND, SEQ_SEND, BIND, CONNECT, OPTIONS, STAMP, WINDOW,
	    OFF, REUSE, SOCKET, INSTALL };

static const char *const step_name[] = {
	"socket option", "TCP_REPAIR (needs CAP_NET_ADMIN)", "TCP_REPAIR_QUEUE", "TCP_QUEUE_SEQ",
	"TCP_REPAIR_QUEUE", "TCP_QUEUE_SEQ", "bind", "connect (repair)", "TCP_REPAIR_OPTIONS",
	"TCP_TIMESTAMP", "TCP_REPAIR_WINDOW", "TCP_REPAIR off", "SO_REUSEADDR", "socket",
	"install",
};

/* One connection's values, kept until the ring has run. */
struct sk_tcp_pend {
	const SocketInfo *si;
	int fd;
	struct sk_intopt opt_bind[MAX_OPTS];	/* first: set after, one would undo repair's */
	int nopt_bind;
	int v[OFF + 1];			/* REPAIR .. SEQ_SEND, OFF */
	int stamp;
	struct tcp_repair_opt opt[4];
	int nopt;
	struct tcp_repair_window w;
	struct sockaddr_storage l, p;
	socklen_t ll, pl;
	int installed;			/* direct: the socket's fd once installed, or -1 */
	int err;			/* first failed step's result, or 0 */
	enum step failed;
	int failed_opt;			/* which of opt_bind, for OPT */
};

static const int one = 1;

/* The ring, its requests and the chains' records are sized for `chains`:
 * each page of them is new to this process, and a page first touched costs
 * ~10 us here (a run's requests are allocated at its first run, and kept). */
bool sk_tcp_batch_open(struct sk_tcp_batch *b, size_t chains, bool direct)
{
	if (b->ring)
		return true;
	b->max = chains && chains < MAX_PEND ? chains : MAX_PEND;
	b->pend = calloc(b->max, sizeof(*b->pend));
	if (b->pend)
		b->ring = sk_ring_new((unsigned)(b->max * CHAIN_MAX), true);
	if (!b->ring) {
		free(b->pend);
		b->pend = NULL;
	}
	/* a slot a chain: one run's sockets at once */
	b->direct = b->ring && direct && sk_ring_slots(b->ring, (unsigned)b->max);
	return b->ring != NULL;
}

void sk_tcp_batch_close(struct sk_tcp_batch *b)
{
	sk_ring_free(b->ring);
	b->ring = NULL;
	free(b->pend);
	b->pend = NULL;
	b->n = 0;
	b->direct = false;
}

bool sk_tcp_batch_full(const struct sk_tcp_batch *b)
{
	return b->n == b->max || sk_ring_room(b->ring) < CHAIN_MAX;
}

static bool ring(struct sk_rst *s)
{
	if (!s->no_ring && !sk_tcp_batch_open(&s->batch, MAX_PEND, false))
		s->no_ring = true;
	return !s->no_ring;
}

static void done(uint64_t tag, int res, void *arg)
{
	struct sk_tcp_pend *p = &((struct sk_tcp_pend *)arg)[tag >> 16];

	if ((tag & 0xff) == INSTALL && res >= 0)
		p->installed = res;
	/* the steps after a failed one are cancelled: the first failure says */
	if (res < 0 && !p->err) {
		p->err = res;
		p->failed = (enum step)(tag & 0xff);
		p->failed_opt = (int)(tag >> 8 & 0xff);
	}
}

static int fail(const struct sk_tcp_pend *p, char *why, size_t len)
{
	const SocketInfo *si = p->si;

	if (p->failed == OPT)
		return fd_rst_fail(why, len, -p->err, "cannot set socket option %s: %s",
				   p->opt_bind[p->failed_opt].field, strerror(-p->err));
	return fd_rst_fail(why, len, -p->err, "TCP connection %s port %u to %s port %u: "
			   "TCP repair: %s: %s", si->local->ip, si->local->port, si->peer->ip,
			   si->peer->port, step_name[p->failed], strerror(-p->err));
}

int sk_tcp_batch_run(struct sk_tcp_batch *b)
{
	int r = b->n ? sk_ring_run(b->ring, done, b->pend) : 0;

	/* (a socket left in its slot, its chain cut short, is closed now) */
	if (b->n && b->direct && sk_ring_slots_clear(b->ring) && !r)
		r = -EIO;
	return r;
}

int sk_tcp_batch_result(const struct sk_tcp_batch *b, size_t i)
{
	const struct sk_tcp_pend *p = &b->pend[i];

	return p->err ? p->err : b->direct && p->installed < 0 ? -EIO : 0;
}

int sk_tcp_batch_fd(const struct sk_tcp_batch *b, size_t i)
{
	return b->pend[i].installed;
}

int sk_tcp_ring_run(struct fd_rst *r, char *why, size_t len)
{
	struct sk_rst *s = r->sk;
	size_t n;
	int rc;

	if (!s || !s->batch.n)
		return 0;
	n = s->batch.n;
	rc = sk_tcp_batch_run(&s->batch);
	s->batch.n = 0;
	if (rc)
		return fd_rst_fail(why, len, -rc, "io_uring_enter: %s", strerror(-rc));
	for (size_t i = 0; i < n; i++) {
		const struct sk_tcp_pend *p = &s->batch.pend[i];

		/* refused at once: nothing set, the calls one by one say why */
		if (p->err && p->failed == (p->nopt_bind ? OPT : REPAIR) && !p->failed_opt) {
			if ((rc = sk_opts_restore(p->fd, p->si, SK_OPTS_BIND, why, len)) ||
			    (rc = sk_tcp_repair(p->fd, p->si, why, len)))
				return rc;
			continue;
		}
		/* (the program's SO_REUSEADDR, as one call at a time does, is best effort) */
		if (p->err && p->failed != REUSE)
			return fail(p, why, len);
	}
	return 0;
}

/* Room for one more chain: the batch run first when it is full. */
static int room(struct fd_rst *r, char *why, size_t len)
{
	return sk_tcp_batch_full(&r->sk->batch) ? sk_tcp_ring_run(r, why, len) : 0;
}

/* One step of chain i; first: it starts the chain. */
static void sockopt(struct sk_ring *ring, const struct sk_tcp_pend *p, size_t i, enum step st,
		    int level, int name, const void *v, socklen_t l, bool first)
{
	sk_ring_setsockopt(ring, p->fd, level, name, v, l, (uint64_t)i << 16 | st, first);
}

/* Repair mode off (TCP_REPAIR off) and the program's SO_REUSEADDR back,
 * which repair mode off drops; first: a chain of their own. */
static void off_steps(struct sk_ring *ring, struct sk_tcp_pend *p, size_t i, int off, bool first)
{
	const SocketInfo *si = p->si;

	p->v[OFF] = off;
	sockopt(ring, p, i, OFF, SOL_TCP, TCP_REPAIR, &p->v[OFF], sizeof(int), first);
	if (si->opts && si->opts->has_reuseaddr && si->opts->reuseaddr)
		sockopt(ring, p, i, REUSE, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(int), false);
}

/* The chain of connection si on its new socket s, as chain b->n; s < 0
 * (b->direct): on a socket the chain makes in slot b->n, installed at its
 * end. */
int sk_tcp_batch_add(struct sk_tcp_batch *b, const SocketInfo *si, int s, int nopt,
		     const struct sk_intopt *opt, int off)
{
	struct sk_tcp_pend *p = &b->pend[b->n];
	struct sk_ring *ring = b->ring;
	size_t i = b->n;
	bool made = s < 0;
	uint32_t rcv, snd;

	if (made && !b->direct)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->si = si;
	p->installed = -1;
	p->fd = made ? SK_RING_SLOT(i) : s;
	s = p->fd;
	/* SO_REUSEADDR is left out: repair mode on forces reuse whatever it
	 * was, and off clears it, so the program's value is set at the end
	 * (off_steps); set first, it was an operation a connection for nothing */
	for (int k = 0; k < nopt; k++)
		if (opt[k].level != SOL_SOCKET || opt[k].name != SO_REUSEADDR)
			p->opt_bind[p->nopt_bind++] = opt[k];
	if (sk_inet_addr((int)si->family, si->local, &p->l, &p->ll) ||
	    sk_inet_addr((int)si->family, si->peer, &p->p, &p->pl))
		return -EINVAL;
	sk_tcp_seqs(si, si->tcp, &rcv, &snd);
	if (made)
		sk_ring_socket(ring, (int)si->family, SOCK_STREAM, IPPROTO_TCP, (unsigned)i,
			       (uint64_t)i << 16 | SOCKET);
	for (int k = 0; k < p->nopt_bind; k++)
		sk_ring_setsockopt(ring, s, p->opt_bind[k].level, p->opt_bind[k].name,
				   &p->opt_bind[k].val, sizeof(int), (uint64_t)i << 16 | k << 8 | OPT,
				   k == 0 && !made);
	p->v[REPAIR] = 1;
	p->v[RQ_RECV] = TCP_RECV_QUEUE;
	p->v[SEQ_RECV] = (int)rcv;
	p->v[RQ_SEND] = TCP_SEND_QUEUE;
	p->v[SEQ_SEND] = (int)snd;
	p->nopt = sk_tcp_opts(si->tcp, p->opt);
	p->stamp = (int)si->tcp->timestamp;
	sockopt(ring, p, i, REPAIR, SOL_TCP, TCP_REPAIR, &p->v[REPAIR], sizeof(int),
		!p->nopt_bind && !made);
	sockopt(ring, p, i, RQ_RECV, SOL_TCP, TCP_REPAIR_QUEUE, &p->v[RQ_RECV], sizeof(int), false);
	sockopt(ring, p, i, SEQ_RECV, SOL_TCP, TCP_QUEUE_SEQ, &p->v[SEQ_RECV], sizeof(int), false);
	sockopt(ring, p, i, RQ_SEND, SOL_TCP, TCP_REPAIR_QUEUE, &p->v[RQ_SEND], sizeof(int), false);
	sockopt(ring, p, i, SEQ_SEND, SOL_TCP, TCP_QUEUE_SEQ, &p->v[SEQ_SEND], sizeof(int), false);
	sk_ring_addr(ring, s, true, (struct sockaddr *)&p->l, p->ll, i << 16 | BIND, false);
	sk_ring_addr(ring, s, false, (struct sockaddr *)&p->p, p->pl, i << 16 | CONNECT, false);
	sockopt(ring, p, i, OPTIONS, SOL_TCP, TCP_REPAIR_OPTIONS, p->opt,
		(socklen_t)(p->nopt * sizeof(p->opt[0])), false);
	if (si->tcp->has_timestamp)
		sockopt(ring, p, i, STAMP, SOL_TCP, TCP_TIMESTAMP, &p->stamp, sizeof(int), false);
	if (sk_tcp_window(si, si->tcp, &p->w))
		sockopt(ring, p, i, WINDOW, SOL_TCP, TCP_REPAIR_WINDOW, &p->w, sizeof(p->w), false);
	if (off != SK_TCP_IN_REPAIR)
		off_steps(ring, p, i, off, false);
	if (made)
		sk_ring_install(ring, (unsigned)i, (uint64_t)i << 16 | INSTALL);
	b->n++;
	return 0;
}

static int ring_add(struct fd_rst *r, const SocketInfo *si, int s, int nopt,
		    const struct sk_intopt *opt, char *why, size_t len)
{
	int rc = room(r, why, len);

	if (rc)
		return rc;
	if (sk_tcp_batch_add(&r->sk->batch, si, s, nopt, opt, SK_TCP_IN_REPAIR))
		return fd_rst_fail(why, len, EINVAL, "bad addresses in the image");
	return 0;
}

/* ---- late ---- */

/* The late step's chain of a connection: out of repair mode (off:
 * sk_tcp_repair_off's value) and the program's SO_REUSEADDR back. */
static void add_off(struct sk_tcp_batch *b, const SocketInfo *si, int fd, int off)
{
	struct sk_tcp_pend *p = &b->pend[b->n];
	size_t i = b->n++;

	memset(p, 0, sizeof(*p));
	p->si = si;
	p->fd = fd;
	off_steps(b->ring, p, i, off, true);
}

static int ring_late(struct fd_rst *r, struct sk_obj *o, char *why, size_t len)
{
	const SocketInfo *si = o->e->sock;
	int rc;

	if (!ring(r->sk))
		return 1;
	if ((rc = room(r, why, len)))
		return rc;
	add_off(&r->sk->batch, si, o->fd, sk_tcp_repair_off(r, si));
	o->in_repair = false;
	return 0;
}

int sk_tcp_restore(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SkTcp *t = e->sock->tcp;
	struct sk_intopt opt[MAX_OPTS];
	/* no bytes to put back (most connections) and plain options: batched */
	bool batch = !t->inq.len && !t->outq.len && sk_rst_get(r) && ring(r->sk);
	int nopt = batch ? sk_opts_plain(e->sock, SK_OPTS_BIND, opt, MAX_OPTS) : -1;
	int s = sk_tcp_make(r, e, nopt < 0, why, len);

	if (s < 0)
		return s;
	if (nopt >= 0)
		return ring_add(r, e->sock, s, nopt, opt, why, len);
	return sk_tcp_repair(s, e->sock, why, len);
}

int sk_tcp_late(struct fd_rst *r, struct sk_obj *o, char *why, size_t len)
{
	const SocketInfo *si = o->e->sock;
	int rc;

	/* nothing to send and no FIN: out of repair in a batch */
	if (o->in_repair && !sk_tcp_has_fin(si) && !si->tcp->outq.len &&
	    (rc = ring_late(r, o, why, len)) <= 0)
		return rc;
	return sk_tcp_late_one(r, o, why, len);
}

void sk_tcp_ring_free(struct sk_rst *s)
{
	sk_tcp_batch_close(&s->batch);
}
