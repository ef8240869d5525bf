/* Sockets, dump: a process's socket tables (sk_cache: by inode, what the
 * kernel's sock_diag lists of each socket of its namespace,
 * socket_diag.c), their TCP part read by the BPF iterator (sock_tcp in
 * bpf/sock_fds.bpf.c) instead when it can say it.
 *
 * sock_diag lists every TCP socket of the namespace, ~3.5 us each in a
 * guest: 7 ms for a server with a thousand connections whose clients run
 * beside it, on the thread that reads the tables while the memory is
 * dumped, and that CPU is taken from the dump's own thread on a machine of
 * two. The dump looks up only the process's own sockets (by inode); the
 * iterator reads those from its fd table, a few hundred nanoseconds each.
 *
 * Its records hold what inet_diag fills its message with. They stand for
 * the table only when every TCP socket of the process listens or is
 * established and is in the process's namespace: for those the kernel's
 * fields are read as inet_diag reads them (the test: check mode on a
 * server whose connections carry the options the table shows). A socket
 * in any other state (one bound but idle is listed or not by the kernel's
 * version, one closing by its timers) has the table walked as before, and
 * so has a TCP socket the walk meets that is not in the process's fd table
 * (one in flight in a UNIX queue: sk_find_tcp_walked).
 * CRIU_LITE_TCP_BPF=check walks it too and says each difference. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/types.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/fd/socket.h"
#include "images/log.h"

#include "common/fd/bpf/sock_fds.h"

static bool listed_as_is(const struct sock_tcp_rec *b)
{
	return (b->flags & STT_OWN_NS) && (b->state == SK_LISTEN || b->state == SK_ESTABLISHED);
}

static void to_rec(const struct sock_tcp_rec *b, struct sk_rec *r)
{
	struct sk_diag_opts *o = &r->dopt;

	r->ino = b->ino;
	r->family = b->family;
	r->type = SOCK_STREAM;
	r->protocol = IPPROTO_TCP;
	r->state = b->state;
	r->has_queues = true;
	r->rqueue = b->rqueue;
	r->wqueue = b->wqueue;
	r->shutdown = b->shutdown;
	memcpy(r->lip, b->lip, sizeof(r->lip));
	memcpy(r->pip, b->pip, sizeof(r->pip));
	r->lport = b->lport;
	r->pport = b->pport;
	/* what inet_diag adds for the extensions sk_cache_load asks for (a
	 * traffic class for AF_INET6 sockets only), and the mark, which it
	 * gives root */
	o->bound_if = (uint32_t)b->bound_if;
	o->has_sockopt = o->has_tos = o->has_mark = true;
	o->recverr = b->flags & STT_RECVERR;
	o->freebind = b->flags & STT_FREEBIND;
	o->transparent = b->flags & STT_TRANSPARENT;
	o->tos = b->tos;
	o->has_tclass = b->family == AF_INET6;
	o->tclass = b->tclass;
	o->mark = b->mark;
	if (b->flags & STT_CONG) {
		memcpy(o->cong, b->cong, sizeof(o->cong));
		o->cong[sizeof(o->cong) - 1] = '\0';
	}
}

static int by_ino(const void *a, const void *b)
{
	const struct sock_tcp_rec *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* The TCP part of pid's tables from the BPF iterator (its own TCP
 * sockets), added to c: how many; -EAGAIN when the namespace's table must
 * be walked instead, nothing added; -ENOMEM. */
static int tcp_from_bpf(pid_t pid, struct sk_cache *c)
{
	struct sock_tcp_rec *v = NULL;
	size_t n = 0, from = c->nr, i;

	if (sk_bpf_tcp_sockets(pid, &v, &n) < 0)
		return -EAGAIN;
	for (i = 0; i < n && listed_as_is(&v[i]); i++)
		;
	if (i < n) {
		pr_debug("pid %d: TCP socket %llu in state %u: the TCP table is walked", pid,
			 (unsigned long long)v[i].ino, v[i].state);
		free(v);
		return -EAGAIN;
	}
	/* (a socket at two fds is one record) */
	qsort(v, n, sizeof(*v), by_ino);
	for (i = 0; i < n; i++) {
		struct sk_rec *r;

		if (i && v[i].ino == v[i - 1].ino)
			continue;
		if (!(r = sk_rec_new(c))) {
			free(v);
			return -ENOMEM;
		}
		to_rec(&v[i], r);
	}
	free(v);
	pr_debug("pid %d: %zu TCP sockets listed by a BPF iterator", pid, c->nr - from);
	return (int)(c->nr - from);
}

static void differ(uint64_t ino, const char *what, const char *bpf, const char *walk)
{
	pr_err("TCP socket %llu: %s is %s by the BPF iterator, %s by sock_diag",
	       (unsigned long long)ino, what, bpf, walk);
}

