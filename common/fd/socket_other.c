/* Netlink and packet sockets (placeholder). */
#include <errno.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"

int sk_other_dump(struct fd_dump *c, int s, SocketInfo *si);
int sk_other_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_other_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len);

int sk_other_dump(struct fd_dump *c, int s, SocketInfo *si)
{
	(void)c; (void)s; (void)si;
	return -EOPNOTSUPP;
}

int sk_other_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	return fd_rst_fail(why, len, EOPNOTSUPP, "socket of family %u", e->sock->family);
}

int sk_other_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	return fd_rst_fail(why, len, EOPNOTSUPP, "socket of family %u", e->sock->family);
}
