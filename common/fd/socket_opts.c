/* Socket options, dump and restore, from one table.
 *
 * Each row names the getsockopt/setsockopt pair and the sk_opts field
 * (files.proto) that keeps it; the field is found by name in the
 * protobuf-c descriptor, so adding an option is adding a row and a field.
 * Dump stores only what differs from a new socket of the same family, type
 * and protocol (made once per kind in criu-lite): a restored socket then
 * keeps the kernel's defaults where the program kept them (notably buffer
 * sizes the kernel tunes itself until a program sets them, SO_BUF_LOCK).
 *
 * Restore applies rows in table order in two steps: what bind, listen and
 * connect depend on (reuse, freebind, device, v6only, mark, buffers), and
 * the rest once queued data went back (a filter or SO_PASSCRED set earlier
 * would change what the queue receives). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "common/fd/socket_opts.h"
#include "images/log.h"

#ifndef SOL_UDPLITE
#define SOL_UDPLITE 136
#endif
#define UDPLITE_SEND_CSCOV 10
#define UDPLITE_RECV_CSCOV 11
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define B SK_OPTS_BIND
#define L SK_OPTS_LATE
static const struct opt opts[] = {
	{ SOL_SOCKET, SO_RCVBUF, "rcvbuf", F_ALL, BUF, B },
	{ SOL_SOCKET, SO_SNDBUF, "sndbuf", F_ALL, BUF, B },
	{ SOL_SOCKET, SO_BUF_LOCK, "buf_lock", F_ALL, INT, B },
	{ SOL_SOCKET, SO_REUSEADDR, "reuseaddr", F_INET, INT, B },
	{ SOL_SOCKET, SO_REUSEPORT, "reuseport", F_INET, INT, B },
	{ SOL_SOCKET, SO_MARK, "mark", F_INET | F_PACKET, INT, B },
	{ SOL_SOCKET, SO_BINDTODEVICE, "bindtodevice", F_INET, STR, B },
	{ SOL_IP, IP_FREEBIND, "ip_freebind", F_IN4, INT, B },
	{ SOL_IP, IP_TRANSPARENT, "ip_transparent", F_IN4, INT, B },
	{ SOL_IP, IP_BIND_ADDRESS_NO_PORT, "ip_bind_address_no_port", F_IN4 | F_NOT_CONN, INT, B },
	{ SOL_IPV6, IPV6_FREEBIND, "ip_freebind", F_IN6, INT, B },
	{ SOL_IPV6, IPV6_TRANSPARENT, "ip_transparent", F_IN6, INT, B },
	{ SOL_IPV6, IPV6_V6ONLY, "ipv6_v6only", F_IN6, INT, B },
	{ SOL_TCP, TCP_MAXSEG, "tcp_maxseg", F_TCP | F_NOT_CONN, INT, B },
	{ SOL_TCP, TCP_WINDOW_CLAMP, "tcp_window_clamp", F_TCP | F_NOT_CONN, INT, B },
	{ SOL_SOCKET, SO_PASSCRED, "passcred", F_UNIX | F_NETLINK, INT, L },
	{ SOL_SOCKET, SO_PASSSEC, "passsec", F_UNIX | F_NETLINK, INT, L },
	{ SOL_SOCKET, SO_PASSPIDFD, "passpidfd", F_UNIX, INT, L },
	{ SOL_SOCKET, SO_RCVTIMEO, "rcvtimeo_us", F_ALL, TIMEVAL, L },
	{ SOL_SOCKET, SO_SNDTIMEO, "sndtimeo_us", F_ALL, TIMEVAL, L },
	{ SOL_SOCKET, SO_PEEK_OFF, "peek_off", F_UNIX | F_INET | F_UDP | F_UDPLITE | F_TCP, INT, L },
	{ SOL_SOCKET, SO_KEEPALIVE, "keepalive", F_INET, INT, L },
	{ SOL_SOCKET, SO_LINGER, "linger", F_ALL, LINGER, L },
	{ SOL_SOCKET, SO_PRIORITY, "priority", F_ALL, INT, L },
	{ SOL_SOCKET, SO_BROADCAST, "broadcast", F_INET | F_UDP | F_UDPLITE, INT, L },
	{ SOL_SOCKET, SO_RCVLOWAT, "rcvlowat", F_ALL, INT, L },
	{ SOL_SOCKET, SO_OOBINLINE, "oobinline", F_INET, INT, L },
	{ SOL_SOCKET, SO_NO_CHECK, "no_check", F_UDP, INT, L },
	{ SOL_SOCKET, SO_DONTROUTE, "dontroute", F_INET, INT, L },
	{ SOL_SOCKET, SO_TIMESTAMP, "timestamp", F_ALL, INT, L },
	{ SOL_SOCKET, SO_ATTACH_FILTER, "filter", F_ALL, FILTER, L },
	{ SOL_SOCKET, SO_LOCK_FILTER, "lock_filter", F_ALL, INT, L },
	{ SOL_TCP, TCP_NODELAY, "tcp_nodelay", F_TCP, INT, L },
	{ SOL_TCP, TCP_CORK, "tcp_cork", F_TCP, INT, L },
	{ SOL_TCP, TCP_KEEPIDLE, "tcp_keepidle", F_TCP, INT, L },
	{ SOL_TCP, TCP_KEEPINTVL, "tcp_keepintvl", F_TCP, INT, L },
	{ SOL_TCP, TCP_KEEPCNT, "tcp_keepcnt", F_TCP, INT, L },
	{ SOL_TCP, TCP_USER_TIMEOUT, "tcp_user_timeout", F_TCP, INT, L },
	{ SOL_TCP, TCP_CONGESTION, "tcp_congestion", F_TCP, STR, L },
	{ SOL_TCP, TCP_DEFER_ACCEPT, "tcp_defer_accept", F_TCP | F_NOT_CONN, INT, L },
	{ SOL_TCP, TCP_NOTSENT_LOWAT, "tcp_notsent_lowat", F_TCP, INT, L },
	{ SOL_TCP, TCP_LINGER2, "tcp_linger2", F_TCP, INT, L },
	{ SOL_TCP, TCP_FASTOPEN, "tcp_fastopen", F_TCP | F_NOT_CONN, INT, L },
	{ SOL_TCP, TCP_SYNCNT, "tcp_syncnt", F_TCP | F_NOT_CONN, INT, L },
	{ SOL_IP, IP_TOS, "ip_tos", F_IN4, INT, L },
	{ SOL_IP, IP_TTL, "ip_ttl", F_IN4, INT, L },
	{ SOL_IP, IP_MTU_DISCOVER, "ip_mtu_discover", F_IN4, INT, L },
	{ SOL_IP, IP_MULTICAST_TTL, "ip_multicast_ttl", F_IN4 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IP, IP_MULTICAST_LOOP, "ip_multicast_loop", F_IN4 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IP, IP_MULTICAST_ALL, "ip_multicast_all", F_IN4 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IP, IP_MULTICAST_IF, "ip_multicast_if", F_IN4 | F_UDP | F_UDPLITE, INADDR, L },
	{ SOL_IP, IP_RECVERR, "ip_recverr", F_IN4, INT, L },
	{ SOL_IP, IP_PKTINFO, "ip_pktinfo", F_IN4 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IP, IP_RECVTOS, "ip_recvtos", F_IN4 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IP, IP_RECVTTL, "ip_recvttl", F_IN4 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IPV6, IPV6_UNICAST_HOPS, "ipv6_unicast_hops", F_IN6, INT, L },
	{ SOL_IPV6, IPV6_TCLASS, "ipv6_tclass", F_IN6, INT, L },
	{ SOL_IPV6, IPV6_MULTICAST_HOPS, "ipv6_multicast_hops", F_IN6 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IPV6, IPV6_MULTICAST_LOOP, "ipv6_multicast_loop", F_IN6 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IPV6, IPV6_MULTICAST_IF, "ipv6_multicast_if", F_IN6 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IPV6, IPV6_RECVPKTINFO, "ipv6_recvpktinfo", F_IN6 | F_UDP | F_UDPLITE, INT, L },
	{ SOL_IPV6, IPV6_RECVERR, "ipv6_recverr", F_IN6, INT, L },
	{ SOL_IPV6, IPV6_MTU_DISCOVER, "ipv6_mtu_discover", F_IN6, INT, L },
	{ SOL_UDP, UDP_CORK, "udp_cork", F_UDP | F_UDPLITE, INT, L },
	{ SOL_UDP, UDP_SEGMENT, "udp_segment", F_UDP | F_UDPLITE, INT, L },
	{ SOL_UDP, UDP_GRO, "udp_gro", F_UDP | F_UDPLITE, INT, L },
	{ SOL_UDPLITE, UDPLITE_SEND_CSCOV, "udplite_send_cscov", F_UDPLITE, INT, L },
	{ SOL_UDPLITE, UDPLITE_RECV_CSCOV, "udplite_recv_cscov", F_UDPLITE, INT, L },
	{ SOL_PACKET, PACKET_VERSION, "packet_version", F_PACKET, INT, B },
	{ SOL_PACKET, PACKET_RESERVE, "packet_reserve", F_PACKET, INT, B },
	{ SOL_PACKET, PACKET_AUXDATA, "packet_auxdata", F_PACKET, INT, L },
	{ SOL_PACKET, PACKET_ORIGDEV, "packet_origdev", F_PACKET, INT, L },
	{ SOL_PACKET, PACKET_TIMESTAMP, "packet_timestamp", F_PACKET, INT, L },
	{ SOL_NETLINK, NETLINK_PKTINFO, "nl_pktinfo", F_NETLINK, INT, L },
	{ SOL_NETLINK, NETLINK_NO_ENOBUFS, "nl_no_enobufs", F_NETLINK, INT, L },
	{ SOL_NETLINK, NETLINK_CAP_ACK, "nl_cap_ack", F_NETLINK, INT, L },
	{ SOL_NETLINK, NETLINK_EXT_ACK, "nl_ext_ack", F_NETLINK, INT, L },
	{ SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, "nl_listen_all_nsid", F_NETLINK, INT, L },
	{ SOL_NETLINK, NETLINK_BROADCAST_ERROR, "nl_broadcast_error", F_NETLINK, INT, L },
	{ SOL_NETLINK, NETLINK_GET_STRICT_CHK, "nl_get_strict_chk", F_NETLINK, INT, L },
};
#undef B
#undef L

#define NR_OPTS (sizeof(opts) / sizeof(opts[0]))

static unsigned int kind_of(const SocketInfo *si)
{
	unsigned int k = 0;

	switch (si->family) {
	case AF_UNIX: k = F_UNIX; break;
	case AF_INET: k = F_IN4; break;
	case AF_INET6: k = F_IN6; break;
	case AF_PACKET: k = F_PACKET; break;
	case AF_NETLINK: k = F_NETLINK; break;
	}
	if (k & F_INET) {
		if (si->protocol == IPPROTO_TCP)
			k |= F_TCP;
		else if (si->protocol == IPPROTO_UDP)
			k |= F_UDP;
		else if (si->protocol == IPPROTO_UDPLITE)
			k |= F_UDPLITE;
	}
	return k;
}

static bool applies(const struct opt *o, unsigned int kind, bool connected)
{
	unsigned int fam = o->where & (F_ALL), proto = o->where & (F_TCP | F_UDP | F_UDPLITE);

	/* a row naming only protocols is an inet row */
	if (!((fam ? fam : F_INET) & kind))
		return false;
	if (proto && (kind & F_INET) && !(proto & kind))
		return false;
	return !((o->where & F_NOT_CONN) && connected);
}

