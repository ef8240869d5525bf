/* Terminals on restore.
 *
 * A pty pair whose master the tree holds is made again: /dev/ptmx opened
 * (asking for the same /dev/pts/N: indices are handed out lowest free
 * first, so the ones below are taken and given back), its termios, window
 * size, packet mode and queued bytes each way, then, once every fd of the
 * tree is open (link), its lock and exclusive mode. Every master fd is
 * that one open file; every slave fd opens the slave anew (TIOCGPTPEER).
 * A session leader whose controlling terminal was such a slave takes it
 * back (child.c, through fd_tty_ctty_src), and the leader of its
 * foreground group sets it.
 *
 * Any other terminal is outside the tree: the user's, or a pty whose
 * master something else holds. As CRIU does, it comes back only with
 * --shell-job (-j: it becomes the terminal restore runs on) or
 * --inherit-fd; otherwise dump --kill and restore refuse it, and a process
 * whose controlling terminal it is, naming it. Images without terminal
 * details (older dumps, crash records) keep the old rule: fds 0-2 are
 * the restoring shell's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <asm/termbits.h>
#include <sys/ioctl.h>

#include "common/fd/tty.h"

#define PTMX_TRIES 4096

/* ---- what an entry is ---- */

static bool is_master(const FdEntry *e, const void *idx)
{
	return e->tty && e->tty->kind == TTY_KIND__TTY_PTY_MASTER && e->tty->has_index &&
	       e->tty->index == *(const uint32_t *)idx;
}

/* The tree's master of /dev/pts/idx, or NULL. */
static const FdEntry *master_of(const struct fd_rst *r, uint32_t idx)
{
	return fd_rst_find(r, FD_TYPE__FD_TTY, is_master, &idx);
}

/* A pty of the tree: its index; -1 for a terminal outside the tree. */
static int64_t pair_index(const struct fd_rst *r, const FdEntry *e)
{
	const TtyInfo *t = e->tty;

	if (t->kind == TTY_KIND__TTY_PTY_MASTER && t->has_index)
		return t->index;
	if (t->has_rdev && tty_is_pts(t->rdev) && master_of(r, tty_pts_index(t->rdev)))
		return tty_pts_index(t->rdev);
	return -1;
}

static const char *name_of(const FdEntry *e)
{
	return e->link ? e->link : e->file && e->file->path ? e->file->path : "?";
}

/* --inherit-fd fd[N]:RES naming this terminal: N, else -1. */
static int inherited(const struct fd_rst *r, const FdEntry *e)
{
	for (size_t i = 0; i < r->opts.nr_inherit; i++)
		if (!strcmp(r->opts.inherit[i].res, name_of(e)))
			return r->opts.inherit[i].fd;
	return -1;
}

/* The terminal restore runs on (its stdio's), if any. */
static int shell_tty(char *path, size_t len)
{
	for (int fd = 0; fd < 3; fd++)
		if (isatty(fd) && !ttyname_r(fd, path, len))
			return 0;
	return -ENOTTY;
}

/* ---- check ---- */

static int outside(const struct fd_rst *r, const char *what, char *why, size_t len)
{
	char path[256];

	if (!r->opts.shell_job)
		return fd_rst_fail(why, len, EOPNOTSUPP, "%s is outside the dumped tree: dump and "
				   "restore with --shell-job (-j) to give it the terminal restore "
				   "runs on, or pass one with --inherit-fd", what);
	if (!r->opts.at_dump && shell_tty(path, sizeof(path)))
		return fd_rst_fail(why, len, ENOTTY, "%s: --shell-job, but restore runs without a "
				   "terminal", what);
	return 0;
}

/* Before terminal details were dumped: fds 0-2 are the shell's. */
static int legacy_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	char path[256];

	if (r->opts.at_dump || e->fd <= 2 || !shell_tty(path, sizeof(path)))
		return 0;
	return fd_rst_fail(why, len, EOPNOTSUPP, "terminal %s, and criu-lite runs without one",
			   name_of(e));
}

static int tty_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	char what[300];

	if (!e->tty)
		return legacy_check(r, e, why, len);
	if (pair_index(r, e) >= 0 || inherited(r, e) >= 0)
		return 0;
	if (e->tty->kind == TTY_KIND__TTY_PTY_MASTER)
		return fd_rst_fail(why, len, EINVAL, "pty master without its index in the image");
	snprintf(what, sizeof(what), "terminal %s", name_of(e));
	return outside(r, what, why, len);
}

