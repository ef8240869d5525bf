/* Sockets: what the kernel's sock_diag tables say about them, matched by
 * inode (the fd link is "socket:[INO]").
 *
 * The tables (AF_UNIX; TCP, UDP and UDP-Lite over AF_INET and AF_INET6) are
 * dumped once per process dumped, at its first socket fd or ahead of it
 * (socket_tables.c, which may have the TCP part from BPF instead), on a
 * NETLINK_SOCK_DIAG socket. sock_diag answers for the network namespace the
 * netlink socket was created in, so when the target lives in another netns
 * we create it there (setns and back) and then query as usual.
 *
 * A netns where a server holds thousands of connections lists thousands of
 * sockets (its clients' too when they are local), so the walk is kept cheap:
 * each reply datagram is read once, into one buffer, and parsed where it
 * lies; TCP over both families is one walk of the kernel's hash table (the
 * old TCPDIAG_GETSOCK request dumps AF_UNSPEC, where SOCK_DIAG_BY_FAMILY
 * walks it once per family); TIME_WAIT entries, which no fd holds, are not
 * asked for.
 *
 * For sockets no table lists (an inet socket neither bound nor connected,
 * netlink, packet...) family, type and protocol are asked of the socket
 * itself, borrowed with pidfd_getfd. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "common/fd/socket_diag_nl.h"
#include "common/procfs.h"
#include "images/log.h"

void sk_cache_free(struct sk_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nr; i++) {
		free(c->recs[i].icons);
		free(c->recs[i].name);
	}
	free(c->recs);
	free(c->bpf_fds);
	sk_cache_free(c->tcp_walked);
	free(c);
}

struct sk_rec *sk_rec_new(struct sk_cache *c)
{
	if (c->nr == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct sk_rec *r = realloc(c->recs, cap * sizeof(*r));

		if (!r) {
			c->err = -ENOMEM;
			return NULL;
		}
		c->recs = r;
		c->cap = cap;
	}
	memset(&c->recs[c->nr], 0, sizeof(c->recs[0]));
	return &c->recs[c->nr++];
}

/* A path comes NUL-terminated; an abstract name starts with a NUL and may
 * hold more: those are shown as '@', as ss does. */
static int unix_name(struct sk_rec *r, const char *p, size_t len)
{
	if (len && p[0])
		len = strnlen(p, len);
	if (!len)
		return 0;
	r->name = malloc(len + 1);
	if (!r->name)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		r->name[i] = p[i] ? p[i] : '@';
	r->name[len] = '\0';
	return 0;
}

static void sk_drop(struct sk_cache *c, size_t from)
{
	for (size_t i = from; i < c->nr; i++) {
		free(c->recs[i].icons);
		free(c->recs[i].name);
	}
	c->nr = from;
}

/* Every state but TIME_WAIT: those entries hold no file. */
#define DIAG_STATES (~(1u << TCP_TIME_WAIT))
/* Only the extensions inet_opts reads: INET_DIAG_INFO above all would have
 * the kernel fill a whole tcp_info per socket. */
#define DIAG_EXT (1 << (INET_DIAG_TOS - 1) | 1 << (INET_DIAG_TCLASS - 1) | \
		  1 << (INET_DIAG_CONG - 1))