static int read_filter(int s, struct val *v)
{
	socklen_t n = 0;

	/* optlen is counted in instructions here (sk_get_filter) */
	if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, NULL, &n) || !n)
		return 0;
	v->filter = calloc(n, sizeof(struct sock_filter));
	if (!v->filter)
		return -ENOMEM;
	if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, v->filter, &n)) {
		free(v->filter);
		v->filter = NULL;
		return 0;
	}
	v->filter_len = n;
	return 0;
}

union raw { int i; struct timeval tv; struct linger l; struct in_addr a; };

static void decode(const struct opt *o, const union raw *u, struct val *v)
{
	v->ok = true;
	switch (o->how) {
	case TIMEVAL: v->i = (int64_t)u->tv.tv_sec * 1000000 + u->tv.tv_usec; break;
	case LINGER: v->i = u->l.l_onoff ? u->l.l_linger : -1; break;
	case INADDR: inet_ntop(AF_INET, &u->a, v->str, sizeof(v->str)); break;
	default: v->i = u->i; break;
	}
}

static int read_opt(int s, const struct opt *o, struct val *v)
{
	union raw u;
	socklen_t len = sizeof(u);

	memset(v, 0, sizeof(*v));
	if (o->how == FILTER) {
		v->ok = true;
		return read_filter(s, v);
	}
	memset(&u, 0, sizeof(u));
	if (o->how == STR) {
		len = sizeof(v->str) - 1;
		v->ok = !getsockopt(s, o->level, o->name, v->str, &len);
		v->str[v->ok ? len : 0] = '\0';
		return 0;
	}
	if (!getsockopt(s, o->level, o->name, &u, &len))
		decode(o, &u, v);
	return 0;
}

