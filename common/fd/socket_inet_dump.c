/* Inet sockets, dump: what sock_diag does not say, asked of the socket.
 *
 * Sockets no table lists (neither bound nor connected, ICMP ping sockets)
 * get their state and addresses from the socket itself. A TCP connection
 * is read in repair mode (socket_tcp_dump.c); a listener's accept queue
 * holds connections no fd holds yet, which nothing can read without
 * accepting them: named. Datagram sockets get their queued datagrams
 * (socket_queue.c) and their multicast groups (socket_mcast.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

int sk_inet_dump(struct fd_dump *c, const struct fd_desc *d, const struct sk_rec *r, int s,
		 SocketInfo *si);
int sk_mcast_dump(pid_t pid, int s, SocketInfo *si);

static SockAddr *addr_of(const struct sockaddr_storage *ss)
{
	SockAddr *a = malloc(sizeof(*a));
	const void *ip;

	if (!a)
		return NULL;
	sock_addr__init(a);
	a->has_port = true;
	if (ss->ss_family == AF_INET6) {
		ip = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		a->port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	} else {
		ip = &((const struct sockaddr_in *)ss)->sin_addr;
		a->port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	}
	if (!(a->ip = sk_ip_string(ss->ss_family == AF_INET6 ? AF_INET6 : AF_INET, ip))) {
		free(a);
		return NULL;
	}
	return a;
}

static int pending(SocketInfo *si, const char *fmt, unsigned int n)
{
	char buf[160];

	snprintf(buf, sizeof(buf), fmt, n);
	free(si->pending_why);
	si->pending_why = strdup(buf);
	return si->pending_why ? 0 : -ENOMEM;
}

/* "HEX:PORT" of /proc/net/icmp{,6} (each 32-bit word in host order). */
static bool hex_addr(const char *h, int fam, struct sockaddr_storage *ss)
{
	uint32_t w[4];
	unsigned int port;
	int words = fam == AF_INET6 ? 4 : 1;

	memset(ss, 0, sizeof(*ss));
	for (int i = 0; i < words; i++)
		if (sscanf(h + 8 * i, "%8x", &w[i]) != 1)
			return false;
	if (h[8 * words] != ':' || sscanf(h + 8 * words + 1, "%x", &port) != 1)
		return false;
	ss->ss_family = (sa_family_t)fam;
	if (fam == AF_INET6) {
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, w, 16);
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	} else {
		((struct sockaddr_in *)ss)->sin_addr.s_addr = w[0];
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	}
	return true;
}

/* A ping socket's peer: getpeername fails for it (its "port" is 0), so
 * /proc/PID/net/icmp says, by inode. */
static int ping_peer(pid_t pid, SocketInfo *si)
{
	int fam = (int)si->family;
	char path[64], line[512], loc[64], rem[64];
	struct sockaddr_storage ss;
	unsigned long long ino;
	unsigned int st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, fam == AF_INET6 ? "icmp6" : "icmp");
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %*d: %63s %63s %x %*s %*s %*s %*s %*s %llu", loc, rem, &st,
			   &ino) != 4 || ino != si->ino)
			continue;
		if (st == SK_ESTABLISHED && hex_addr(rem, fam, &ss)) {
			si->state = SK_ESTABLISHED;
			if (!(si->peer = addr_of(&ss))) {
				fclose(f);
				return -ENOMEM;
			}
		}
		break;
	}
	if (f)
		fclose(f);
	return 0;
}

/* Addresses and state of a socket sock_diag does not list. */
static int from_socket(int s, SocketInfo *si)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct tcp_info ti;
	bool connected;

	if (!getsockname(s, (struct sockaddr *)&ss, &len) && !(si->local = addr_of(&ss)))
		return -ENOMEM;
	len = sizeof(ss);
	connected = !getpeername(s, (struct sockaddr *)&ss, &len);
	if (connected && !(si->peer = addr_of(&ss)))
		return -ENOMEM;
	si->has_state = true;
	si->state = connected ? SK_ESTABLISHED : SK_CLOSE;
	len = sizeof(ti);
	if (si->protocol == IPPROTO_TCP && !getsockopt(s, SOL_TCP, TCP_INFO, &ti, &len))
		si->state = ti.tcpi_state;
	return 0;
}

static int tcp_listener(int s, SocketInfo *si)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(s, SOL_TCP, TCP_INFO, &ti, &len))
		return 0;
	if (!si->has_backlog) {
		si->has_backlog = true;
		si->backlog = ti.tcpi_sacked;		/* sk_max_ack_backlog */
	}
	if (ti.tcpi_unacked)				/* sk_ack_backlog */
		return pending(si, "listening TCP socket with %u connections not yet accepted: "
			       "they cannot be read without accepting them", ti.tcpi_unacked);
	return 0;
}

static int tcp(struct fd_dump *c, const struct fd_desc *d, int s, SocketInfo *si)
{
	switch (si->state) {
	case SK_LISTEN:
		return tcp_listener(s, si);
	case SK_CLOSE:
		return 0;
	case TCP_SYN_SENT:
	case TCP_SYN_RECV:
		return pending(si, "TCP socket still connecting (state %u)", si->state);
	default:
		return sk_tcp_dump(c, d, s, si);
	}
}

static int datagram(struct fd_dump *c, int s, SocketInfo *si)
{
	int r = sk_mcast_dump(c->pid, s, si), inq = 0;

	if (r)
		return r;
	if (si->protocol == IPPROTO_UDP || si->protocol == IPPROTO_UDPLITE)
		return sk_queue_dump(c, s, si);
	/* ICMP ping sockets do not peek at an offset: only an empty queue is exact */
	if (!ioctl(s, FIONREAD, &inq) && inq)
		return pending(si, "ICMP socket with %u bytes of replies queued", (unsigned)inq);
	return 0;
}

int sk_inet_dump(struct fd_dump *c, const struct fd_desc *d, const struct sk_rec *r, int s,
		 SocketInfo *si)
{
	int ret = 0;

	if (s < 0)
		return 0;
	if (!r)
		ret = from_socket(s, si);
	if (!ret && !si->peer && (si->protocol == IPPROTO_ICMP || si->protocol == IPPROTO_ICMPV6))
		ret = ping_peer(c->pid, si);
	if (ret)
		return ret;
	if (si->type == SOCK_STREAM && si->protocol == IPPROTO_TCP)
		return tcp(c, d, s, si);
	if (si->type == SOCK_DGRAM)
		return datagram(c, s, si);
	return -EOPNOTSUPP;
}
