/* Netlink and packet sockets, dump and restore.
 *
 * Netlink: the protocol, the port id it is bound to, every group it joined
 * (NETLINK_LIST_MEMBERSHIPS: all of them, not only the first 32 getsockname
 * shows), the peer it is connected to, and its flags. A port id another
 * socket took meanwhile is given up for a new one (warned): the kernel
 * answers a socket whatever its port id.
 * Packet: the protocol and the interface it is bound to, and its options.
 * What neither can bring back is named at dump: messages or frames queued
 * (no one can queue them again to one socket), a packet ring mapped into
 * the process, fanout groups. Other families are not supported. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <net/ethernet.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

int sk_other_dump(struct fd_dump *c, int s, SocketInfo *si);
int sk_other_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_other_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len);

static int name(SocketInfo *si, const char *what)
{
	free(si->pending_why);
	si->pending_why = strdup(what);
	return si->pending_why ? 0 : -ENOMEM;
}

static bool queued(int s)
{
	char b;

	return recv(s, &b, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0;
}

static int netlink_dump(int s, SocketInfo *si)
{
	struct sockaddr_nl a;
	socklen_t l = sizeof(a);
	uint32_t groups[64];

	if (getsockname(s, (struct sockaddr *)&a, &l))
		return -errno;
	si->has_nl_portid = true;
	si->nl_portid = a.nl_pid;
	l = sizeof(groups);
	if (!getsockopt(s, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &l) && l) {
		size_t n = l / sizeof(uint32_t);

		if (n > 64)
			n = 64;
		if (!(si->nl_groups = malloc(n * sizeof(uint32_t))))
			return -ENOMEM;
		memcpy(si->nl_groups, groups, n * sizeof(uint32_t));
		si->n_nl_groups = n;
	}
	l = sizeof(a);
	if (!getpeername(s, (struct sockaddr *)&a, &l) && (a.nl_pid || a.nl_groups)) {
		si->has_nl_dst_portid = si->has_nl_dst_group = true;
		si->nl_dst_portid = a.nl_pid;
		si->nl_dst_group = a.nl_groups;
	}
	return queued(s) ? name(si, "netlink messages are queued unread") : 0;
}

/* Is the socket mapped into the process (a packet ring)? */
static bool mapped(pid_t pid, uint64_t ino)
{
	char path[64], line[512], want[40];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	snprintf(want, sizeof(want), " %llu ", (unsigned long long)ino);
	f = fopen(path, "re");
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, want) && strstr(line, "socket:");
	if (f)
		fclose(f);
	return found;
}

static int packet_dump(struct fd_dump *c, int s, SocketInfo *si)
{
	struct sockaddr_ll a;
	socklen_t l = sizeof(a);
	int fanout = 0;

	if (getsockname(s, (struct sockaddr *)&a, &l))
		return -errno;
	si->has_ifindex = true;
	si->ifindex = (uint32_t)a.sll_ifindex;
	/* what it hears (network order), which SO_PROTOCOL does not say */
	si->has_protocol = true;
	si->protocol = a.sll_protocol;
	l = sizeof(fanout);
	if (!getsockopt(s, SOL_PACKET, PACKET_FANOUT, &fanout, &l) && fanout)
		return name(si, "packet socket in a fanout group");
	if (mapped(c->pid, si->ino))
		return name(si, "packet socket with a ring mapped into the process");
	return queued(s) ? name(si, "packets are queued unread") : 0;
}

int sk_other_dump(struct fd_dump *c, int s, SocketInfo *si)
{
	if (s < 0)
		return 0;
	if (si->family == AF_NETLINK)
		return netlink_dump(s, si);
	if (si->family == AF_PACKET)
		return packet_dump(c, s, si);
	return -EOPNOTSUPP;
}

int sk_other_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (e->sock->family == AF_NETLINK || e->sock->family == AF_PACKET)
		return 0;
	return fd_rst_fail(why, len, EOPNOTSUPP, "socket of family %u", e->sock->family);
}

static int netlink_open(int s, const SocketInfo *si, char *why, size_t len)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = si->nl_portid };

	if (si->nl_portid && bind(s, (struct sockaddr *)&a, sizeof(a))) {
		if (errno != EADDRINUSE)
			return fd_rst_fail(why, len, errno, "netlink bind: %s", strerror(errno));
		pr_warn("netlink socket %llu: port id %u is taken: it gets another",
			(unsigned long long)si->ino, si->nl_portid);
		a.nl_pid = 0;
		if (bind(s, (struct sockaddr *)&a, sizeof(a)))
			return fd_rst_fail(why, len, errno, "netlink bind: %s", strerror(errno));
	}
	for (size_t w = 0; w < si->n_nl_groups; w++)
		for (int b = 0; b < 32; b++) {
			int g = (int)(w * 32 + (size_t)b + 1);

			if ((si->nl_groups[w] >> b & 1) &&
			    setsockopt(s, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)))
				return fd_rst_fail(why, len, errno, "netlink group %d: %s", g,
						   strerror(errno));
		}
	if (si->has_nl_dst_portid && (si->nl_dst_portid || si->nl_dst_group)) {
		a.nl_pid = si->nl_dst_portid;
		a.nl_groups = si->nl_dst_group;
		if (connect(s, (struct sockaddr *)&a, sizeof(a)))
			return fd_rst_fail(why, len, errno, "netlink connect: %s", strerror(errno));
	}
	return 0;
}

static int packet_open(int s, const SocketInfo *si, char *why, size_t len)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_ifindex = (int)si->ifindex,
				 .sll_protocol = (uint16_t)si->protocol };

	if ((si->ifindex || si->protocol) && bind(s, (struct sockaddr *)&a, sizeof(a)))
		return fd_rst_fail(why, len, errno, "cannot bind the packet socket to interface "
				   "%u: %s", si->ifindex, strerror(errno));
	return 0;
}

int sk_other_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	const SocketInfo *si = e->sock;
	/* a packet socket hears nothing until bound to its protocol (below) */
	int s = socket((int)si->family, (int)si->type | SOCK_CLOEXEC,
		       si->family == AF_PACKET ? 0 : (int)si->protocol);
	struct sk_obj *o;

	if (s < 0)
		return fd_rst_fail(why, len, errno, "cannot create a socket of family %u: %s",
				   si->family, strerror(errno));
	if (!(o = sk_obj_add(r, si->ino, e, s))) {
		close(s);
		return -ENOMEM;
	}
	if (sk_opts_restore(s, si, SK_OPTS_BIND, why, len))
		return -EINVAL;
	return si->family == AF_NETLINK ? netlink_open(s, si, why, len) :
					  packet_open(s, si, why, len);
}
