/* Character devices: terminals, and the rest (/dev/null, /dev/zero, ...).
 *
 * Dump: the device's identity; a terminal (the driver answers TCGETS) also
 * its rdev and, for a pty master, the index of its /dev/pts/N.
 *
 * Restore: a plain device is opened by path. A terminal at fd 0-2 is the
 * restoring shell's (as CRIU's --shell-job); at another number it becomes
 * the restoring shell's terminal, reopened, when there is one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sysmacros.h>

#include "common/fd/fd.h"

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

static bool fd_is_tty(struct fd_dump *c, const struct fd_desc *d)
{
	int fd = fd_dump_getfd(c, d->fd);
	bool tty;

	if (fd < 0)
		return tty_major(major(d->st.st_rdev));
	/* isatty() asks the driver itself (TCGETS), so any tty driver counts. */
	tty = isatty(fd);
	close(fd);
	return tty;
}

static int chr_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e)
{
	const char *v;

	e->file = fd_dump_identity(d);
	if (!e->file)
		return -ENOMEM;
	if (!fd_is_tty(c, d)) {
		e->type = FD_TYPE__FD_CHR;
		return 0;
	}
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

/* The restoring shell's terminal, if its stdio has one. */
static int shell_tty(char *path, size_t len)
{
	for (int fd = 0; fd < 3; fd++)
		if (isatty(fd) && !ttyname_r(fd, path, len))
			return 0;
	return -ENOTTY;
}

static int tty_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	char path[PATH_MAX];

	/* Whether restore runs on a terminal is not known at dump time. */
	if (r->opts.at_dump || fd_rst_is_shell(e) || !shell_tty(path, sizeof(path)))
		return 0;
	return fd_rst_fail(why, len, EOPNOTSUPP, "terminal %s, and criu-lite runs without one",
			   e->link ? e->link : "?");
}

static int tty_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	char path[PATH_MAX];
	int fd;

	(void)r;
	if (fd_rst_is_shell(e))
		return fd_rst_open_shell(e, why, len);
	if (shell_tty(path, sizeof(path)))
		return fd_rst_fail(why, len, ENOTTY, "no terminal to give it");
	fd = open(path, fd_rst_open_flags(e));
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot open %s: %s", path, strerror(errno));
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

/* Dumped by fdk_chr (which tells a terminal from another device). */
const struct fd_kind fdk_tty = {
	.type = FD_TYPE__FD_TTY,
	.name = "terminal",
	.check = tty_check,
	.open = tty_open,
};
