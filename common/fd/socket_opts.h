/* Socket options, dump: what socket_opts.c's table is made of, shared
 * with socket_opts_known.c (the values known without asking the socket). */
#ifndef CRIU_LITE_COMMON_FD_SOCKET_OPTS_H
#define CRIU_LITE_COMMON_FD_SOCKET_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/filter.h>

#include "common/fd/socket.h"

enum how { INT, BUF, TIMEVAL, LINGER, STR, FILTER, INADDR };

/* Which sockets a row applies to. */
enum {
	F_UNIX = 1, F_IN4 = 2, F_IN6 = 4, F_PACKET = 8, F_NETLINK = 16,
	F_TCP = 32, F_UDP = 64, F_UDPLITE = 128, F_NOT_CONN = 256,
	F_INET = F_IN4 | F_IN6, F_ALL = F_UNIX | F_INET | F_PACKET | F_NETLINK,
};

struct opt {
	int level, name;
	const char *field;
	unsigned int where;
	enum how how;
	enum sk_opts_when when;
};

/* One option's value as read. */
struct val {
	bool ok;
	int64_t i;
	char str[64];
	struct sock_filter *filter;
	size_t filter_len;		/* instructions */
};

/* socket_opts_known.c: o's value as sock_diag gave it in r, or as the BPF
 * iterator read it (ref: a new socket's value, for a field at the
 * namespace's default; NULL: none); true when they give it. */
bool sk_opt_from_diag(const struct sk_rec *r, const struct opt *o, struct val *v);
bool sk_opt_from_bpf(const struct sk_rec *r, const struct opt *o, const struct val *ref,
		     struct val *v);

#endif
