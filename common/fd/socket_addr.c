/* Socket addresses, between the images' text and sockaddr. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"

char *sk_ip_string(int family, const void *a)
{
	char *ip = malloc(INET6_ADDRSTRLEN);

	if (ip)
		inet_ntop(family, a, ip, INET6_ADDRSTRLEN);
	return ip;
}

/* 16 bytes, IPv4 v4-mapped, so that either side of a v4-mapped IPv6
 * connection compares equal. */
bool sk_ip16(const char *ip, uint8_t out[16])
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (ip && inet_pton(AF_INET6, ip, out) == 1)
		return true;
	memcpy(out, mapped, 12);
	return ip && inet_pton(AF_INET, ip, out + 12) == 1;
}

int sk_inet_addr(int family, const SockAddr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	uint8_t b[16];

	memset(ss, 0, sizeof(*ss));
	if (!a || !a->ip)
		return -EINVAL;
	if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (!sk_ip16(a->ip, b))
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)a->port);
		memcpy(&in6->sin6_addr, b, 16);
		*len = sizeof(*in6);
		return 0;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)a->port);
	*len = sizeof(*in);
	return inet_pton(AF_INET, a->ip, &in->sin_addr) == 1 ? 0 : -EINVAL;
}

int sk_unix_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@')
		sa->sun_path[0] = '\0';		/* abstract: no terminating NUL */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '@' ? 0 : 1));
	return 0;
}
