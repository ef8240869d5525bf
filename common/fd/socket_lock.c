/* The network lock: while a TCP connection is read in repair mode, and
 * while its program is down between `dump --kill` and restore, no packet of
 * it may pass, or the kernel answers the peer with a reset (no socket) or
 * the two ends' queues stop matching what was read.
 *
 * It is an nftables table (made by nf_tables messages of our own, one
 * batch a call, nft_msg.h; in the netns of the sockets) that drops every
 * packet of the locked connections, both ways, at input and output,
 * except those criu-lite itself injects (marked):
 *  - the dump's own table is made with the "owner" flag: the kernel removes
 *    it when criu-lite's netlink socket closes, so a dumper that dies,
 *    even by SIGKILL, leaves no lock on a tree that runs on;
 *  - for `dump --kill --tcp-established`, the connections to peers outside
 *    the tree go into a second table, without owner, just before the kill:
 *    it outlives the dump and is named in the images; restore removes it
 *    once the connections are back, and on failure (it then says so). A
 *    restore that is itself killed leaves it: restoring again removes it.
 * Rules match a set of local ends (address, port): every packet to or from
 * them. A server's thousand connections share one end (its port), so the
 * set stays small; new connections to a locked port wait (their SYNs
 * are dropped, then sent again) instead of being refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/fault.h"
#include "common/fd/fd.h"
#include "common/fd/nft_msg.h"
#include "common/fd/socket.h"
#include "images/log.h"

/* nft's ids of the sets' key types (for `nft list`: the kernel keeps them
 * unread): ipv4_addr 7, ipv6_addr 8, inet_service 13, a concatenation
 * being the ids shifted 6 bits apart. */
#define KEY_TYPE_V4 (7u << 6 | 13)
#define KEY_TYPE_V6 (8u << 6 | 13)
#define SET_ID_V4 1		/* ids of the sets in their batch */
#define SET_ID_V6 2
#define ELEMS_PER_MSG 1024	/* a message's element list is one 64 KiB attribute */

static int own_sk = -1;	/* the dump's: it owns the dump's table, in the sockets' netns */
static char own_name[64], keep_name[64];
static pid_t own_pid;		/* whose netns */
static int kept_note = -1;	/* the guardian's, while the tree may live */

/* The element key of a local end: address, then port, each field padded to
 * the 4 bytes of the register nft loads it in. */
struct end {
	int family;
	uint8_t key[20];
};

static size_t key_len(int family)
{
	return family == AF_INET6 ? 20 : 8;
}

static void put_data(struct nft_batch *b, uint16_t type, const void *v, size_t len)
{
	size_t d = nft_nest_begin(b, type);

	nft_put(b, NFTA_DATA_VALUE, v, len);
	nft_nest_end(b, d);
}

/* One expression of a rule: its name, its attributes between the two calls. */
static size_t expr_begin(struct nft_batch *b, const char *name, size_t *data)
{
	size_t e = nft_nest_begin(b, NFTA_LIST_ELEM);

	nft_put_str(b, NFTA_EXPR_NAME, name);
	*data = nft_nest_begin(b, NFTA_EXPR_DATA);
	return e;
}

static void expr_end(struct nft_batch *b, size_t e, size_t data)
{
	nft_nest_end(b, data);
	nft_nest_end(b, e);
}

/* reg 1 = meta key; then "cmp eq reg 1" v (len bytes, host order) */
static void meta_eq(struct nft_batch *b, uint32_t key, const void *v, size_t len)
{
	size_t e, d;

	e = expr_begin(b, "meta", &d);
	nft_put_be32(b, NFTA_META_DREG, NFT_REG_1);
	nft_put_be32(b, NFTA_META_KEY, key);
	expr_end(b, e, d);
	e = expr_begin(b, "cmp", &d);
	nft_put_be32(b, NFTA_CMP_SREG, NFT_REG_1);
	nft_put_be32(b, NFTA_CMP_OP, NFT_CMP_EQ);
	put_data(b, NFTA_CMP_DATA, v, len);
	expr_end(b, e, d);
}

