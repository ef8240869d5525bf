/* Restore target: datagram sockets (UDP, UDP-Lite, ICMP ping; IPv4 and
 * IPv6). argv[1]: the go file.
 *
 * Set up: datagrams queued to a bound UDP socket from two senders (one a
 * socket of ours, one gone), a connected UDP pair over IPv6 with a
 * datagram queued each way, a UDP-Lite socket with a datagram queued and
 * its checksum coverage set, a socket in a multicast group with SO_BROADCAST,
 * a connected socket shut down for writing, and an ICMP ping socket. After
 * the go file, each is checked as the program would use it: "OK <case>" or
 * "FAIL <case>: ...", then "DONE". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "target.h"

#ifndef SOL_UDPLITE
#define SOL_UDPLITE 136
#endif
#define UDPLITE_SEND_CSCOV 10

static int fails;

#define CHECK(name, cond, ...) do {					\
	if (cond) printf("OK %s\n", name);				\
	else { printf("FAIL %s: ", name); printf(__VA_ARGS__); printf("\n"); fails++; } \
} while (0)

static int xcheck(int r, const char *what)
{
	if (r < 0) {
		printf("FAIL setup %s: %s\n", what, strerror(errno));
		exit(1);
	}
	return r;
}

static socklen_t addr(int fam, struct sockaddr_storage *ss, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)fam;
	if (fam == AF_INET6) {
		((struct sockaddr_in6 *)ss)->sin6_addr = in6addr_loopback;
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		return sizeof(struct sockaddr_in6);
	}
	((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	((struct sockaddr_in *)ss)->sin_port = htons(port);
	return sizeof(struct sockaddr_in);
}

static int bound(int fam, int proto, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t l = addr(fam, &ss, 0);
	int s = xcheck(socket(fam, SOCK_DGRAM, proto), "socket");

	xcheck(bind(s, (struct sockaddr *)&ss, l), "bind");
	l = sizeof(ss);
	getsockname(s, (struct sockaddr *)&ss, &l);
	*port = ntohs(fam == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
				       ((struct sockaddr_in *)&ss)->sin_port);
	return s;
}

static void send_to(int s, int fam, uint16_t port, const char *msg)
{
	struct sockaddr_storage ss;
	socklen_t l = addr(fam, &ss, port);

	xcheck((int)sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&ss, l), "sendto");
}

static void connect_to(int s, int fam, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t l = addr(fam, &ss, port);

	xcheck(connect(s, (struct sockaddr *)&ss, l), "connect");
}

/* One datagram: its text and its sender's port. */
static bool got(int s, const char *want, uint16_t from)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	char buf[64];
	ssize_t n = recvfrom(s, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&ss, &l);
	uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
					    ((struct sockaddr_in *)&ss)->sin_port);

	if (n < 0)
		return false;
	buf[n] = '\0';
	if (strcmp(buf, want) || (from && port != from))
		printf("# got '%s' from port %u, want '%s' from %u\n", buf, port, want, from);
	return !strcmp(buf, want) && (!from || port == from);
}

static int srv, snd, a6, b6, lite, mc, shut, ping;
static uint16_t srv_port, snd_port, gone_port, a6_port, b6_port, lite_port, ping_id;