int fd_rst_check_proc(const struct fd_rst *r, const struct fd_rst_proc *p, char *why, size_t len)
{
	char what[300];

	if (!p->ctty || (tty_is_pts(p->ctty) && master_of(r, tty_pts_index(p->ctty))))
		return 0;
	if (tty_is_pts(p->ctty))
		snprintf(what, sizeof(what), "its controlling terminal /dev/pts/%u",
			 tty_pts_index(p->ctty));
	else
		snprintf(what, sizeof(what), "its controlling terminal (device %u:%u)",
			 major(p->ctty), minor(p->ctty));
	/* without stdio on it, a lost controlling terminal is all -j risks */
	if (r->opts.shell_job)
		return 0;
	return outside(r, what, why, len);
}

/* ---- the pair ---- */

static void termios_of(const TtyTermios *m, struct termios2 *t)
{
	memset(t, 0, sizeof(*t));
	t->c_iflag = m->iflag;
	t->c_oflag = m->oflag;
	t->c_cflag = m->cflag;
	t->c_lflag = m->lflag;
	t->c_line = (cc_t)m->line;
	t->c_ispeed = m->ispeed;
	t->c_ospeed = m->ospeed;
	memcpy(t->c_cc, m->cc.data, m->cc.len < sizeof(t->c_cc) ? m->cc.len : sizeof(t->c_cc));
}

/* A new master, /dev/pts/want if it is free. */
static int open_ptmx(uint32_t want)
{
	int fds[64], n = 0, keep = -1;

	for (int i = 0; i < PTMX_TRIES && keep < 0; i++) {
		int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		unsigned int idx;

		if (fd < 0 || ioctl(fd, TIOCGPTN, &idx) || idx >= want) {
			keep = fd;
			break;
		}
		if (n == (int)(sizeof(fds) / sizeof(fds[0]))) {
			close(fd);	/* too far below: take what comes */
			keep = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
			break;
		}
		fds[n++] = fd;
	}
	while (n > 0)
		close(fds[--n]);
	return keep;
}

/* Queued bytes back, with the line discipline's processing off meanwhile. */
static int put_queue(int master, int slave, const struct termios2 *t, const ProtobufCBinaryData *d,
		     bool input)
{
	struct termios2 raw = *t;
	int r = 0;

	if (!d->len)
		return 0;
	if (input) {
		raw.c_iflag &= ~(ICRNL | INLCR | IGNCR | ISTRIP | IUCLC | IXON | IXOFF | BRKINT |
				 PARMRK | INPCK);
		raw.c_lflag &= ~(ECHO | ECHONL | ISIG | ICANON | IEXTEN);
	} else {
		raw.c_oflag &= ~OPOST;
	}
	if (ioctl(slave, TCSETS2, &raw))
		return -errno;
	if (write(input ? master : slave, d->data, d->len) != (ssize_t)d->len)
		r = -EIO;
	if (!r)
		r = tty_wait_queued(input ? slave : master, (int)d->len);
	return r;
}

static int pair_state(int m, int s, const TtyInfo *ti, char *why, size_t len)
{
	struct winsize ws = { (unsigned short)ti->rows, (unsigned short)ti->cols,
			      (unsigned short)ti->xpixel, (unsigned short)ti->ypixel };
	struct termios2 t;
	int pkt = ti->packet, r;

	if (ti->termios) {
		termios_of(ti->termios, &t);
		if ((r = put_queue(m, s, &t, &ti->in_data, true)) ||
		    (r = put_queue(m, s, &t, &ti->out_data, false)))
			return fd_rst_fail(why, len, -r, "cannot put back the bytes queued in the "
					   "pty: %s", strerror(-r));
		if (ioctl(s, TCSETS2, &t))
			return fd_rst_fail(why, len, errno, "cannot set the termios: %s",
					   strerror(errno));
	}
	if (ti->has_rows && ioctl(s, TIOCSWINSZ, &ws))
		return fd_rst_fail(why, len, errno, "TIOCSWINSZ: %s", strerror(errno));
	if (ioctl(m, TIOCPKT, &pkt))
		return fd_rst_fail(why, len, errno, "TIOCPKT: %s", strerror(errno));
	return 0;
}

/* The pair of dumped /dev/pts/idx, made at its first fd: fds[0] the
 * master, fds[1] a slave criu-lite keeps for the others. */
static struct fd_rst_obj *pair(struct fd_rst *r, uint32_t idx, char *why, size_t len)
{
	struct fd_rst_obj *o = fd_rst_obj_find(r, FD_TYPE__FD_TTY, idx);
	const FdEntry *me = master_of(r, idx);
	int unlock = 0;

