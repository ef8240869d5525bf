/* TCP connections, restore: is the peer of a connection a socket of the
 * tree (both ends come back), or outside it (--tcp-established,
 * --tcp-close, the network lock)? */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"

bool sk_is_tcp_conn(const SocketInfo *si)
{
	return si->type == SOCK_STREAM && si->protocol == IPPROTO_TCP && si->has_state &&
	       si->state != SK_LISTEN && si->state != SK_CLOSE;
}

/* The tree's TCP connections by their two ends, for "is the peer in the
 * tree" in one lookup (a server with 10^3 clients asks it 10^3 times).
 * Built once per view of the tree: the entries do not change meanwhile. */
struct conn_key {
	uint8_t a[16], b[16];
	uint32_t ap, bp;
	uint64_t ino;
};

static struct {
	const struct fd_rst *r;
	struct conn_key *k;
	size_t n, cap;
} conns;

static int key_cmp(const void *x, const void *y)
{
	const struct conn_key *p = x, *q = y;
	int c = memcmp(p->a, q->a, 16);

	if (!c)
		c = memcmp(p->b, q->b, 16);
	if (!c)
		c = (p->ap > q->ap) - (p->ap < q->ap);
	return c ? c : (p->bp > q->bp) - (p->bp < q->bp);
}

static bool key_of(const SockAddr *l, const SockAddr *p, struct conn_key *k)
{
	if (!l || !p || !sk_ip16(l->ip, k->a) || !sk_ip16(p->ip, k->b))
		return false;
	k->ap = l->port;
	k->bp = p->port;
	return true;
}

static void conn_one(const FdEntry *e, void *arg)
{
	const SocketInfo *si = e->sock;
	struct conn_key k;

	(void)arg;
	if (!sk_is_tcp_conn(si) || !key_of(si->local, si->peer, &k))
		return;
	if (conns.n == conns.cap) {
		size_t cap = conns.cap ? conns.cap * 2 : 64;
		struct conn_key *n = realloc(conns.k, cap * sizeof(*n));

		if (!n)
			return;
		conns.k = n;
		conns.cap = cap;
	}
	k.ino = si->ino;
	conns.k[conns.n++] = k;
}

bool sk_tcp_in_tree(const struct fd_rst *r, const SocketInfo *si)
{
	struct conn_key want, *hit;

	if (conns.r != r) {
		conns.r = r;
		conns.n = 0;
		sk_for_each_entry(r, conn_one, NULL);
		qsort(conns.k, conns.n, sizeof(*conns.k), key_cmp);
	}
	/* the peer's entry has our ends the other way round */
	if (!key_of(si->peer, si->local, &want))
		return false;
	hit = bsearch(&want, conns.k, conns.n, sizeof(want), key_cmp);
	return hit && hit->ino != si->ino;
}

