/* sock_diag's netlink transport: see socket_diag_nl.h. Not libnl's: it
 * reads each datagram twice (a peek to size it, then the read) and copies
 * every message into a buffer of its own before its callback sees it. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/unix_diag.h>

#include "common/fd/socket_diag_nl.h"

bool sk_diag_attrs(const struct nlmsghdr *h, size_t hlen, const struct nlattr **tb, int max)
{
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(hlen);

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (h->nlmsg_len < NLMSG_HDRLEN + hlen)
		return false;
	while (off + NLA_HDRLEN <= h->nlmsg_len) {
		const struct nlattr *a = (const void *)((const char *)h + off);
		int type = a->nla_type & NLA_TYPE_MASK;

		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len)
			break;
		if (type <= max)
			tb[type] = a;
		off += NLA_ALIGN(a->nla_len);
	}
	return true;
}

static int diag_broken(struct sk_diag_sock *ds, int err)
{
	ds->broken = true;
	return err;
}

/* How a dump ended: 0, or the kernel's positive errno. */
static int diag_end(const struct nlmsghdr *h, bool intr)
{
	int err;

	if (h->nlmsg_type == NLMSG_ERROR) {
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
			return EPROTO;
		err = ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
		return err < 0 ? -err : EPROTO;
	}
	/* NLMSG_DONE carries the dump's own result, an int */
	if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
		memcpy(&err, NLMSG_DATA(h), sizeof(err));
		if (err < 0)
			return -err;
	}
	return intr ? EINTR : 0;
}

int sk_diag_walk(struct sk_diag_sock *ds, struct sk_cache *c, uint16_t type,
		 const void *req, size_t len, sk_diag_parse_t parse)
{
	struct {
		struct nlmsghdr h;
		union {
			struct unix_diag_req u;
			struct inet_diag_req_v2 v2;
			struct inet_diag_req v1;
		} req;
	} msg = { .h = {
		.nlmsg_len = NLMSG_LENGTH(len),
		.nlmsg_type = type,
		.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		.nlmsg_seq = ++ds->seq,
	} };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	bool intr = false;

	if (len > sizeof(msg.req))
		return EINVAL;
	memcpy(&msg.req, req, len);
	if (sendto(ds->fd, &msg, msg.h.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return diag_broken(ds, errno);
	for (;;) {
		ssize_t n = recv(ds->fd, ds->buf, SK_DIAG_BUF_SIZE, MSG_TRUNC);
		const struct nlmsghdr *h = (const void *)ds->buf;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return diag_broken(ds, n ? errno : EPIPE);
		if (n > (ssize_t)SK_DIAG_BUF_SIZE)
			return diag_broken(ds, EMSGSIZE);
		for (; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			int r;

			if (h->nlmsg_seq != ds->seq)
				continue;
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				return diag_end(h, intr);
			if (h->nlmsg_type < NLMSG_MIN_TYPE)
				continue;
			if ((r = parse(c, h)) < 0)
				return r;
		}
	}
}