	if (o)
		return o;
	if (!(o = fd_rst_obj_add(r, FD_TYPE__FD_TTY, idx))) {
		fd_rst_fail(why, len, ENOMEM, "out of memory");
		return NULL;
	}
	o->fds[0] = open_ptmx(idx);
	if (o->fds[0] < 0) {
		fd_rst_fail(why, len, errno, "cannot open /dev/ptmx: %s", strerror(errno));
		return NULL;
	}
	if (ioctl(o->fds[0], TIOCSPTLCK, &unlock) ||
	    (o->fds[1] = ioctl(o->fds[0], TIOCGPTPEER,
			       O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		fd_rst_fail(why, len, errno, "cannot open the new pty's slave: %s",
			    strerror(errno));
		return NULL;
	}
	o->data_done = true;
	if (me && pair_state(o->fds[0], o->fds[1], me->tty, why, len))
		return NULL;
	return o;
}

int fd_tty_ctty_src(const struct fd_rst *r, uint32_t dev)
{
	const struct fd_rst_obj *o;

	if (!tty_is_pts(dev))
		return -1;
	o = fd_rst_obj_find(r, FD_TYPE__FD_TTY, tty_pts_index(dev));
	return o ? o->fds[1] : -1;
}

/* ---- open, link ---- */

static int legacy_open(const FdEntry *e, char *why, size_t len)
{
	char path[256];
	int fd;

	if (e->fd <= 2)
		return fd_rst_open_shell(e, why, len);
	if (shell_tty(path, sizeof(path)))
		return fd_rst_fail(why, len, ENOTTY, "no terminal to give it");
	fd = open(path, fd_rst_open_flags(e));
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot open %s: %s", path, strerror(errno));
	return fd;
}

/* A terminal outside the tree: the one passed in, or restore's own. */
static int outside_open(const struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	char path[256];
	int fd = inherited(r, e);

	if (fd >= 0 || (e->fd <= 2 && isatty((int)e->fd)))
		fd = fcntl(fd >= 0 ? fd : (int)e->fd, F_DUPFD_CLOEXEC, 3);
	else if (!shell_tty(path, sizeof(path)))
		fd = open(path, fd_rst_open_flags(e));
	else
		return fd_rst_fail(why, len, ENOTTY, "no terminal to give it");
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot open a terminal for it: %s",
				   strerror(errno));
	return fd;
}

static int tty_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len)
{
	struct fd_rst_obj *o;
	int64_t idx;
	int fd;

	if (!e->tty)
		return legacy_open(e, why, len);
	idx = pair_index(r, e);
	if (idx < 0)
		return outside_open(r, e, why, len);
	o = pair(r, (uint32_t)idx, why, len);
	if (!o)
		return -EIO;
	if (e->tty->kind == TTY_KIND__TTY_PTY_MASTER)
		fd = fcntl(o->fds[0], F_DUPFD_CLOEXEC, 0);
	else
		fd = ioctl(o->fds[0], TIOCGPTPEER,
			   (int)(e->flags & (O_ACCMODE | O_NONBLOCK)) | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fd_rst_fail(why, len, errno, "cannot open the pty: %s", strerror(errno));
	fcntl(fd, F_SETFL, e->flags & (O_APPEND | O_NONBLOCK | O_ASYNC));
	return fd;
}

/* Once every fd is open: what would have kept them from opening (the
 * master's lock, the slave's exclusive mode). */
static int tty_link(struct fd_rst *r, const FdEntry *e, int fd, char *why, size_t len)
{
	const TtyInfo *ti = e->tty;
	int on = 1;

	if (!ti || pair_index(r, e) < 0)
		return 0;
	if (ti->kind == TTY_KIND__TTY_PTY_MASTER && ti->locked && ioctl(fd, TIOCSPTLCK, &on))
		return fd_rst_fail(why, len, errno, "TIOCSPTLCK: %s", strerror(errno));
	if (ti->kind != TTY_KIND__TTY_PTY_MASTER && ti->exclusive && ioctl(fd, TIOCEXCL))
		return fd_rst_fail(why, len, errno, "TIOCEXCL: %s", strerror(errno));
	return 0;
}

/* Dumped by fdk_chr (which tells a terminal from another device). */
const struct fd_kind fdk_tty = {
	.type = FD_TYPE__FD_TTY,
	.name = "terminal",
	.check = tty_check,
	.open = tty_open,
	.link = tty_link,
};
