/* Sockets: what the kernel's sock_diag tables say about them, matched by
 * inode (the fd link is "socket:[INO]").
 *
 * The tables (AF_UNIX; TCP and UDP over AF_INET and AF_INET6) are dumped
 * once per process dumped, at its first socket fd, through libnl on a
 * NETLINK_SOCK_DIAG socket. sock_diag answers for the network namespace the
 * netlink socket was created in, so when the target lives in another netns
 * we create it there (setns and back) and then query as usual.
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
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
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
	free(c);
}

static struct sk_rec *sk_new(struct sk_cache *c)
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

static int unix_parse(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct unix_diag_msg *m = nlmsg_data(nlh);
	struct nlattr *tb[UNIX_DIAG_MAX + 1];
	struct sk_cache *c = arg;
	struct sk_rec *r;

	if (nlmsg_parse(nlh, sizeof(*m), tb, UNIX_DIAG_MAX, NULL) < 0) {
		pr_err("malformed unix_diag message");
		c->err = -EINVAL;
		return NL_STOP;
	}
	if (!(r = sk_new(c)))
		return NL_STOP;
	r->ino = m->udiag_ino;
	r->family = AF_UNIX;
	r->type = m->udiag_type;
	r->state = m->udiag_state;
	if (tb[UNIX_DIAG_NAME] &&
	    unix_name(r, nla_data(tb[UNIX_DIAG_NAME]), nla_len(tb[UNIX_DIAG_NAME]))) {
		c->err = -ENOMEM;
		return NL_STOP;
	}
	/* A peer that was closed still shows, as inode 0. */
	if (tb[UNIX_DIAG_PEER] && nla_len(tb[UNIX_DIAG_PEER]) >= 4) {
		r->has_peer = true;
		r->peer_ino = nla_get_u32(tb[UNIX_DIAG_PEER]);
	}
	if (tb[UNIX_DIAG_VFS] && nla_len(tb[UNIX_DIAG_VFS]) >= (int)sizeof(struct unix_diag_vfs)) {
		struct unix_diag_vfs *v = nla_data(tb[UNIX_DIAG_VFS]);

		r->vfs_ino = v->udiag_vfs_ino;
		r->vfs_dev = v->udiag_vfs_dev;
	}
	if (tb[UNIX_DIAG_RQLEN] && nla_len(tb[UNIX_DIAG_RQLEN]) >= (int)sizeof(struct unix_diag_rqlen)) {
		struct unix_diag_rqlen *q = nla_data(tb[UNIX_DIAG_RQLEN]);

		r->has_queues = true;
		r->rqueue = q->udiag_rqueue;
		r->wqueue = q->udiag_wqueue;
	}
	if (tb[UNIX_DIAG_SHUTDOWN] && nla_len(tb[UNIX_DIAG_SHUTDOWN]) >= 1)
		r->shutdown = nla_get_u8(tb[UNIX_DIAG_SHUTDOWN]);
	if (tb[UNIX_DIAG_ICONS] && nla_len(tb[UNIX_DIAG_ICONS]) >= 4) {
		size_t n = nla_len(tb[UNIX_DIAG_ICONS]) / 4;

		r->icons = malloc(n * sizeof(*r->icons));
		if (!r->icons) {
			c->err = -ENOMEM;
			return NL_STOP;
		}
		memcpy(r->icons, nla_data(tb[UNIX_DIAG_ICONS]), n * 4);
		r->n_icons = n;
	}
	return NL_OK;
}

/* What sock_diag says of the options, each the value getsockopt gives
 * (the kernel fills both from the same field): IP_TOS, IPV6_TCLASS, the
 * IP_RECVERR, IP(V6)_FREEBIND and IP(V6)_TRANSPARENT flags, SO_MARK (to
 * CAP_NET_ADMIN only), the congestion control, the bound device's index. */