static void differ_u(uint64_t ino, const char *what, unsigned long long bpf,
		     unsigned long long walk)
{
	char a[32], b[32];

	if (bpf == walk)
		return;
	snprintf(a, sizeof(a), "%llu", bpf);
	snprintf(b, sizeof(b), "%llu", walk);
	differ(ino, what, a, b);
}

static void differ_addr(const struct sk_rec *b, const struct sk_rec *w, const char *what,
			const uint32_t *bip, uint16_t bport, const uint32_t *wip, uint16_t wport)
{
	char x[INET6_ADDRSTRLEN + 8], y[INET6_ADDRSTRLEN + 8];

	if (!memcmp(bip, wip, 16) && bport == wport)
		return;
	if (!inet_ntop((int)b->family, bip, x, sizeof(x)))
		snprintf(x, sizeof(x), "?");
	if (!inet_ntop((int)w->family, wip, y, sizeof(y)))
		snprintf(y, sizeof(y), "?");
	snprintf(x + strlen(x), 8, " %u", bport);
	snprintf(y + strlen(y), 8, " %u", wport);
	differ(b->ino, what, x, y);
}

/* CHECK: each record of by_bpf against c's walked one, a line for each
 * difference. */
static void check(const struct sk_cache *c, const struct sk_cache *by_bpf)
{
	for (size_t i = 0; i < by_bpf->nr; i++) {
		const struct sk_rec *b = &by_bpf->recs[i], *w = sk_find(c, b->ino);
		const struct sk_diag_opts *x = &b->dopt, *y;

		if (!w) {
			differ(b->ino, "the entry", "there", "not listed");
			continue;
		}
		y = &w->dopt;
		differ_u(b->ino, "family", b->family, w->family);
		differ_u(b->ino, "state", b->state, w->state);
		/* (a peer's bytes may still arrive while the process is frozen) */
		differ_u(b->ino, "rqueue", b->rqueue, w->rqueue);
		differ_u(b->ino, "wqueue", b->wqueue, w->wqueue);
		differ_u(b->ino, "shutdown", b->shutdown, w->shutdown);
		differ_addr(b, w, "the local address", b->lip, b->lport, w->lip, w->lport);
		differ_addr(b, w, "the peer address", b->pip, b->pport, w->pip, w->pport);
		differ_u(b->ino, "the bound device", x->bound_if, y->bound_if);
		differ_u(b->ino, "IP_RECVERR", x->recverr, y->has_sockopt && y->recverr);
		differ_u(b->ino, "IP_FREEBIND", x->freebind, y->has_sockopt && y->freebind);
		differ_u(b->ino, "IP_TRANSPARENT", x->transparent, y->has_sockopt && y->transparent);
		differ_u(b->ino, "IP_TOS", x->tos, y->has_tos ? y->tos : 0);
		differ_u(b->ino, "IPV6_TCLASS given", x->has_tclass, y->has_tclass);
		differ_u(b->ino, "IPV6_TCLASS", x->tclass, y->tclass);
		differ_u(b->ino, "SO_MARK", x->mark, y->has_mark ? y->mark : 0);
		if (strcmp(x->cong, y->cong))
			differ(b->ino, "TCP_CONGESTION", x->cong, y->cong);
	}
}

static long us_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000L + (t.tv_nsec - t0->tv_nsec) / 1000;
}

int sk_cache_load(struct fd_dump *ctx)
{
	bool both = sk_bpf_mode() == SK_BPF_CHECK;
	struct sk_cache *by_bpf = NULL;
	struct timespec t0;
	int r, tab;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!(ctx->sk = calloc(1, sizeof(*ctx->sk))) ||
	    (both && !(by_bpf = calloc(1, sizeof(*by_bpf)))))
		return -ENOMEM;
	if ((tab = tcp_from_bpf(ctx->pid, both ? by_bpf : ctx->sk)) == -ENOMEM) {
		sk_cache_free(by_bpf);
		return tab;
	}
	r = sk_diag_load(ctx->pid, ctx->sk, tab >= 0 && !both ? SK_TABLES_NO_TCP : SK_TABLES_ALL);
	if (r < 0 && r != -EIO) {
		sk_cache_free(by_bpf);
		return r;
	}
	ctx->sk->tcp_by_bpf = tab >= 0 && !both;
	if (both && tab >= 0)
		check(ctx->sk, by_bpf);
	sk_cache_free(by_bpf);
	pr_debug("sock_diag: %zu sockets in %ld us%s", ctx->sk->nr, us_since(&t0),
		 ctx->sk->tcp_by_bpf ? " (TCP's by BPF)" : "");
	return 0;
}

int fd_dump_sk_load(pid_t pid, struct sk_cache **out)
{
	struct fd_dump c = { .pid = pid, .pidfd = -1 };
	int r = sk_cache_load(&c);

	if (r < 0) {
		sk_cache_free(c.sk);
		c.sk = NULL;
	}
	*out = c.sk;
	return r;
}

void fd_dump_sk_free(struct sk_cache *sk)
{
	sk_cache_free(sk);
}
