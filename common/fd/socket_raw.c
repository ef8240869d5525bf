/* Packets criu-lite makes up and sends to a restored socket, as if its
 * peer had sent them: a datagram that was queued (from its sender's
 * address), a TCP FIN or ACK the peer had sent (half-closed connections).
 * Through a raw socket with our own IP header, marked so that the network
 * lock lets it pass; the destination is local, so the packet goes through
 * the loopback path straight to the socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"

static uint32_t sum16(const void *p, size_t len, uint32_t s)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* The L4 checksum over the pseudo-header and `cover` bytes of l4. */
static uint16_t l4_sum(int family, const void *src, const void *dst, int proto, const void *l4,
		       size_t len, size_t cover)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	uint32_t s = sum16(src, alen, 0);

	s = sum16(dst, alen, s);
	s += (uint32_t)proto + (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
	return fold(sum16(l4, cover, s));
}

/* Send l4 (its checksum field at csum_off, 0 there) from src to dst. */
int sk_raw_send(int family, int proto, const void *src, const void *dst, void *l4, size_t len,
		size_t csum_off, size_t cover)
{
	size_t hlen = family == AF_INET6 ? sizeof(struct ip6_hdr) : sizeof(struct iphdr);
	uint8_t *pkt = calloc(1, hlen + len);
	struct sockaddr_storage to = { .ss_family = (sa_family_t)family };
	int s, mark = SK_LOCK_MARK, r = 0;
	uint16_t sum;

	if (!pkt)
		return -ENOMEM;
	sum = l4_sum(family, src, dst, proto, l4, len, cover ? cover : len);
	memcpy((uint8_t *)l4 + csum_off, &sum, 2);
	if (family == AF_INET6) {
		struct ip6_hdr *h = (struct ip6_hdr *)pkt;

		h->ip6_flow = htonl(6u << 28);
		h->ip6_plen = htons((uint16_t)len);
		h->ip6_nxt = (uint8_t)proto;
		h->ip6_hlim = 64;
		memcpy(&h->ip6_src, src, 16);
		memcpy(&h->ip6_dst, dst, 16);
		memcpy(&((struct sockaddr_in6 *)&to)->sin6_addr, dst, 16);
	} else {
		struct iphdr *h = (struct iphdr *)pkt;

		h->version = 4;
		h->ihl = 5;
		h->ttl = 64;
		h->protocol = (uint8_t)proto;
		h->tot_len = htons((uint16_t)(hlen + len));	/* the kernel fills id and checksum */
		memcpy(&h->saddr, src, 4);
		memcpy(&h->daddr, dst, 4);
		memcpy(&((struct sockaddr_in *)&to)->sin_addr, dst, 4);
	}
	memcpy(pkt + hlen, l4, len);
	s = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) ||
	    sendto(s, pkt, hlen + len, 0, (struct sockaddr *)&to,
		   family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0)
		r = -errno;
	if (s >= 0)
		close(s);
	free(pkt);
	return r;
}

/* A datagram from (src, sport) to (dst, dport), UDP or UDP-Lite. */
int sk_raw_udp(int family, int proto, const void *src, uint16_t sport, const void *dst,
	       uint16_t dport, const void *data, size_t len)
{
	uint8_t *l4 = malloc(sizeof(struct udphdr) + len);
	struct udphdr *u = (struct udphdr *)l4;
	int r;

	if (!l4)
		return -ENOMEM;
	memset(u, 0, sizeof(*u));
	u->source = htons(sport);
	u->dest = htons(dport);
	/* UDP-Lite: the length field is the checksum coverage (0: all) */
	u->len = proto == IPPROTO_UDPLITE ? 0 : htons((uint16_t)(sizeof(*u) + len));
	memcpy(l4 + sizeof(*u), data, len);
	r = sk_raw_send(family, proto, src, dst, l4, sizeof(*u) + len,
			offsetof(struct udphdr, check), 0);
	free(l4);
	return r;
}

/* A bare TCP segment (no data) with flags, seq and ack. */
int sk_raw_tcp(int family, const void *src, uint16_t sport, const void *dst, uint16_t dport,
	       uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win)
{
	struct tcphdr t;

	memset(&t, 0, sizeof(t));
	t.source = htons(sport);
	t.dest = htons(dport);
	t.seq = htonl(seq);
	t.ack_seq = htonl(ack);
	t.doff = sizeof(t) / 4;
	t.th_flags = flags;
	t.window = htons(win);
	return sk_raw_send(family, IPPROTO_TCP, src, dst, &t, sizeof(t),
			   offsetof(struct tcphdr, check), 0);
}