static uint32_t get_u32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int unix_parse(struct sk_cache *c, const struct nlmsghdr *h)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct nlattr *tb[UNIX_DIAG_MAX + 1];
	const void *p;
	struct sk_rec *r;

	if (!sk_diag_attrs(h, sizeof(*m), tb, UNIX_DIAG_MAX)) {
		pr_err("malformed unix_diag message");
		return -EINVAL;
	}
	if (!(r = sk_rec_new(c)))
		return -ENOMEM;
	r->ino = m->udiag_ino;
	r->family = AF_UNIX;
	r->type = m->udiag_type;
	r->state = m->udiag_state;
	if ((p = sk_diag_attr(tb[UNIX_DIAG_NAME], 0)) && unix_name(r, p, sk_diag_attr_len(tb[UNIX_DIAG_NAME])))
		return -ENOMEM;
	/* A peer that was closed still shows, as inode 0. */
	if ((p = sk_diag_attr(tb[UNIX_DIAG_PEER], 4))) {
		r->has_peer = true;
		r->peer_ino = get_u32(p);
	}
	if ((p = sk_diag_attr(tb[UNIX_DIAG_VFS], sizeof(struct unix_diag_vfs)))) {
		struct unix_diag_vfs v;

		memcpy(&v, p, sizeof(v));
		r->vfs_ino = v.udiag_vfs_ino;
		r->vfs_dev = v.udiag_vfs_dev;
	}
	if ((p = sk_diag_attr(tb[UNIX_DIAG_RQLEN], sizeof(struct unix_diag_rqlen)))) {
		struct unix_diag_rqlen q;

		memcpy(&q, p, sizeof(q));
		r->has_queues = true;
		r->rqueue = q.udiag_rqueue;
		r->wqueue = q.udiag_wqueue;
	}
	if ((p = sk_diag_attr(tb[UNIX_DIAG_SHUTDOWN], 1)))
		r->shutdown = *(const uint8_t *)p;
	if ((p = sk_diag_attr(tb[UNIX_DIAG_ICONS], 4))) {
		size_t n = sk_diag_attr_len(tb[UNIX_DIAG_ICONS]) / 4;

		r->icons = malloc(n * sizeof(*r->icons));
		if (!r->icons)
			return -ENOMEM;
		memcpy(r->icons, p, n * 4);
		r->n_icons = n;
	}
	return 0;
}

/* What sock_diag says of the options, each the value getsockopt gives
 * (the kernel fills both from the same field): IP_TOS, IPV6_TCLASS, the
 * IP_RECVERR, IP(V6)_FREEBIND and IP(V6)_TRANSPARENT flags, SO_MARK (to
 * CAP_NET_ADMIN only), the congestion control, the bound device's index. */
static void inet_opts(struct sk_rec *r, const struct inet_diag_msg *m, const struct nlattr **tb)
{
	struct sk_diag_opts *o = &r->dopt;
	const void *p;

	o->bound_if = m->id.idiag_if;
	if ((p = sk_diag_attr(tb[INET_DIAG_SOCKOPT], sizeof(struct inet_diag_sockopt)))) {
		struct inet_diag_sockopt so;

		memcpy(&so, p, sizeof(so));
		o->has_sockopt = true;
		o->recverr = so.recverr;
		o->freebind = so.freebind;
		o->transparent = so.transparent;
	}
	if ((p = sk_diag_attr(tb[INET_DIAG_TOS], 1))) {
		o->has_tos = true;
		o->tos = *(const uint8_t *)p;
	}
	if ((p = sk_diag_attr(tb[INET_DIAG_TCLASS], 1))) {
		o->has_tclass = true;
		o->tclass = *(const uint8_t *)p;
	}
	if ((p = sk_diag_attr(tb[INET_DIAG_MARK], 4))) {
		o->has_mark = true;
		o->mark = get_u32(p);
	}
	/* a NUL-terminated name; no snprintf: this runs for every socket */
	if ((p = sk_diag_attr(tb[INET_DIAG_CONG], 2))) {
		size_t n = sk_diag_attr_len(tb[INET_DIAG_CONG]);

		n = strnlen(p, n < sizeof(o->cong) ? n : sizeof(o->cong) - 1);
		memcpy(o->cong, p, n);
		o->cong[n] = '\0';
	}
}

static int inet_parse(struct sk_cache *c, const struct nlmsghdr *h)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	const struct nlattr *tb[INET_DIAG_MAX + 1];
	const void *p;
	struct sk_rec *r;

	if (!sk_diag_attrs(h, sizeof(*m), tb, INET_DIAG_MAX)) {
		pr_err("malformed inet_diag message");
		return -EINVAL;
	}
	/* SYN_RECV entries (and TIME_WAIT ones) are not sockets anyone holds. */
	if (!m->idiag_inode)
		return 0;
	if (!(r = sk_rec_new(c)))
		return -ENOMEM;
	r->ino = m->idiag_inode;
	r->family = m->idiag_family;
	r->state = m->idiag_state;
	r->has_queues = true;
	r->rqueue = m->idiag_rqueue;
	r->wqueue = m->idiag_wqueue;
	memcpy(r->lip, m->id.idiag_src, sizeof(r->lip));
	memcpy(r->pip, m->id.idiag_dst, sizeof(r->pip));
	r->lport = ntohs(m->id.idiag_sport);
	r->pport = ntohs(m->id.idiag_dport);
	if ((p = sk_diag_attr(tb[INET_DIAG_SHUTDOWN], 1)))
		r->shutdown = *(const uint8_t *)p;
	inet_opts(r, m, tb);
	return 0;
}