static void payload(struct nft_batch *b, uint32_t base, uint32_t off, uint32_t len, uint32_t reg)
{
	size_t d, e = expr_begin(b, "payload", &d);

	nft_put_be32(b, NFTA_PAYLOAD_DREG, reg);
	nft_put_be32(b, NFTA_PAYLOAD_BASE, base);
	nft_put_be32(b, NFTA_PAYLOAD_OFFSET, off);
	nft_put_be32(b, NFTA_PAYLOAD_LEN, len);
	expr_end(b, e, d);
}

static void verdict(struct nft_batch *b, uint32_t code)
{
	size_t d, e = expr_begin(b, "immediate", &d), v, c;

	nft_put_be32(b, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
	v = nft_nest_begin(b, NFTA_IMMEDIATE_DATA);
	c = nft_nest_begin(b, NFTA_DATA_VERDICT);
	nft_put_be32(b, NFTA_VERDICT_CODE, code);
	nft_nest_end(b, c);
	nft_nest_end(b, v);
	expr_end(b, e, d);
}

static size_t rule_begin(struct nft_batch *b, const char *table, const char *chain,
			 const char *what)
{
	nft_msg_begin(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, what);
	nft_put_str(b, NFTA_RULE_TABLE, table);
	nft_put_str(b, NFTA_RULE_CHAIN, chain);
	return nft_nest_begin(b, NFTA_RULE_EXPRESSIONS);
}

static void rule_end(struct nft_batch *b, size_t exprs)
{
	nft_nest_end(b, exprs);
	nft_msg_end(b);
}

/* "meta mark 0xc1e0 accept": what criu-lite injects passes */
static void rule_mark(struct nft_batch *b, const char *table, const char *chain)
{
	uint32_t mark = SK_LOCK_MARK;
	size_t x = rule_begin(b, table, chain, "the rule for marked packets");

	meta_eq(b, NFT_META_MARK, &mark, sizeof(mark));
	verdict(b, NF_ACCEPT);
	rule_end(b, x);
}

/* "ip daddr . tcp dport @l4 drop" and its kin: the protocol checks nft
 * adds itself in an inet table (the rule looks at IPv4 or IPv6 packets
 * only, and at TCP ones), then address and port into consecutive 32-bit
 * registers, looked up in the set. */
static void rule_drop(struct nft_batch *b, const char *table, bool out, bool v6)
{
	uint8_t nfproto = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4, tcp = IPPROTO_TCP;
	const char *set = v6 ? "l6" : "l4";
	size_t x = rule_begin(b, table, out ? "out" : "in",
			      v6 ? "the IPv6 rule" : "the IPv4 rule");
	/* ip: saddr at 12, daddr at 16; ip6: at 8 and 24. tcp: sport 0, dport 2 */
	uint32_t addr = v6 ? (out ? 8 : 24) : (out ? 12 : 16), alen = v6 ? 16 : 4;
	size_t d, e;

	meta_eq(b, NFT_META_NFPROTO, &nfproto, 1);
	meta_eq(b, NFT_META_L4PROTO, &tcp, 1);
	payload(b, NFT_PAYLOAD_NETWORK_HEADER, addr, alen, NFT_REG_1);
	/* nft names the port's register as a 16-byte one where it can */
	payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, out ? 0 : 2, 2, v6 ? NFT_REG_2 : NFT_REG32_01);
	e = expr_begin(b, "lookup", &d);
	nft_put_str(b, NFTA_LOOKUP_SET, set);
	nft_put_be32(b, NFTA_LOOKUP_SET_ID, v6 ? SET_ID_V6 : SET_ID_V4);
	nft_put_be32(b, NFTA_LOOKUP_SREG, NFT_REG_1);
	expr_end(b, e, d);
	verdict(b, NF_DROP);
	rule_end(b, x);
}

/* As nft makes it: no fields' lengths (the kernel wants those only with
 * NFT_SET_CONCAT, for interval sets), an id for the rules' lookups. */
static void new_set(struct nft_batch *b, const char *table, bool v6)
{
	nft_msg_begin(b, NFT_MSG_NEWSET, NLM_F_CREATE, v6 ? "the IPv6 set" : "the IPv4 set");
	nft_put_str(b, NFTA_SET_TABLE, table);
	nft_put_str(b, NFTA_SET_NAME, v6 ? "l6" : "l4");
	nft_put_be32(b, NFTA_SET_FLAGS, 0);
	nft_put_be32(b, NFTA_SET_KEY_TYPE, v6 ? KEY_TYPE_V6 : KEY_TYPE_V4);
	nft_put_be32(b, NFTA_SET_KEY_LEN, (uint32_t)key_len(v6 ? AF_INET6 : AF_INET));
	nft_put_be32(b, NFTA_SET_ID, v6 ? SET_ID_V6 : SET_ID_V4);
	nft_msg_end(b);
}