static bool same(const struct opt *o, const struct val *a, const struct val *b)
{
	if (a->ok != b->ok)
		return false;
	if (o->how == STR || o->how == INADDR)
		return !strcmp(a->str, b->str);
	if (o->how == FILTER)
		return a->filter_len == b->filter_len &&
		       (!a->filter_len ||
			!memcmp(a->filter, b->filter, a->filter_len * sizeof(struct sock_filter)));
	return a->i == b->i;
}

/* ---- the field, through the descriptor ---- */

/* Row o's field, looked up by name once: a restore asks it for every row
 * of every socket (80 binary searches by name a socket). Atomic: threads
 * reading sockets may fill a row at once (with the same value). */
static const ProtobufCFieldDescriptor *field_of(const struct opt *o)
{
	static const ProtobufCFieldDescriptor *by_row[NR_OPTS];
	size_t i = (size_t)(o - opts);
	const ProtobufCFieldDescriptor *f = __atomic_load_n(&by_row[i], __ATOMIC_RELAXED);

	if (!f) {
		f = protobuf_c_message_descriptor_get_field_by_name(&sk_opts__descriptor, o->field);
		__atomic_store_n(&by_row[i], f, __ATOMIC_RELAXED);
	}
	return f;
}

static int store(SkOpts *so, const struct opt *o, const struct val *v)
{
	const ProtobufCFieldDescriptor *f = field_of(o);
	char *m = (char *)so + f->offset;

	if (f->type == PROTOBUF_C_TYPE_STRING)
		return (*(char **)m = strdup(v->str)) ? 0 : -ENOMEM;
	*(protobuf_c_boolean *)((char *)so + f->quantifier_offset) = 1;
	switch (f->type) {
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = (ProtobufCBinaryData *)m;

		b->len = v->filter_len * sizeof(struct sock_filter);
		b->data = malloc(b->len ? b->len : 1);
		if (!b->data)
			return -ENOMEM;
		if (b->len)
			memcpy(b->data, v->filter, b->len);
		return 0;
	}
	case PROTOBUF_C_TYPE_UINT64: *(uint64_t *)m = (uint64_t)v->i; return 0;
	case PROTOBUF_C_TYPE_INT32: *(int32_t *)m = (int32_t)v->i; return 0;
	default: *(uint32_t *)m = (uint32_t)v->i; return 0;
	}
}

