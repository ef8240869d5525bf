/* nf_tables messages and their batch: see nft_msg.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include "common/fd/nft_msg.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

/* Message seqs, unique for the process: an ack left unread by a batch that
 * failed early can never be taken for one of a later batch. */
static uint32_t next_seq = 1;

static void *room(struct nft_batch *b, size_t n)
{
	size_t need = NLMSG_ALIGN(b->len) + NLA_ALIGN(n);
	void *p;

	if (b->err)
		return NULL;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *nb;

		while (cap < need)
			cap *= 2;
		if (!(nb = realloc(b->buf, cap))) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->buf = nb;
		b->cap = cap;
	}
	b->len = NLMSG_ALIGN(b->len);
	p = b->buf + b->len;
	memset(p, 0, NLA_ALIGN(n));
	b->len += NLA_ALIGN(n);
	return p;
}

static void header(struct nft_batch *b, uint16_t type, uint16_t flags, uint8_t family,
		   uint16_t res, uint32_t seq)
{
	struct nlmsghdr *h = room(b, NLMSG_LENGTH(sizeof(struct nfgenmsg)));
	struct nfgenmsg *g;

	if (!h)
		return;
	h->nlmsg_len = NLMSG_LENGTH(sizeof(*g));
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = seq;
	g = NLMSG_DATA(h);
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(res);
}

void nft_batch_init(struct nft_batch *b)
{
	*b = (struct nft_batch){ .seq0 = next_seq };
	header(b, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, b->seq0);
}

void nft_batch_free(struct nft_batch *b)
{
	free(b->buf);
	free(b->what);
	*b = (struct nft_batch){ 0 };
}

void nft_msg_begin(struct nft_batch *b, uint16_t type, uint16_t flags, const char *what)
{
	if (b->nr == b->nr_cap && !b->err) {
		size_t cap = b->nr_cap ? b->nr_cap * 2 : 16;
		const char **nw = realloc(b->what, cap * sizeof(*nw));

		if (!nw) {
			b->err = -ENOMEM;
			return;
		}
		b->what = nw;
		b->nr_cap = cap;
	}
	if (b->err)
		return;
	b->msg = NLMSG_ALIGN(b->len);
	header(b, (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | type), NLM_F_ACK | flags, NFPROTO_INET,
	       0, b->seq0 + 1 + (uint32_t)b->nr);
	b->what[b->nr++] = what;
}

void nft_msg_end(struct nft_batch *b)
{
	if (!b->err)
		((struct nlmsghdr *)(b->buf + b->msg))->nlmsg_len = (uint32_t)(b->len - b->msg);
}

void nft_put(struct nft_batch *b, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = room(b, NLA_HDRLEN + len);

	if (!a)
		return;
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
}

void nft_put_str(struct nft_batch *b, uint16_t type, const char *s)
{
	nft_put(b, type, s, strlen(s) + 1);
}

void nft_put_be32(struct nft_batch *b, uint16_t type, uint32_t v)
{
	v = htonl(v);
	nft_put(b, type, &v, sizeof(v));
}

size_t nft_nest_begin(struct nft_batch *b, uint16_t type)
{
	size_t at = NLMSG_ALIGN(b->len);

	nft_put(b, type | NLA_F_NESTED, NULL, 0);
	return at;
}

void nft_nest_end(struct nft_batch *b, size_t at)
{
	if (b->err)
		return;
	if (b->len - at > 0xffff)
		b->err = -EMSGSIZE;	/* nla_len is 16 bits */
	else
		((struct nlattr *)(b->buf + at))->nla_len = (uint16_t)(b->len - at);
}

int nft_socket(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER), on = 1;
	/* the kernel always answers a batch; a bound wait all the same, the
	 * tree being frozen meanwhile */
	struct timeval tv = { .tv_sec = 10 };

	if (s < 0)
		return -errno;
	/* errors carry no copy of the (maybe large) message, but the kernel's words */
	setsockopt(s, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
	setsockopt(s, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

/* The kernel's message (NLMSGERR_ATTR_MSG) of an extended ack, or NULL. */
static const char *ext_msg(const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = sizeof(*e), end = h->nlmsg_len - NLMSG_HDRLEN;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(e->msg.nlmsg_len) - sizeof(e->msg);
	while (off + NLA_HDRLEN <= end) {
		const struct nlattr *a = (const void *)((const char *)e + off);

		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > end)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG &&
		    a->nla_len > NLA_HDRLEN && ((const char *)a)[a->nla_len - 1] == '\0')
			return (const char *)a + NLA_HDRLEN;
		off += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

static int send_all(struct nft_batch *b, int s)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	/* one datagram, which must fit the send buffer (root may raise it) */
	if (b->len > 64 * 1024) {
		int size = (int)(b->len + 64 * 1024);

		if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
			setsockopt(s, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
	if (sendto(s, b->buf, b->len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) !=
	    (ssize_t)b->len)
		return errno ? -errno : -EIO;
	return 0;
}

/* One ack of the batch: counted, and its error kept when it is the first. */
static int take_ack(const struct nft_batch *b, const struct nlmsghdr *h, int *r, char *why,
		    size_t len)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	uint32_t i = h->nlmsg_seq - b->seq0;
	const char *ext;

	if (h->nlmsg_type != NLMSG_ERROR || i > b->nr || h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
		return 0;	/* not an ack of this batch */
	if (e->error && !*r) {
		*r = e->error;
		ext = ext_msg(h);
		snprintf(why, len, "%s: %s%s%s", i ? b->what[i - 1] : "the batch",
			 strerror(-*r), ext ? ": " : "", ext ? ext : "");
	}
	/* on BATCH_BEGIN: the batch refused whole, no other answer comes */
	return i ? 1 : -1;
}

#define ACKS 32		/* read at once: the kernel queues them all before sendto returns */
#define ACK_SIZE 512	/* an ack: headers, and the kernel's words (NETLINK_CAP_ACK) */

int nft_batch_run(struct nft_batch *b, int s, char *why, size_t len)
{
	char acks[ACKS][ACK_SIZE] __attribute__((aligned(4)));
	struct mmsghdr m[ACKS];
	struct iovec iov[ACKS];
	size_t pending = b->nr;
	int r = 0;

	header(b, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES,
	       b->seq0 + 1 + (uint32_t)b->nr);
	next_seq = b->seq0 + (uint32_t)b->nr + 2;
	if (b->err || (r = send_all(b, s))) {
		r = b->err ? b->err : r;
		snprintf(why, len, "%s", strerror(-r));
		return r;
	}
	for (int k = 0; k < ACKS; k++) {
		iov[k] = (struct iovec){ acks[k], ACK_SIZE };
		m[k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[k], .msg_iovlen = 1 } };
	}
	while (pending) {
		int got = recvmmsg(s, m, ACKS, MSG_WAITFORONE, NULL);

		if (got <= 0) {
			r = got < 0 ? -errno : -EIO;
			snprintf(why, len, "no answer from nf_tables: %s",
				 got < 0 && errno == EAGAIN ? "timed out" : strerror(-r));
			return r;
		}
		for (int k = 0; k < got; k++) {
			struct nlmsghdr *h = (struct nlmsghdr *)acks[k];
			size_t n = m[k].msg_len;

			for (; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
				int t = take_ack(b, h, &r, why, len);

				if (t < 0)
					return r ? r : -EIO;
				pending -= (size_t)t;
			}
		}
	}
	return r;
}