static void inet_opts(struct sk_rec *r, const struct inet_diag_msg *m, struct nlattr **tb)
{
	struct sk_diag_opts *o = &r->dopt;

	o->bound_if = m->id.idiag_if;
	if (tb[INET_DIAG_SOCKOPT] &&
	    nla_len(tb[INET_DIAG_SOCKOPT]) >= (int)sizeof(struct inet_diag_sockopt)) {
		const struct inet_diag_sockopt *so = nla_data(tb[INET_DIAG_SOCKOPT]);

		o->has_sockopt = true;
		o->recverr = so->recverr;
		o->freebind = so->freebind;
		o->transparent = so->transparent;
	}
	if (tb[INET_DIAG_TOS] && nla_len(tb[INET_DIAG_TOS]) >= 1) {
		o->has_tos = true;
		o->tos = nla_get_u8(tb[INET_DIAG_TOS]);
	}
	if (tb[INET_DIAG_TCLASS] && nla_len(tb[INET_DIAG_TCLASS]) >= 1) {
		o->has_tclass = true;
		o->tclass = nla_get_u8(tb[INET_DIAG_TCLASS]);
	}
	if (tb[INET_DIAG_MARK] && nla_len(tb[INET_DIAG_MARK]) >= 4) {
		o->has_mark = true;
		o->mark = nla_get_u32(tb[INET_DIAG_MARK]);
	}
	if (tb[INET_DIAG_CONG] && nla_len(tb[INET_DIAG_CONG]) > 1)
		snprintf(o->cong, sizeof(o->cong), "%.*s", nla_len(tb[INET_DIAG_CONG]),
			 (const char *)nla_data(tb[INET_DIAG_CONG]));
}

static int inet_parse(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct inet_diag_msg *m = nlmsg_data(nlh);
	struct nlattr *tb[INET_DIAG_MAX + 1];
	struct sk_cache *c = arg;
	struct sk_rec *r;
	int af = m->idiag_family;

	if (nlmsg_parse(nlh, sizeof(*m), tb, INET_DIAG_MAX, NULL) < 0) {
		pr_err("malformed inet_diag message");
		c->err = -EINVAL;
		return NL_STOP;
	}
	/* TIME_WAIT and SYN_RECV entries are not sockets anyone holds. */
	if (!m->idiag_inode)
		return NL_OK;
	if (!(r = sk_new(c)))
		return NL_STOP;
	r->ino = m->idiag_inode;
	r->family = af;
	r->state = m->idiag_state;
	r->has_queues = true;
	r->rqueue = m->idiag_rqueue;
	r->wqueue = m->idiag_wqueue;
	memcpy(r->lip, m->id.idiag_src, sizeof(r->lip));
	memcpy(r->pip, m->id.idiag_dst, sizeof(r->pip));
	r->lport = ntohs(m->id.idiag_sport);
	r->pport = ntohs(m->id.idiag_dport);
	if (tb[INET_DIAG_SHUTDOWN] && nla_len(tb[INET_DIAG_SHUTDOWN]) >= 1)
		r->shutdown = nla_get_u8(tb[INET_DIAG_SHUTDOWN]);
	inet_opts(r, m, tb);
	return NL_OK;
}

/* One SOCK_DIAG_BY_FAMILY dump. NLM_F_DUMP_INTR (the table changed under
 * the walk) is retried, dropping what the interrupted walk added. */
static int sk_query(struct nl_sock *nl, struct sk_cache *c, void *req, size_t len,
		    nl_recvmsg_msg_cb_t parse, const char *what)
{
	for (int attempt = 0;; attempt++) {
		size_t before = c->nr;
		struct nl_msg *msg = nlmsg_alloc_simple(SOCK_DIAG_BY_FAMILY,
							NLM_F_REQUEST | NLM_F_DUMP);
		int r;

		if (!msg)
			return -ENOMEM;
		r = nlmsg_append(msg, req, len, NLMSG_ALIGNTO);
		if (r >= 0)
			r = nl_socket_modify_cb(nl, NL_CB_VALID, NL_CB_CUSTOM, parse, c);
		if (r >= 0)
			r = nl_send_auto(nl, msg);
		nlmsg_free(msg);
		if (r >= 0)
			r = nl_recvmsgs_default(nl);
		if (c->err)
			return c->err;
		if (r >= 0)
			return 0;
		for (size_t i = before; i < c->nr; i++) {
			free(c->recs[i].icons);
			free(c->recs[i].name);
		}
		c->nr = before;
		if (r == -NLE_DUMP_INTR && attempt < 3)
			continue;
		pr_warn("sock_diag of %s sockets failed: %s; they are dumped without details",
			what, nl_geterror(r));
		return -EIO;
	}
}