/* Whether so has row o's field: most rows of most sockets do not, and a
 * restore asks every row of every socket (before anything is copied). */
static bool has(const SkOpts *so, const ProtobufCFieldDescriptor *f)
{
	if (f->type == PROTOBUF_C_TYPE_STRING)
		return *(char *const *)((const char *)so + f->offset) != NULL;
	return *(const protobuf_c_boolean *)((const char *)so + f->quantifier_offset);
}

/* Is the field set in so? Its value into v. */
static bool load(const SkOpts *so, const struct opt *o, struct val *v)
{
	const ProtobufCFieldDescriptor *f = field_of(o);
	const char *m = (const char *)so + f->offset;

	if (!has(so, f))
		return false;
	memset(v, 0, sizeof(*v));
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		snprintf(v->str, sizeof(v->str), "%s", *(char *const *)m);
		return true;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = (const ProtobufCBinaryData *)m;

		v->filter = (struct sock_filter *)b->data;
		v->filter_len = b->len / sizeof(struct sock_filter);
		return true;
	}
	case PROTOBUF_C_TYPE_UINT64: v->i = (int64_t)*(const uint64_t *)m; return true;
	case PROTOBUF_C_TYPE_INT32: v->i = *(const int32_t *)m; return true;
	default: v->i = *(const uint32_t *)m; return true;
	}
}

