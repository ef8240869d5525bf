/* Character devices: terminals, and the rest (/dev/null, /dev/zero, ...).
 *
 * Dump: the device's identity; a terminal (the driver answers TCGETS) is
 * dumped by tty_dump.c. Restore: a plain device is opened by path; a
 * terminal is tty.c's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sysmacros.h>

#include "common/fd/fd.h"
#include "common/fd/tty.h"

/* ---- dump ---- */

static bool is_chr(const struct fd_desc *d)
{
	return d->link[0] == '/' && S_ISCHR(d->st.st_mode);
}

/* Majors the kernel gives ttys: 4 (ttyN, ttySN), 5 (tty, console, ptmx),
 * 136-143 (Unix98 pty slaves). Used only when we cannot ask the fd. */
static bool tty_major(unsigned int maj)
{
	return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

static int chr_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	int fd = fd_dump_getfd(c, d->fd), r = 0;
	const char *v;
	bool tty;

	e->file = fd_dump_identity(d);
	/* isatty() asks the driver itself (TCGETS), so any tty driver counts. */
	tty = fd >= 0 ? isatty(fd) : tty_major(major(d->st.st_rdev));
	if (!e->file)
		r = -ENOMEM;
	else if (!tty)
		e->type = FD_TYPE__FD_CHR;
	else if (fd >= 0)
		r = fd_tty_dump(d, e, fd);
	if (r || !tty)
		return r;
	e->type = FD_TYPE__FD_TTY;
	e->has_tty_rdev = true;
	e->tty_rdev = d->st.st_rdev;
	/* every /dev/ptmx open is a different master: its index names the pair */
	if ((v = fdinfo_field(d->fdinfo, "tty-index"))) {
		e->has_tty_index = true;
		e->tty_index = atoi(v);
	}
	return 0;
}

/* ---- restore ---- */

static int chr_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	(void)r;
	if (!e->file || !e->file->path[0])
		return fd_rst_fail(why, len, EINVAL, "no file identity in the image");
	return 0;
}

static int chr_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	int fd = open(e->file->path, fd_rst_open_flags(e));

	(void)r;
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot open %s: %s", e->file->path,
				   strerror(errno));
	return fd;
}

const struct fd_kind fdk_chr = {
	.type = FD_TYPE__FD_CHR,
	.name = "character device",
	.dump_match = is_chr,
	.dump = chr_dump,
	.check = chr_check,
	.open = chr_open,
};