static void new_chain(struct nft_batch *b, const char *table, bool out)
{
	size_t hook;

	nft_msg_begin(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, out ? "the output chain" :
			  "the input chain");
	nft_put_str(b, NFTA_CHAIN_TABLE, table);
	nft_put_str(b, NFTA_CHAIN_NAME, out ? "out" : "in");
	hook = nft_nest_begin(b, NFTA_CHAIN_HOOK);
	nft_put_be32(b, NFTA_HOOK_HOOKNUM, out ? NF_INET_LOCAL_OUT : NF_INET_LOCAL_IN);
	nft_put_be32(b, NFTA_HOOK_PRIORITY, (uint32_t)-300);
	nft_nest_end(b, hook);
	nft_put_str(b, NFTA_CHAIN_TYPE, "filter");
	nft_msg_end(b);
}

/* The table, its two sets (local address . port), and per hook the rules:
 * marked packets pass, then what the sets match is dropped. */
static void new_table(struct nft_batch *b, const char *name, bool owner)
{
	nft_msg_begin(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "the table");
	nft_put_str(b, NFTA_TABLE_NAME, name);
	if (owner)
		nft_put_be32(b, NFTA_TABLE_FLAGS, NFT_TABLE_F_OWNER);
	nft_msg_end(b);
	new_set(b, name, false);
	new_set(b, name, true);
	for (int out = 0; out < 2; out++) {
		new_chain(b, name, out);
		rule_mark(b, name, out ? "out" : "in");
		rule_drop(b, name, out, false);
		rule_drop(b, name, out, true);
	}
}

static int end_cmp(const void *a, const void *b)
{
	const struct end *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->key, y->key, sizeof(x->key));
}

/* The local ends of conns, each once (a server's connections share one). */
static struct end *ends_of(const struct sk_conn *conns, size_t nr, size_t *nr_ends)
{
	struct end *e = calloc(nr, sizeof(*e));
	size_t u = 0;

	if (!e)
		return NULL;
	for (size_t i = 0; i < nr; i++) {
		const struct in6_addr *a6 = (const void *)conns[i].lip;
		/* an IPv6 socket's IPv4 connection (::ffff:a.b.c.d) sends IPv4 packets */
		bool v4 = conns[i].family != AF_INET6 || IN6_IS_ADDR_V4MAPPED(a6);
		uint16_t port = htons(conns[i].lport);

		e[i].family = v4 ? AF_INET : AF_INET6;
		if (!v4)
			memcpy(e[i].key, a6, 16);
		else
			memcpy(e[i].key, conns[i].family == AF_INET6 ? &a6->s6_addr32[3] :
			       &conns[i].lip[0], 4);
		memcpy(e[i].key + (v4 ? 4 : 16), &port, sizeof(port));
	}
	qsort(e, nr, sizeof(*e), end_cmp);
	for (size_t i = 0; i < nr; i++)
		if (!u || end_cmp(&e[u - 1], &e[i]))
			e[u++] = e[i];
	*nr_ends = u;
	return e;
}

static void add_elems(struct nft_batch *b, const char *table, const struct end *e, size_t nr)
{
	for (size_t i = 0; i < nr;) {
		bool v6 = e[i].family == AF_INET6;
		size_t list, el, key;

		nft_msg_begin(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, "the connections' ends");
		nft_put_str(b, NFTA_SET_ELEM_LIST_TABLE, table);
		nft_put_str(b, NFTA_SET_ELEM_LIST_SET, v6 ? "l6" : "l4");
		list = nft_nest_begin(b, NFTA_SET_ELEM_LIST_ELEMENTS);
		for (size_t k = 0; k < ELEMS_PER_MSG && i < nr && e[i].family == e[i - k].family;
		     k++, i++) {
			el = nft_nest_begin(b, NFTA_LIST_ELEM);
			key = nft_nest_begin(b, NFTA_SET_ELEM_KEY);
			nft_put(b, NFTA_DATA_VALUE, e[i].key, key_len(e[i].family));
			nft_nest_end(b, key);
			nft_nest_end(b, el);
		}
		nft_nest_end(b, list);
		nft_msg_end(b);
	}
}