/* ---- dump ---- */

/* A new socket's values, per kind, kept for the whole dump. Read by two
 * threads during the prefetch (socket_tcp_pre.c), which makes every kind
 * it needs first: nothing is added while they read. */
struct ref {
	uint32_t family, type, protocol;
	struct val v[NR_OPTS];
	/* the rows that apply to this kind (applies), unconnected [0] and
	 * connected [1]: a socket's two passes go over these only (a TCP
	 * connection: a third of the table, at a thousand connections 2 ms
	 * of the dump's CPU spared) */
	uint8_t rows[2][NR_OPTS];
	uint8_t nr_rows[2];
};
_Static_assert(NR_OPTS < 256, "a row's index in a uint8_t");
static struct ref *refs;
static size_t nr_refs;

static const struct ref *reference(const SocketInfo *si)
{
	struct ref *r;
	int s;

	for (size_t i = 0; i < nr_refs; i++)
		if (refs[i].family == si->family && refs[i].type == si->type &&
		    refs[i].protocol == si->protocol)
			return &refs[i];
	r = realloc(refs, (nr_refs + 1) * sizeof(*r));
	if (!r)
		return NULL;
	refs = r;
	r = &refs[nr_refs];
	memset(r, 0, sizeof(*r));
	r->family = si->family;
	r->type = si->type;
	r->protocol = si->protocol;
	for (int c = 0; c < 2; c++)
		for (size_t i = 0; i < NR_OPTS; i++)
			if (applies(&opts[i], kind_of(si), c))
				r->rows[c][r->nr_rows[c]++] = (uint8_t)i;
	/* protocol 0 for packet sockets: a reference that hears no traffic */
	s = socket((int)si->family, (int)si->type | SOCK_CLOEXEC,
		   si->family == AF_PACKET ? 0 : (int)si->protocol);
	for (size_t i = 0; s >= 0 && i < NR_OPTS; i++)
		if (read_opt(s, &opts[i], &r->v[i]))
			break;
	if (s >= 0)
		close(s);
	nr_refs++;
	return r;
}

int sk_opts_prepare(const SocketInfo *si)
{
	return reference(si) ? 0 : -ENOMEM;
}

static bool is_lock_filter(const struct opt *o)
{
	return o->level == SOL_SOCKET && o->name == SO_LOCK_FILTER;
}

static bool is_connected(const SocketInfo *si)
{
	return si->has_state && si->state != SK_CLOSE && si->state != SK_LISTEN;
}

/* Whether the value read is worth keeping: it differs from a new socket's,
 * or (buffer sizes) the program set it, as SO_BUF_LOCK says (the kernel
 * sizes unlocked buffers itself). */
static bool keep(const struct opt *o, const struct val *v, const struct val *ref, int lock)
{
	if (o->how == BUF)
		return lock & (o->name == SO_SNDBUF ? 1 : 2);
	return !same(o, v, ref);
}

/* CHECK (socket_bpf.c): the BPF iterator's value against getsockopt's. */
static int check_bpf(int s, const struct sk_rec *r, const struct opt *o, const struct val *v)
{
	struct val sys;
	int e = read_opt(s, o, &sys);

	if (e || same(o, v, &sys))
		return e;
	pr_err("socket %llu: %s is %lld by the BPF iterator, %lld by the syscalls",
	       (unsigned long long)r->ino, o->field, (long long)v->i, (long long)sys.i);
	return -EPROTO;
}

/* SO_BUF_LOCK, asked first of every socket: whether its buffer sizes are
 * the program's (kept) or the kernel's. */
static const struct opt buf_lock = { SOL_SOCKET, SO_BUF_LOCK, "buf_lock", F_ALL, INT,
				     SK_OPTS_BIND };

