/* Restore target: a netlink socket (route, bound, in a group past the 32
 * getsockname shows, with NETLINK_NO_ENOBUFS) and a packet socket bound to
 * lo with PACKET_AUXDATA, for an experimental ethertype no traffic uses
 * (frames queued to a packet socket cannot be queued again: a dump names
 * them). argv[1]: the go file. After it: each is used as a
 * program would, "OK <case>"/"FAIL <case>: ..." then "DONE". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "target.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static int fails;

#define CHECK(name, cond, ...) do {					\
	if (cond) printf("OK %s\n", name);				\
	else { printf("FAIL %s: ", name); printf(__VA_ARGS__); printf("\n"); fails++; } \
} while (0)

static int get_int(int s, int level, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(s, level, opt, &v, &l);
	return v;
}

/* RTM_GETLINK for lo, answered by the kernel on the same socket. */
static bool route_answers(int nl)
{
	struct { struct nlmsghdr h; struct ifinfomsg i; } req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
		       .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 7 },
		.i = { .ifi_family = AF_UNSPEC, .ifi_index = (int)if_nametoindex("lo") },
	};
	char buf[8192];
	ssize_t n;

	if (send(nl, &req, sizeof(req), 0) != sizeof(req))
		return false;
	n = recv(nl, buf, sizeof(buf), 0);
	return n > (ssize_t)sizeof(struct nlmsghdr) &&
	       ((struct nlmsghdr *)buf)->nlmsg_type == RTM_NEWLINK &&
	       ((struct nlmsghdr *)buf)->nlmsg_seq == 7;
}

static bool in_group(int s, int g)
{
	uint32_t groups[8] = { 0 };
	socklen_t l = sizeof(groups);

	return !getsockopt(s, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &l) &&
	       (groups[(g - 1) / 32] >> ((g - 1) % 32) & 1);
}

int main(int argc, char **argv)
{
	struct sockaddr_nl na = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	struct sockaddr_ll la = { .sll_family = AF_PACKET, .sll_protocol = htons(0x88b5),
				  .sll_ifindex = (int)if_nametoindex("lo") };
	socklen_t l = sizeof(na);
	int nl, pk, one = 1, far = RTNLGRP_IPV6_NETCONF;
	uint32_t portid;

	if (argc < 2)
		return 2;
	nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	pk = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
	if (nl < 0 || pk < 0 || bind(nl, (struct sockaddr *)&na, sizeof(na)) ||
	    setsockopt(nl, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &far, sizeof(far)) ||
	    setsockopt(nl, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one)) ||
	    getsockname(nl, (struct sockaddr *)&na, &l) ||
	    bind(pk, (struct sockaddr *)&la, sizeof(la)) ||
	    setsockopt(pk, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)))
		return 1;
	portid = na.nl_pid;
	target_ready("pid=%d", getpid());
	while (access(argv[1], F_OK))
		usleep(1000);
	l = sizeof(na);
	getsockname(nl, (struct sockaddr *)&na, &l);
	CHECK("netlink", na.nl_pid == portid && in_group(nl, RTNLGRP_LINK) &&
	      in_group(nl, far) && get_int(nl, SOL_NETLINK, NETLINK_NO_ENOBUFS) == 1 &&
	      route_answers(nl), "port %u (want %u), groups %d %d", na.nl_pid, portid,
	      in_group(nl, RTNLGRP_LINK), in_group(nl, far));
	l = sizeof(la);
	getsockname(pk, (struct sockaddr *)&la, &l);
	CHECK("packet", la.sll_ifindex == (int)if_nametoindex("lo") &&
	      la.sll_protocol == htons(0x88b5) && get_int(pk, SOL_PACKET, PACKET_AUXDATA) == 1,
	      "ifindex %d auxdata %d", la.sll_ifindex, get_int(pk, SOL_PACKET, PACKET_AUXDATA));
	printf("DONE %d\n", fails);
	fflush(stdout);
	return fails ? 1 : 0;
}
