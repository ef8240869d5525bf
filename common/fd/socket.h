/* Private to socket*.c: the dump half of sockets, from sock_diag. */
#ifndef CRIU_LITE_COMMON_FD_SOCKET_H
#define CRIU_LITE_COMMON_FD_SOCKET_H

#include "common/fd/fd.h"

/* socket_diag.c: fill e from the sock_diag tables of the target's netns
 * (loaded at its first socket), or from the socket itself. */
int socket_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e);
void socket_dump_done(struct fd_dump *c);

#endif