/* The socket-level options of plain values, asked in one batch (io_uring:
 * a getsockopt costs a syscall each, they are a dozen a socket). */
/* Room for the socket-level rows, SO_BUF_LOCK and the filter's length,
 * and no more: a thread keeps a batch for each socket of a chunk, and
 * each byte of them is first touched at a page fault's price. */
#define BATCH_MAX 28

struct batch {
	size_t n;
	int8_t at[NR_OPTS];		/* row -> g, or -1: asked alone */
	struct sk_getopt g[BATCH_MAX];
	union raw u[BATCH_MAX];
};

static bool batched(const struct opt *o)
{
	return o->level == SOL_SOCKET && o->name != SO_BUF_LOCK &&
	       (o->how == INT || o->how == TIMEVAL || o->how == LINGER);
}

/* Row i asked in the batch (i < 0: SO_BUF_LOCK), unless it is full. */
static void batch_add(struct batch *b, int i, int level, int name)
{
	if (b->n == BATCH_MAX)
		return;
	if (i >= 0)
		b->at[i] = (int8_t)b->n;
	b->g[b->n] = (struct sk_getopt){ level, name, &b->u[b->n], sizeof(b->u[0]), -ENOSYS };
	memset(&b->u[b->n], 0, sizeof(b->u[0]));
	b->n++;
}

/* The batch of a socket; g[0] is SO_BUF_LOCK. A filter's length is asked
 * too (SO_GET_FILTER with no room: its number of instructions is the
 * result); only a socket with one asks again for it. */
static void batch_make(struct batch *b, const struct ref *ref, const SocketInfo *si,
		       const struct sk_rec *rec)
{
	int c = is_connected(si);
	bool no_filter = false;
	struct val v;

	b->n = 0;
	/* (unless the BPF iterator's record says it: see dump_with) */
	if (!sk_opt_from_bpf(rec, &buf_lock, NULL, &v))
		batch_add(b, -1, SOL_SOCKET, SO_BUF_LOCK);
	for (size_t k = 0; k < ref->nr_rows[c]; k++) {
		size_t i = ref->rows[c][k];

		b->at[i] = -1;
		/* (no filter: dump_with passes its lock over) */
		if (is_lock_filter(&opts[i]) && no_filter)
			continue;
		if (sk_opt_from_bpf(rec, &opts[i], &ref->v[i], &v)) {
			no_filter |= opts[i].how == FILTER && !v.filter_len;
			continue;
		}
		if (opts[i].how == FILTER) {
			batch_add(b, (int)i, SOL_SOCKET, SO_GET_FILTER);
			if (b->at[i] >= 0) {
				b->g[b->at[i]].val = NULL;
				b->g[b->at[i]].len = 0;
			}
		} else if (batched(&opts[i]) && !sk_opt_from_diag(rec, &opts[i], &v)) {
			batch_add(b, (int)i, opts[i].level, opts[i].name);
		}
	}
}

/* Not asked (no ring): every one alone. */
static void batch_none(struct batch *b)
{
	b->n = 0;
	memset(b->at, -1, sizeof(b->at));
}

static void batch_run(int s, struct batch *b, const struct ref *ref, const SocketInfo *si,
		      const struct sk_rec *rec)
{
	batch_make(b, ref, si, rec);
	if (b->n <= 1 || sk_ring_getsockopts(s, b->g, b->n))
		batch_none(b);
}

/* Row i's value: from the batch, sock_diag, the BPF iterator, or asked
 * alone. */
static int value(int s, const struct batch *b, size_t i, const struct sk_rec *rec,
		 const struct val *ref, struct val *v)
{
	const struct opt *o = &opts[i];

	/* (a row in the batch is one sock_diag did not give: batch_run asked) */
	memset(v, 0, sizeof(*v));
	if (o->how == FILTER && b->at[i] >= 0 && b->g[b->at[i]].res == 0) {
		v->ok = true;		/* none: what read_filter finds */
		return 0;
	}
	if (o->how != FILTER && b->at[i] >= 0 && b->g[b->at[i]].res >= 0) {
		decode(o, &b->u[b->at[i]], v);
		return 0;
	}
	if (sk_opt_from_diag(rec, o, v))
		return 0;
	if (sk_opt_from_bpf(rec, o, ref, v))
		return sk_bpf_mode() == SK_BPF_CHECK ? check_bpf(s, rec, o, v) : 0;
	return read_opt(s, o, v);
}

