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

struct sk_rec {
	uint64_t ino, peer_ino;
	uint32_t family, type, protocol, state;
	uint32_t rqueue, wqueue, shutdown;
	bool has_queues;
	/* Kept small: a busy netns lists 10^5 sockets, most not the target's. */
	char *name;			/* AF_UNIX name, "@..." when abstract, or NULL */
	uint32_t lip[4], pip[4];	/* inet addresses, network order */
	uint16_t lport, pport;
	uint32_t *icons;
	size_t n_icons;
};

struct sk_cache {
	struct sk_rec *recs;
	size_t nr, cap;
	int err;			/* first error met inside a callback */
	/* Tables read whole, in the target's netns: a socket missing from
	 * them is truly unhashed, not just unseen. */
	bool tcp_complete, udp_complete;
};

void socket_dump_done(struct fd_dump *ctx)
{
	struct sk_cache *c = ctx->sk;

	if (!c)
		return;
	for (size_t i = 0; i < c->nr; i++) {
		free(c->recs[i].icons);
		free(c->recs[i].name);
	}
	free(c->recs);
	free(c);
	ctx->sk = NULL;
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
	if (tb[UNIX_DIAG_PEER] && nla_len(tb[UNIX_DIAG_PEER]) >= 4)
		r->peer_ino = nla_get_u32(tb[UNIX_DIAG_PEER]);
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

static int sk_load_tables(struct nl_sock *nl, struct sk_cache *c, bool own_netns)
{
	static const struct { int af, proto; const char *what; } inet[] = {
		{ AF_INET, IPPROTO_TCP, "TCP" }, { AF_INET6, IPPROTO_TCP, "TCPv6" },
		{ AF_INET, IPPROTO_UDP, "UDP" }, { AF_INET6, IPPROTO_UDP, "UDPv6" },
	};
	struct unix_diag_req ureq = {
		.sdiag_family = AF_UNIX,
		.udiag_states = ~0u,
		.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS |
			      UDIAG_SHOW_RQLEN,
	};
	int r = sk_query(nl, c, &ureq, sizeof(ureq), unix_parse, "UNIX");

	if (r == -ENOMEM || r == -EINVAL)
		return r;
	c->tcp_complete = c->udp_complete = own_netns;
	for (size_t i = 0; i < sizeof(inet) / sizeof(inet[0]); i++) {
		struct inet_diag_req_v2 req = {
			.sdiag_family = inet[i].af,
			.sdiag_protocol = inet[i].proto,
			.idiag_states = ~0u,
		};
		size_t before = c->nr;

		r = sk_query(nl, c, &req, sizeof(req), inet_parse, inet[i].what);
		if (r == -ENOMEM || r == -EINVAL)
			return r;
		if (r < 0 && inet[i].proto == IPPROTO_TCP)
			c->tcp_complete = false;
		else if (r < 0)
			c->udp_complete = false;
		for (size_t j = before; j < c->nr; j++) {
			c->recs[j].protocol = inet[i].proto;
			c->recs[j].type = inet[i].proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
		}
	}
	return 0;
}

/* A NETLINK_SOCK_DIAG socket in the target's network namespace. */
static int sk_connect(pid_t pid, struct nl_sock *nl, bool *right_netns)
{
	char path[64];
	struct stat mine, theirs;
	int self = -1, target = -1, r;

	*right_netns = true;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if (stat(path, &theirs) || stat("/proc/self/ns/net", &mine) ||
	    (theirs.st_ino == mine.st_ino && theirs.st_dev == mine.st_dev))
		goto connect;
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = procfs_open(pid, "ns/net", O_RDONLY | PROCFS_QUIET);
	if (target < 0)
		errno = -target;
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET)) {
		pr_warn("cannot enter the network namespace of %d (%s): its sockets are looked up in ours",
			pid, strerror(errno));
		close(self);
		close(target);
		self = target = -1;
		*right_netns = false;
	}
connect:
	r = nl_connect(nl, NETLINK_SOCK_DIAG);
	/* The netlink socket keeps the netns it was made in: go home at once. */
	if (self >= 0 && setns(self, CLONE_NEWNET)) {
		r = pr_perror("cannot return to our network namespace");
		nl_close(nl);
	} else if (r < 0) {
		pr_warn("cannot open a sock_diag netlink socket: %s", nl_geterror(r));
		r = -EIO;
	}
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return r;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct sk_rec *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

