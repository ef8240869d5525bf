/* Multicast groups a socket joined, dump and restore.
 *
 * No getsockopt lists a socket's groups, but MCAST_MSFILTER answers for
 * one (interface, group): the socket's source filter if it joined, else
 * EADDRNOTAVAIL. The candidates are the groups joined on each interface
 * of the netns (/proc/PID/net/igmp, igmp6), so each is asked in turn.
 * Restore joins again (MCAST_JOIN_GROUP) and puts back a source filter. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"

#define MAX_SRC 64

int sk_mcast_dump(pid_t pid, int s, SocketInfo *si);
int sk_mcast_restore(int s, const SocketInfo *si, char *why, size_t len);

/* The socket's filter for group g on ifindex, or -EADDRNOTAVAIL. */
static int ask(int s, int level, uint32_t ifindex, const struct sockaddr_storage *g,
	       struct group_filter *gf)
{
	socklen_t len = GROUP_FILTER_SIZE(MAX_SRC);

	memset(gf, 0, len);
	gf->gf_interface = ifindex;
	gf->gf_group = *g;
	gf->gf_numsrc = MAX_SRC;
	return getsockopt(s, level, MCAST_MSFILTER, gf, &len) ? -errno : 0;
}

static int add(SocketInfo *si, uint32_t ifindex, const struct group_filter *gf)
{
	const struct sockaddr_storage *g = &gf->gf_group;
	int fam = g->ss_family;
	SkMcast *m = malloc(sizeof(*m)), **n;

	if (!m)
		return -ENOMEM;
	sk_mcast__init(m);
	n = realloc(si->mcast, (si->n_mcast + 1) * sizeof(*n));
	if (!n) {
		free(m);
		return -ENOMEM;
	}
	si->mcast = n;
	n[si->n_mcast++] = m;
	m->group = sk_ip_string(fam, fam == AF_INET ? (const void *)&((const struct sockaddr_in *)g)->sin_addr :
				(const void *)&((const struct sockaddr_in6 *)g)->sin6_addr);
	m->has_ifindex = m->has_fmode = true;
	m->ifindex = ifindex;
	m->fmode = gf->gf_fmode;
	if (gf->gf_numsrc && !(m->sources = calloc(gf->gf_numsrc, sizeof(char *))))
		return -ENOMEM;
	for (uint32_t i = 0; i < gf->gf_numsrc && i < MAX_SRC; i++) {
		const struct sockaddr_storage *src = &gf->gf_slist[i];

		m->sources[m->n_sources++] = sk_ip_string(fam, fam == AF_INET ?
			(const void *)&((const struct sockaddr_in *)src)->sin_addr :
			(const void *)&((const struct sockaddr_in6 *)src)->sin6_addr);
	}
	return m->group ? 0 : -ENOMEM;
}

/* One line of igmp6 ("IDX DEV GROUP32HEX ...") or of igmp's group lines. */
static bool parse6(const char *line, uint32_t *ifindex, struct sockaddr_storage *g)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)g;
	char dev[64], hex[40];

	if (sscanf(line, "%u %63s %39s", ifindex, dev, hex) != 3 || strlen(hex) != 32)
		return false;
	memset(g, 0, sizeof(*g));
	in6->sin6_family = AF_INET6;
	for (int i = 0; i < 16; i++)
		sscanf(hex + 2 * i, "%2hhx", &in6->sin6_addr.s6_addr[i]);
	return true;
}

int sk_mcast_dump(pid_t pid, int s, SocketInfo *si)
{
	char path[64], line[256];
	struct group_filter *gf = malloc(GROUP_FILTER_SIZE(MAX_SRC));
	bool v6 = si->family == AF_INET6;
	uint32_t ifindex = 0;
	FILE *f;
	int r = 0;

	if (!gf)
		return -ENOMEM;
	/* the groups of the process's netns, not of ours */
	snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, v6 ? "igmp6" : "igmp");
	f = fopen(path, "re");
	while (f && !r && fgets(line, sizeof(line), f)) {
		struct sockaddr_storage g = { 0 };
		unsigned int grp;

		if (v6 && !parse6(line, &ifindex, &g))
			continue;
		if (!v6) {
			if (line[0] != '\t' && sscanf(line, "%u", &ifindex) == 1)
				continue;
			if (sscanf(line, " %8x", &grp) != 1 || line[0] != '\t')
				continue;
			g.ss_family = AF_INET;
			((struct sockaddr_in *)&g)->sin_addr.s_addr = grp;
		}
		if (!ask(s, v6 ? SOL_IPV6 : SOL_IP, ifindex, &g, gf))
			r = add(si, ifindex, gf);
	}
	if (f)
		fclose(f);
	free(gf);
	return r;
}

static int to_ss(int fam, const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)fam;
	return inet_pton(fam, ip, fam == AF_INET ? (void *)&((struct sockaddr_in *)ss)->sin_addr :
			 (void *)&((struct sockaddr_in6 *)ss)->sin6_addr) == 1 ? 0 : -EINVAL;
}

int sk_mcast_restore(int s, const SocketInfo *si, char *why, size_t len)
{
	int fam = si->family, level = fam == AF_INET6 ? SOL_IPV6 : SOL_IP;

	for (size_t i = 0; i < si->n_mcast; i++) {
		const SkMcast *m = si->mcast[i];
		struct group_req gr = { .gr_interface = m->ifindex };
		struct group_filter *gf;
		int rc;

		if (to_ss(fam, m->group, &gr.gr_group))
			return fd_rst_fail(why, len, EINVAL, "bad multicast group %s", m->group);
		if (setsockopt(s, level, MCAST_JOIN_GROUP, &gr, sizeof(gr)))
			return fd_rst_fail(why, len, errno, "cannot join multicast group %s on "
					   "interface %u: %s", m->group, m->ifindex, strerror(errno));
		if (m->fmode == MCAST_EXCLUDE && !m->n_sources)
			continue;
		gf = calloc(1, GROUP_FILTER_SIZE(m->n_sources));
		if (!gf)
			return -ENOMEM;
		gf->gf_interface = m->ifindex;
		gf->gf_group = gr.gr_group;
		gf->gf_fmode = m->fmode;
		gf->gf_numsrc = (uint32_t)m->n_sources;
		rc = 0;
		for (size_t k = 0; k < m->n_sources && !rc; k++)
			rc = to_ss(fam, m->sources[k], &gf->gf_slist[k]);
		if (!rc && setsockopt(s, level, MCAST_MSFILTER, gf, GROUP_FILTER_SIZE(m->n_sources)))
			rc = -errno;
		free(gf);
		if (rc)
			return fd_rst_fail(why, len, -rc, "cannot set the source filter of group %s",
					   m->group);
	}
	return 0;
}