/* The local ends of conns into the table (made first when `table`): one
 * batch, so a failure leaves nothing of it. */
static int add_elements(int s, const char *name, bool table, bool owner,
			const struct sk_conn *conns, size_t nr)
{
	struct nft_batch b;
	size_t nr_ends = 0;
	struct end *ends = ends_of(conns, nr, &nr_ends);
	char why[256];
	int r;

	if (!ends)
		return -ENOMEM;
	nft_batch_init(&b);
	if (table)
		new_table(&b, name, owner);
	add_elems(&b, name, ends, nr_ends);
	r = nft_batch_run(&b, s, why, sizeof(why));
	if (r)
		pr_err("network lock: cannot %s: %s", table ? "create the lock table" :
		       "lock the connections", why);
	nft_batch_free(&b);
	free(ends);
	return r ? -EIO : 0;
}

const char *sk_lock_name(void)
{
	if (!keep_name[0])
		snprintf(keep_name, sizeof(keep_name), "criu_lite_%d_%ld", (int)getpid(),
			 (long)time(NULL));
	return keep_name;
}

int sk_lock_add(pid_t pid, const struct sk_conn *conns, size_t n)
{
	int home, r;

	if (!n)
		return 0;
	if (own_sk < 0) {
		snprintf(own_name, sizeof(own_name), "criu_lite_dump_%d", (int)getpid());
		/* the socket is made in, and keeps, the sockets' netns */
		own_pid = pid;
		r = sk_netns_enter(pid, &home);
		if (r)
			return r;
		own_sk = nft_socket();
		if (sk_netns_leave(home) || own_sk < 0) {
			if (own_sk < 0)
				pr_err("network lock: no netfilter netlink socket: %s",
				       strerror(-own_sk));
			sk_lock_release();
			return -EIO;
		}
		/* a failed batch leaves no table: made again at the next call */
		r = add_elements(own_sk, own_name, true, true, conns, n);
		if (!r) {
			pr_debug("network lock %s made", own_name);
			r = fault_step("network lock: made");
		}
		if (r)
			sk_lock_release();
		return r;
	}
	return add_elements(own_sk, own_name, false, false, conns, n);
}

int sk_lock_persist(const struct sk_conn *keep, size_t n)
{
	int r;

	if (own_sk < 0 || !n)
		return 0;
	/* (noted first: the table outlives criu-lite, and must not outlive it
	 * with the tree alive) */
	kept_note = sk_lock_kept_note(own_pid, sk_lock_name());
	r = add_elements(own_sk, sk_lock_name(), true, false, keep, n);
	if (!r)
		pr_info("network lock %s holds %zu connections until restore", keep_name, n);
	return r;
}

void sk_lock_release(void)
{
	/* the tree is dead (or the table was never kept): restore's now */
	sk_lock_kept_done(kept_note);
	kept_note = -1;
	if (own_sk < 0)
		return;
	close(own_sk);	/* the owned table goes with its socket */
	pr_debug("network lock %s released", own_name);
	own_sk = -1;
	own_name[0] = '\0';
}

/* "delete table inet NAME" as one batch. 0, -ENOENT (no such table) or
 * -errno after one line. */
static int delete_table(const char *name)
{
	struct nft_batch b;
	char why[256];
	int s = nft_socket(), r;

	if (s < 0)
		return s;
	nft_batch_init(&b);
	nft_msg_begin(&b, NFT_MSG_DELTABLE, 0, "the table");
	nft_put_str(&b, NFTA_TABLE_NAME, name);
	nft_msg_end(&b);
	r = nft_batch_run(&b, s, why, sizeof(why));
	nft_batch_free(&b);
	close(s);
	if (r && r != -ENOENT)
		pr_err("cannot remove the network lock %s: %s", name, why);
	return r;
}

int sk_lock_remove(const char *name)
{
	int r = delete_table(name);

	/* gone already (removed by an earlier restore, or never made) */
	if (r == -ENOENT)
		return 0;
	return r ? -EIO : 0;
}