/* Load the tables. -EIO: no sock_diag at all; sockets get basics only. */
static int sk_cache_load(struct fd_dump *ctx)
{
	struct nl_sock *nl = nl_socket_alloc();
	bool right_netns;
	int r;

	if (!nl || !(ctx->sk = calloc(1, sizeof(*ctx->sk)))) {
		nl_socket_free(nl);
		return -ENOMEM;
	}
	r = sk_connect(ctx->pid, nl, &right_netns);
	if (r == 0) {
		/* dump replies come in multi-KiB datagrams: size reads by peeking */
		nl_socket_enable_msg_peek(nl);
		r = sk_load_tables(nl, ctx->sk, right_netns);
		nl_close(nl);
	}
	nl_socket_free(nl);
	if (r < 0 && r != -EIO)
		return r;
	qsort(ctx->sk->recs, ctx->sk->nr, sizeof(struct sk_rec), rec_cmp);
	return 0;
}

static const struct sk_rec *sk_find(const struct sk_cache *c, uint64_t ino)
{
	struct sk_rec key = { .ino = ino };

	if (!c || !c->nr)
		return NULL;
	return bsearch(&key, c->recs, c->nr, sizeof(key), rec_cmp);
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
	if (!(a->ip = malloc(INET6_ADDRSTRLEN)))
		goto fail;
	inet_ntop(r->family, local ? r->lip : r->pip, a->ip, INET6_ADDRSTRLEN);
	a->has_port = true;
	a->port = local ? r->lport : r->pport;
	return a;
fail:
	free(a);
	return NULL;
}

static int fill_from_rec(const struct fd_dump *ctx, const struct sk_rec *r, SocketInfo *si)
{
	const struct sk_rec *peer = r->peer_ino ? sk_find(ctx->sk, r->peer_ino) : NULL;

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
		if (r->state == TCP_LISTEN) {
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

/* Family, type and protocol asked of the socket itself; 0 when we cannot. */
static void sk_basics(struct fd_dump *ctx, int fd, int *dom, int *type, int *proto)
{
	socklen_t len = sizeof(int);
	int s = fd_dump_getfd(ctx, fd);

	*dom = *type = *proto = -1;
	if (s < 0)
		return;
	if (getsockopt(s, SOL_SOCKET, SO_DOMAIN, dom, &len))
		*dom = -1;
	len = sizeof(int);
	if (getsockopt(s, SOL_SOCKET, SO_TYPE, type, &len))
		*type = -1;
	len = sizeof(int);
	if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL, proto, &len))
		*proto = -1;
	close(s);
}

int socket_dump(struct fd_dump *ctx, const struct fd_desc *d, FdEntry *e)
{
	const struct sk_rec *r;
	char reason[96];
	SocketInfo *si;
	int dom, type, proto, ret;

	if (!ctx->sk_loaded) {
		ctx->sk_loaded = true;
		ret = sk_cache_load(ctx);
		if (ret < 0)
			return ret;
	}
	if (!(si = e->sock = malloc(sizeof(*si))))
		return -ENOMEM;
	socket_info__init(si);
	si->ino = d->st.st_ino;
	r = sk_find(ctx->sk, si->ino);
	if (r) {
		e->type = FD_TYPE__FD_SOCKET;
		return fill_from_rec(ctx, r, si);
	}
	/* Five syscalls more per socket: only for those no table knows. */
	sk_basics(ctx, d->fd, &dom, &type, &proto);
	si->family = dom < 0 ? AF_UNSPEC : dom;
	si->type = type < 0 ? 0 : type;
	si->has_protocol = proto >= 0;
	si->protocol = proto < 0 ? 0 : proto;
	if ((dom == AF_INET || dom == AF_INET6) &&
	    ((proto == IPPROTO_TCP && ctx->sk->tcp_complete) ||
	     (proto == IPPROTO_UDP && ctx->sk->udp_complete))) {
		/* Unhashed: neither bound nor connected, so no table lists it. */
		e->type = FD_TYPE__FD_SOCKET;
		si->has_state = true;
		si->state = TCP_CLOSE;
		return 0;
	}
	if (dom < 0)
		snprintf(reason, sizeof(reason), "socket not found by sock_diag");
	else
		snprintf(reason, sizeof(reason), "socket of family %d, type %d, protocol %d",
			 dom, si->type, si->protocol);
	return fd_dump_unsupported(ctx, d, e, reason);
}
