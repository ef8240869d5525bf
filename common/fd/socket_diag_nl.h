/* sock_diag's netlink transport (socket_diag_nl.c): one dump at a time on
 * a raw NETLINK_SOCK_DIAG socket, each reply datagram read once into one
 * buffer and handed over message by message where it lies. */
#ifndef COMMON_FD_SOCKET_DIAG_NL_H
#define COMMON_FD_SOCKET_DIAG_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

/* The kernel fills a dump datagram up to the reader's largest buffer so
 * far, capped at 32 KiB (netlink_recvmsg); twice that leaves room for a
 * kernel that allows more, and MSG_TRUNC says if it ever did. */
#define SK_DIAG_BUF_SIZE (64u << 10)

struct sk_diag_sock {
	int fd;
	uint32_t seq;
	bool broken;		/* a read failed mid-dump: what follows is unknown */
	bool probing;		/* a refusal is no failure: there is another way */
	char *buf;
};

struct sk_cache;
/* One message of a table: 0, or a negative errno that ends the load. */
typedef int (*sk_diag_parse_t)(struct sk_cache *c, const struct nlmsghdr *h);

/* The attributes after a message's fixed header of hlen bytes, the last of
 * each type kept; false when the message is shorter than its header. */
bool sk_diag_attrs(const struct nlmsghdr *h, size_t hlen, const struct nlattr **tb, int max);
/* One dump: the request of type with len bytes of req, then its replies
 * up to NLMSG_DONE through parse. 0; a positive errno when the kernel or
 * the socket failed (EINTR: the table changed under the walk,
 * NLM_F_DUMP_INTR; ds->broken: the socket is of no more use); a negative
 * one from parse. */
int sk_diag_walk(struct sk_diag_sock *ds, struct sk_cache *c, uint16_t type, const void *req,
		 size_t len, sk_diag_parse_t parse);

static inline int sk_diag_attr_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

/* The attribute's payload if it is there with at least len bytes. */
static inline const void *sk_diag_attr(const struct nlattr *a, int len)
{
	return a && sk_diag_attr_len(a) >= len ? (const char *)a + NLA_HDRLEN : NULL;
}

#endif