/* One table. NLM_F_DUMP_INTR is retried, dropping what the interrupted
 * walk added. 0; -EIO: this table is missing (its sockets are dumped with
 * basics only); or a fatal error. */
static int diag_dump(struct sk_diag_sock *ds, struct sk_cache *c, uint16_t type,
		     const void *req, size_t len, sk_diag_parse_t parse, const char *what)
{
	for (int attempt = 0;; attempt++) {
		size_t before = c->nr;
		int r;

		if (ds->broken)
			return -EIO;
		r = sk_diag_walk(ds, c, type, req, len, parse);
		if (r <= 0)
			return r;
		sk_drop(c, before);
		if (r == EINTR && attempt < 3)
			continue;
		if (!ds->probing || ds->broken)
			pr_warn("sock_diag of %s sockets failed: %s; they are dumped without details",
				what, strerror(r));
		return -EIO;
	}
}

static int inet_dump(struct sk_diag_sock *ds, struct sk_cache *c, int af, int proto,
		     const char *what)
{
	struct inet_diag_req_v2 req = {
		.sdiag_family = af,
		.sdiag_protocol = proto,
		.idiag_states = DIAG_STATES,
		.idiag_ext = DIAG_EXT,
	};
	size_t before = c->nr;
	int r;

	if (af == AF_UNSPEC) {
		/* TCP of both families in one walk; a kernel that refuses the
		 * old request is asked per family */
		struct inet_diag_req old = {
			.idiag_ext = DIAG_EXT,
			.idiag_states = DIAG_STATES,
		};

		ds->probing = true;
		r = diag_dump(ds, c, TCPDIAG_GETSOCK, &old, sizeof(old), inet_parse, what);
		ds->probing = false;
	} else {
		r = diag_dump(ds, c, SOCK_DIAG_BY_FAMILY, &req, sizeof(req), inet_parse, what);
	}
	for (size_t j = before; j < c->nr; j++) {
		c->recs[j].protocol = proto;
		c->recs[j].type = proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
	}
	return r;
}

/* TCP over both families: one walk, or one per family on a kernel that
 * refuses the old request. */
static int tcp_tables(struct sk_diag_sock *ds, struct sk_cache *c)
{
	int r = inet_dump(ds, c, AF_UNSPEC, IPPROTO_TCP, "TCP");

	if (r == -EIO && !ds->broken) {
		r = inet_dump(ds, c, AF_INET, IPPROTO_TCP, "TCP");
		if (r != -EIO && r < 0)
			return r;
		r = inet_dump(ds, c, AF_INET6, IPPROTO_TCP, "TCPv6");
	}
	return r;
}

/* The tables; TCP's unless tcp is false (its part came from BPF). */
static int sk_load_tables(struct sk_diag_sock *ds, struct sk_cache *c, bool tcp)
{
	static const struct { int af, proto; const char *what; } inet[] = {
		{ AF_INET, IPPROTO_UDP, "UDP" }, { AF_INET6, IPPROTO_UDP, "UDPv6" },
		{ AF_INET, IPPROTO_UDPLITE, "UDP-Lite" }, { AF_INET6, IPPROTO_UDPLITE, "UDP-Litev6" },
	};
	struct unix_diag_req ureq = {
		.sdiag_family = AF_UNIX,
		.udiag_states = ~0u,
		.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS |
			      UDIAG_SHOW_RQLEN,
	};
	int r = diag_dump(ds, c, SOCK_DIAG_BY_FAMILY, &ureq, sizeof(ureq), unix_parse, "UNIX");

	if (r != -EIO && r < 0)
		return r;
	r = tcp ? tcp_tables(ds, c) : 0;
	for (size_t i = 0; i < sizeof(inet) / sizeof(inet[0]); i++) {
		if (r != -EIO && r < 0)
			return r;
		r = inet_dump(ds, c, inet[i].af, inet[i].proto, inet[i].what);
	}
	return r != -EIO && r < 0 ? r : 0;
}