/* sk_opts_dump with the batch b asked. */
static int dump_with(int s, SocketInfo *si, const struct sk_rec *rec, const struct ref *ref,
		     const struct batch *b)
{
	int c = is_connected(si);
	socklen_t l = sizeof(int);
	SkOpts *so = NULL;
	int r = 0, lock = 0, lock_ok;
	struct val bl;

	if (sk_opt_from_bpf(rec, &buf_lock, NULL, &bl))
		lock_ok = 1, lock = (int)bl.i;
	else if (b->n && b->g[0].res >= 0)
		lock_ok = 1, lock = b->u[0].i;
	else
		lock_ok = !getsockopt(s, SOL_SOCKET, SO_BUF_LOCK, &lock, &l);
	for (size_t k = 0; k < ref->nr_rows[c] && !r; k++) {
		size_t i = ref->rows[c][k];
		const struct opt *o = &opts[i];
		struct val v;

		/* SO_LOCK_FILTER means nothing without a filter */
		if (is_lock_filter(o) && !(so && so->has_filter))
			continue;
		/* a buffer size is kept only when the program set it (locked) */
		if (o->how == BUF && !(lock & (o->name == SO_SNDBUF ? 1 : 2)))
			continue;
		if (o->name == SO_BUF_LOCK && o->level == SOL_SOCKET)
			memset(&v, 0, sizeof(v)), v.ok = lock_ok, v.i = lock;
		else
			r = value(s, b, i, rec, &ref->v[i], &v);
		if (!r && v.ok && keep(o, &v, &ref->v[i], lock)) {
			if (!so && (so = si->opts = malloc(sizeof(*so))))
				sk_opts__init(so);
			r = so ? store(so, o, &v) : -ENOMEM;
		}
		free(v.filter);
	}
	return r;
}

int sk_opts_dump(int s, SocketInfo *si, const struct sk_rec *rec)
{
	const struct ref *ref = reference(si);
	struct batch b;

	if (!ref)
		return -ENOMEM;
	batch_run(s, &b, ref, si, rec);
	return dump_with(s, si, rec, ref, &b);
}

/* The ring's run of what is queued: batches from..to-1. */
static void flush(struct sk_ring *ring, struct batch *b, size_t from, size_t to)
{
	if (sk_ring_run_getsockopts(ring))
		for (size_t k = from; k < to; k++)
			batch_none(&b[k]);
}

/* The batches queued on the ring, as many sockets' a run as it takes. */
static void ask_many(struct sk_ring *ring, const struct sk_opts_job *j, struct batch *b,
		     size_t n)
{
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		/* (batch_run's case: asked alone) */
		if (b[i].n <= 1 || b[i].n > SK_RING_DUMP_ENTRIES)
			continue;
		if (sk_ring_room(ring) < b[i].n) {
			flush(ring, b, from, i);
			from = i;
		}
		for (size_t k = 0; k < b[i].n; k++)
			sk_ring_getsockopt(ring, j[i].s, &b[i].g[k]);
	}
	flush(ring, b, from, n);
	for (size_t i = 0; i < n; i++)
		if (b[i].n <= 1 || b[i].n > SK_RING_DUMP_ENTRIES)
			batch_none(&b[i]);
}

/* The batches of a thread's sk_opts_dump_many, kept until
 * sk_opts_dump_many_done (a few hundred KiB: malloc'd again each time,
 * they were pages faulted in again). */
static _Thread_local struct batch *many_b;
static _Thread_local size_t many_n;

void sk_opts_dump_many_done(void)
{
	free(many_b);
	many_b = NULL;
	many_n = 0;
}