static int sk_load_tables(struct nl_sock *nl, struct sk_cache *c)
{
	static const struct { int af, proto; const char *what; } inet[] = {
		{ AF_INET, IPPROTO_TCP, "TCP" }, { AF_INET6, IPPROTO_TCP, "TCPv6" },
		{ AF_INET, IPPROTO_UDP, "UDP" }, { AF_INET6, IPPROTO_UDP, "UDPv6" },
		{ AF_INET, IPPROTO_UDPLITE, "UDP-Lite" }, { AF_INET6, IPPROTO_UDPLITE, "UDP-Litev6" },
	};
	struct unix_diag_req ureq = {
		.sdiag_family = AF_UNIX,
		.udiag_states = ~0u,
		.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS |
			      UDIAG_SHOW_RQLEN,
	};
	int r = sk_query(nl, c, &ureq, sizeof(ureq), unix_parse, "UNIX");

	if (r == -ENOMEM || r == -EINVAL)
		return r;
	for (size_t i = 0; i < sizeof(inet) / sizeof(inet[0]); i++) {
		struct inet_diag_req_v2 req = {
			.sdiag_family = inet[i].af,
			.sdiag_protocol = inet[i].proto,
			.idiag_states = ~0u,
			.idiag_ext = 1 << (INET_DIAG_TOS - 1) | 1 << (INET_DIAG_TCLASS - 1) |
				     1 << (INET_DIAG_CONG - 1),
		};
		size_t before = c->nr;

		r = sk_query(nl, c, &req, sizeof(req), inet_parse, inet[i].what);
		if (r == -ENOMEM || r == -EINVAL)
			return r;
		for (size_t j = before; j < c->nr; j++) {
			c->recs[j].protocol = inet[i].proto;
			c->recs[j].type = inet[i].proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
		}
	}
	return 0;
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

/* A NETLINK_SOCK_DIAG socket in the target's network namespace. */
static int sk_connect(pid_t pid, struct nl_sock *nl)
{
	int home, r = sk_netns_enter(pid, &home);

	if (r)
		pr_warn("cannot enter the network namespace of %d (%s): its sockets are looked up in ours",
			pid, strerror(-r));
	r = nl_connect(nl, NETLINK_SOCK_DIAG);
	/* The netlink socket keeps the netns it was made in: go home at once. */
	if (sk_netns_leave(home)) {
		if (r >= 0)
			nl_close(nl);
		return -EIO;
	}
	if (r < 0) {
		pr_warn("cannot open a sock_diag netlink socket: %s", nl_geterror(r));
		return -EIO;
	}
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct sk_rec *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

/* Load the tables. -EIO: no sock_diag at all; sockets get basics only. */
int sk_cache_load(struct fd_dump *ctx)
{
	struct nl_sock *nl = nl_socket_alloc();
	int r;

	if (!nl || !(ctx->sk = calloc(1, sizeof(*ctx->sk)))) {
		nl_socket_free(nl);
		return -ENOMEM;
	}
	r = sk_connect(ctx->pid, nl);
	if (r == 0) {
		/* dump replies come in multi-KiB datagrams: size reads by peeking */
		nl_socket_enable_msg_peek(nl);
		r = sk_load_tables(nl, ctx->sk);
		nl_close(nl);
	}
	nl_socket_free(nl);
	if (r < 0 && r != -EIO)
		return r;
	qsort(ctx->sk->recs, ctx->sk->nr, sizeof(struct sk_rec), rec_cmp);
	return 0;
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
