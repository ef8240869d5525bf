/* Terminals (tty_dump.c, tty.c): what chr.c and restore's child need. */
#ifndef CRIU_LITE_COMMON_FD_TTY_H
#define CRIU_LITE_COMMON_FD_TTY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/sysmacros.h>

#include "common/fd/fd.h"

/* Unix98 pty slaves: majors 136-143 (kernel encoding, as stat tty_nr). */
static inline bool tty_is_pts(uint32_t dev)
{
	return major(dev) >= 136 && major(dev) <= 143;
}

static inline uint32_t tty_pts_index(uint32_t dev)
{
	return (major(dev) - 136) * 256 + minor(dev);
}

/* tty_dump.c: e becomes the terminal d, asked through fd (our duplicate). */
int fd_tty_dump(const struct fd_desc *d, FdEntry *e, int fd);
/* FIONREAD on fd reaches n, or -errno. */
int tty_wait_queued(int fd, int n);

/* tty.c: criu-lite's fd of the pty slave that was dev (stat tty_nr) when
 * the tree holds that pair, else -1: a session leader makes it its
 * controlling terminal, the leader of its foreground group sets it. */
int fd_tty_ctty_src(const struct fd_rst *r, uint32_t dev);

#endif