void sk_opts_dump_many(struct sk_opts_job *j, size_t n)
{
	struct sk_ring *ring = NULL;
	struct batch *b;
	bool ask = false;

	if (n > 1 && n > many_n) {
		sk_opts_dump_many_done();
		if ((many_b = malloc(n * sizeof(*many_b))))
			many_n = n;
	}
	for (size_t i = 0; i < n && n > 1 && many_b; i++) {
		const struct ref *ref = reference(j[i].si);

		if (!ref) {
			j[i].r = -ENOMEM;
			batch_none(&many_b[i]);
			continue;
		}
		batch_make(&many_b[i], ref, j[i].si, j[i].rec);
		ask |= many_b[i].n > 1;
	}
	/* the ring only for what neither BPF nor sock_diag said (they say
	 * all of a plain connection's): made, it costs each thread ~0.3 ms */
	if (n < 2 || !many_b || (ask && !(ring = sk_ring_dump()))) {
		for (size_t i = 0; i < n; i++)
			j[i].r = sk_opts_dump(j[i].s, j[i].si, j[i].rec);
		return;
	}
	b = many_b;
	if (ask)
		ask_many(ring, j, b, n);
	else
		for (size_t i = 0; i < n; i++)
			batch_none(&b[i]);
	for (size_t i = 0; i < n; i++) {
		const struct ref *ref = reference(j[i].si);

		if (ref)
			j[i].r = dump_with(j[i].s, j[i].si, j[i].rec, ref, &b[i]);
	}
}

/* ---- restore ---- */

static int apply(int s, const struct opt *o, const struct val *v)
{
	union { int i; struct timeval tv; struct linger l; struct in_addr a; } u;
	socklen_t len = sizeof(int);
	struct sock_fprog prog;

	memset(&u, 0, sizeof(u));
	switch (o->how) {
	case STR:
		return setsockopt(s, o->level, o->name, v->str, (socklen_t)strlen(v->str));
	case FILTER:
		prog.len = (unsigned short)v->filter_len;
		prog.filter = v->filter;
		return setsockopt(s, o->level, SO_ATTACH_FILTER, &prog, sizeof(prog));
	case BUF:
		u.i = (int)(v->i / 2);	/* the kernel doubles what it is given */
		return setsockopt(s, o->level, o->name == SO_RCVBUF ? SO_RCVBUFFORCE :
				  SO_SNDBUFFORCE, &u.i, sizeof(u.i));
	case TIMEVAL:
		u.tv.tv_sec = v->i / 1000000;
		u.tv.tv_usec = v->i % 1000000;
		len = sizeof(u.tv);
		break;
	case LINGER:
		u.l.l_onoff = v->i >= 0;
		u.l.l_linger = v->i >= 0 ? (int)v->i : 0;
		len = sizeof(u.l);
		break;
	case INADDR:
		if (inet_pton(AF_INET, v->str, &u.a) != 1)
			return -1;
		len = sizeof(u.a);
		break;
	default:
		u.i = (int)v->i;
		break;
	}
	return setsockopt(s, o->level, o->name, &u, len);
}

int sk_opts_restore(int s, const SocketInfo *si, enum sk_opts_when when, char *why, size_t len)
{
	unsigned int kind = kind_of(si);
	bool c = is_connected(si);

	if (!si->opts)
		return 0;
	for (size_t i = 0; i < NR_OPTS; i++) {
		struct val v;

		if (opts[i].when != when || !load(si->opts, &opts[i], &v) ||
		    !applies(&opts[i], kind, c))
			continue;
		if (apply(s, &opts[i], &v))
			return fd_rst_fail(why, len, errno, "cannot set socket option %s: %s",
					   opts[i].field, strerror(errno));
	}
	return 0;
}

int sk_opts_plain(const SocketInfo *si, enum sk_opts_when when, struct sk_intopt *out,
		  size_t max)
{
	unsigned int kind = kind_of(si);
	bool c = is_connected(si);
	size_t n = 0;

	for (size_t i = 0; si->opts && i < NR_OPTS; i++) {
		struct val v;

		if (opts[i].when != when || !load(si->opts, &opts[i], &v) ||
		    !applies(&opts[i], kind, c))
			continue;
		if (opts[i].how != INT || n == max)
			return -1;
		out[n++] = (struct sk_intopt){ opts[i].level, opts[i].name, (int)v.i,
					       opts[i].field };
	}
	return (int)n;
}