int sk_netns_enter(pid_t pid, int *home)
{
	char path[64];
	struct stat mine, theirs;
	int target;

	*home = -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if (stat(path, &theirs) || stat("/proc/self/ns/net", &mine) ||
	    (theirs.st_ino == mine.st_ino && theirs.st_dev == mine.st_dev))
		return 0;
	*home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = procfs_open(pid, "ns/net", O_RDONLY | PROCFS_QUIET);
	if (target < 0)
		errno = -target;
	if (*home < 0 || target < 0 || setns(target, CLONE_NEWNET)) {
		int r = -errno;

		if (*home >= 0)
			close(*home);
		if (target >= 0)
			close(target);
		*home = -1;
		return r;
	}
	close(target);
	return 0;
}

int sk_netns_leave(int home)
{
	int r = 0;

	if (home < 0)
		return 0;
	if (setns(home, CLONE_NEWNET))
		r = pr_perror("cannot return to our network namespace");
	close(home);
	return r;
}

/* A NETLINK_SOCK_DIAG socket in the target's network namespace, or -EIO. */
static int sk_connect(pid_t pid)
{
	int home, fd, r = sk_netns_enter(pid, &home);

	if (r)
		pr_warn("cannot enter the network namespace of %d (%s): its sockets are looked up in ours",
			pid, strerror(-r));
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	r = fd < 0 ? -errno : 0;
	/* The netlink socket keeps the netns it was made in: go home at once. */
	if (sk_netns_leave(home)) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	if (fd < 0) {
		pr_warn("cannot open a sock_diag netlink socket: %s", strerror(-r));
		return -EIO;
	}
	return fd;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct sk_rec *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

int sk_diag_load(pid_t pid, struct sk_cache *c, enum sk_tables which)
{
	struct sk_diag_sock ds = { .fd = -1 };
	int r;

	if (!(ds.buf = malloc(SK_DIAG_BUF_SIZE)))
		return -ENOMEM;
	r = ds.fd = sk_connect(pid);
	if (ds.fd >= 0)
		r = which == SK_TABLES_TCP ? tcp_tables(&ds, c) :
		    sk_load_tables(&ds, c, which == SK_TABLES_ALL);
	if (ds.fd >= 0)
		close(ds.fd);
	free(ds.buf);
	qsort(c->recs, c->nr, sizeof(struct sk_rec), rec_cmp);
	return r;
}

const struct sk_rec *sk_find_tcp_walked(struct fd_dump *ctx, uint64_t ino)
{
	if (!ctx->sk || !ctx->sk->tcp_by_bpf)
		return NULL;
	if (!ctx->sk->tcp_walked) {
		if (!(ctx->sk->tcp_walked = calloc(1, sizeof(struct sk_cache))))
			return NULL;
		/* (what it cannot list, the walk reads of the socket) */
		sk_diag_load(ctx->pid, ctx->sk->tcp_walked, SK_TABLES_TCP);
		pr_debug("sock_diag: a TCP socket outside the BPF table: %zu TCP sockets walked",
			 ctx->sk->tcp_walked->nr);
	}
	return sk_find(ctx->sk->tcp_walked, ino);
}

const struct sk_rec *sk_find(const struct sk_cache *c, uint64_t ino)
{
	struct sk_rec key = { .ino = ino };

	if (!c || !c->nr)
		return NULL;
	return bsearch(&key, c->recs, c->nr, sizeof(key), rec_cmp);
}


const struct sk_rec *sk_find_listener_of(const struct sk_cache *c, uint64_t ino)
{
	for (size_t i = 0; c && i < c->nr; i++)
		for (size_t k = 0; k < c->recs[i].n_icons; k++)
			if (c->recs[i].icons[k] == ino)
				return &c->recs[i];
	return NULL;
}