static void setup(void)
{
	struct ip_mreqn mr = { .imr_ifindex = (int)if_nametoindex("lo") };
	int tmp, one = 1, cov = 12;
	uint16_t p;

	srv = bound(AF_INET, 0, &srv_port);
	snd = bound(AF_INET, 0, &snd_port);
	tmp = bound(AF_INET, 0, &gone_port);
	send_to(snd, AF_INET, srv_port, "from-snd");
	send_to(tmp, AF_INET, srv_port, "from-gone");
	close(tmp);
	a6 = bound(AF_INET6, 0, &a6_port);
	b6 = bound(AF_INET6, 0, &b6_port);
	connect_to(a6, AF_INET6, b6_port);
	connect_to(b6, AF_INET6, a6_port);
	xcheck((int)send(a6, "a-to-b", 6, 0), "send");
	xcheck((int)send(b6, "b-to-a", 6, 0), "send");
	lite = bound(AF_INET, IPPROTO_UDPLITE, &lite_port);
	xcheck(setsockopt(lite, SOL_UDPLITE, UDPLITE_SEND_CSCOV, &cov, sizeof(cov)), "cscov");
	tmp = bound(AF_INET, IPPROTO_UDPLITE, &p);
	send_to(tmp, AF_INET, lite_port, "lite");
	close(tmp);
	mc = bound(AF_INET, 0, &p);
	inet_pton(AF_INET, "239.1.2.3", &mr.imr_multiaddr);
	xcheck(setsockopt(mc, SOL_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)), "membership");
	xcheck(setsockopt(mc, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)), "broadcast");
	shut = bound(AF_INET, 0, &p);
	connect_to(shut, AF_INET, srv_port);
	shutdown(shut, SHUT_WR);
	ping = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	if (ping >= 0) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t l = sizeof(a);

		connect_to(ping, AF_INET, 0);
		getsockname(ping, (struct sockaddr *)&a, &l);
		ping_id = ntohs(a.sin_port);
	}
}

static bool in_group(int s)
{
	struct group_filter gf = { .gf_interface = if_nametoindex("lo"), .gf_numsrc = 0 };
	socklen_t l = sizeof(gf);

	gf.gf_group.ss_family = AF_INET;
	inet_pton(AF_INET, "239.1.2.3", &((struct sockaddr_in *)&gf.gf_group)->sin_addr);
	return !getsockopt(s, SOL_IP, MCAST_MSFILTER, &gf, &l);
}

static void check(void)
{
	struct icmphdr echo = { .type = ICMP_ECHO, .un.echo.sequence = htons(7) };
	int v = 0, cov = 0;
	socklen_t l = sizeof(v);
	char buf[64];

	CHECK("udp_queued_senders", got(srv, "from-snd", snd_port) && got(srv, "from-gone", gone_port),
	      "datagrams or senders differ");
	send_to(snd, AF_INET, srv_port, "new");
	CHECK("udp_still_bound", got(srv, "new", snd_port), "no new datagram");
	CHECK("udp6_connected", got(b6, "a-to-b", a6_port) && got(a6, "b-to-a", b6_port) &&
	      send(a6, "again", 5, 0) == 5 && got(b6, "again", a6_port), "pair broken");
	getsockopt(lite, SOL_UDPLITE, UDPLITE_SEND_CSCOV, &cov, &l);
	CHECK("udplite", got(lite, "lite", 0) && cov == 12, "cscov %d", cov);
	l = sizeof(v);
	getsockopt(mc, SOL_SOCKET, SO_BROADCAST, &v, &l);
	CHECK("multicast_broadcast", in_group(mc) && v == 1, "member %d, broadcast %d",
	      in_group(mc), v);
	CHECK("udp_shutdown", send(shut, "x", 1, 0) < 0 && errno == EPIPE, "send after SHUT_WR: %s",
	      strerror(errno));
	if (ping >= 0) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t al = sizeof(a);

		getsockname(ping, (struct sockaddr *)&a, &al);
		CHECK("icmp_ping", ntohs(a.sin_port) == ping_id &&
		      send(ping, &echo, sizeof(echo), 0) == sizeof(echo) &&
		      recv(ping, buf, sizeof(buf), 0) >= (ssize_t)sizeof(echo), "id %u want %u: %s",
		      ntohs(a.sin_port), ping_id, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	setup();
	target_ready("pid=%d ping=%d", getpid(), ping >= 0);
	while (access(argv[1], F_OK))
		usleep(1000);
	check();
	printf("DONE %d\n", fails);
	fflush(stdout);
	return fails ? 1 : 0;
}
