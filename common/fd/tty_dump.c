/* The dump of a terminal (fdk_chr finds that an fd is one): what the
 * driver says through our duplicate of the fd (same open file: nothing is
 * reopened). A pty master, being of the tree, also gives the bytes queued
 * in its pair: read out and written straight back, with the line
 * discipline's processing off meanwhile, so that the pair holds what it
 * held. Input typed ahead in canonical mode is counted, not kept: a
 * partial line cannot be read, and lines read before it would go back
 * after it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <asm/termbits.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include "common/fd/fd.h"
#include "common/fd/tty.h"
#include "images/log.h"

#define QUEUE_MAX (1 << 20)

static TtyTermios *termios_msg(const struct termios2 *t)
{
	TtyTermios *m = malloc(sizeof(*m));

	if (!m)
		return NULL;
	tty_termios__init(m);
	m->iflag = t->c_iflag;
	m->oflag = t->c_oflag;
	m->cflag = t->c_cflag;
	m->lflag = t->c_lflag;
	m->has_line = m->has_ispeed = m->has_ospeed = m->has_cc = true;
	m->line = t->c_line;
	m->ispeed = t->c_ispeed;
	m->ospeed = t->c_ospeed;
	m->cc.len = sizeof(t->c_cc);
	m->cc.data = malloc(m->cc.len);
	if (!m->cc.data) {
		free(m);
		return NULL;
	}
	memcpy(m->cc.data, t->c_cc, m->cc.len);
	return m;
}

/* FIONREAD reaches n (the line discipline works from a queue of its own). */
int tty_wait_queued(int fd, int n)
{
	for (int i = 0; i < 1000; i++) {
		int q = 0;

		if (ioctl(fd, FIONREAD, &q) || q >= n)
			return q >= n ? 0 : -errno;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* Up to n data bytes readable now on fd; packet mode's status bytes are
 * skipped. The number read, or -errno. */
static int read_queued(int fd, bool packet, char *buf, int n)
{
	int got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char tmp[4096];
		ssize_t r;

		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
			break;
		r = read(fd, tmp, sizeof(tmp) < (size_t)(n - got + packet) ? sizeof(tmp) :
			 (size_t)(n - got + packet));
		if (r < 0)
			return errno == EAGAIN ? got : -errno;
		if (r == 0)
			break;
		if (packet && (r == 1 || tmp[0]))
			continue;	/* a status byte alone */
		memcpy(buf + got, tmp + packet, r - packet);
		got += (int)(r - packet);
	}
	return got;
}

/* Write buf into `to`, with termios t changed by `raw` meanwhile (set on
 * the slave `sl`), and wait until `reader` has it queued. */
static int put_back(int sl, const struct termios2 *t, const struct termios2 *raw, int to,
		    int reader, const char *buf, int n, int already)
{
	int r = 0;

	if (ioctl(sl, TCSETS2, raw))
		return -errno;
	if (write(to, buf, n) != n)
		r = -EIO;
	if (!r)
		r = tty_wait_queued(reader, already + n);
	if (ioctl(sl, TCSETS2, t) && !r)
		r = -errno;
	return r;
}

/* The pair's queued bytes, each way, into ti. */
static int dump_queues(int master, const struct termios2 *t, TtyInfo *ti, int fd)
{
	int sl = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	int n = 0, got, r = 0;
	struct termios2 raw = *t;
	char *buf = NULL;

	if (sl < 0)
		return 0;	/* locked, or another devpts: leave it */
	if (!ioctl(master, FIONREAD, &n) && n > 0 && n <= QUEUE_MAX && (buf = malloc(n))) {
		got = read_queued(master, ti->packet, buf, n);
		raw.c_oflag &= ~OPOST;
		r = got < 0 ? got : put_back(sl, t, &raw, sl, master, buf, got, 0);
		if (!r && got > 0) {
			ti->has_out_data = true;
			ti->out_data.data = (uint8_t *)buf;
			ti->out_data.len = got;
			buf = NULL;
		}
	}
	free(buf);
	buf = NULL;
	n = 0;
	if (!r && !ioctl(sl, FIONREAD, &n) && n > 0 && (t->c_lflag & ICANON)) {
		ti->has_in_lost = true;
		ti->in_lost = n;
		pr_warn("fd %d: %d bytes typed ahead on /dev/pts/%u in canonical mode will not be "
			"restored", fd, n, ti->index);
	} else if (!r && n > 0 && n <= QUEUE_MAX && (buf = malloc(n))) {
		got = read_queued(sl, false, buf, n);
		raw = *t;
		raw.c_iflag &= ~(ICRNL | INLCR | IGNCR | ISTRIP | IUCLC | IXON | IXOFF | BRKINT |
				 PARMRK | INPCK);
		raw.c_lflag &= ~(ECHO | ECHONL | ISIG | ICANON | IEXTEN);
		r = got < 0 ? got : put_back(sl, t, &raw, master, sl, buf, got, 0);
		if (!r && got > 0) {
			ti->has_in_data = true;
			ti->in_data.data = (uint8_t *)buf;
			ti->in_data.len = got;
			buf = NULL;
		}
	}
	free(buf);
	close(sl);
	return r;
}

static TtyKind kind_of(const struct fd_desc *d, unsigned int rdev)
{
	if (fdinfo_field(d->fdinfo, "tty-index"))
		return TTY_KIND__TTY_PTY_MASTER;
	if (major(d->st.st_rdev) == 5 && minor(d->st.st_rdev) == 0)
		return TTY_KIND__TTY_CTTY;
	return tty_is_pts(rdev) ? TTY_KIND__TTY_PTY_SLAVE : TTY_KIND__TTY_OTHER;
}

static void master_state(int fd, TtyInfo *ti)
{
	int v = 0;
	pid_t pid = 0;

	if (!ioctl(fd, TIOCGPKT, &v)) {
		ti->has_packet = true;
		ti->packet = v != 0;
	}
	if (!ioctl(fd, TIOCGPTLCK, &v)) {
		ti->has_locked = true;
		ti->locked = v != 0;
	}
	if (!ioctl(fd, TIOCGSID, &pid) && pid > 0) {
		ti->has_sid = true;
		ti->sid = (uint32_t)pid;
	}
	if (!ioctl(fd, TIOCGPGRP, &pid) && pid > 0) {
		ti->has_fg_pgrp = true;
		ti->fg_pgrp = (uint32_t)pid;
	}
}

int fd_tty_dump(const struct fd_desc *d, FdEntry *e, int fd)
{
	TtyInfo *ti = malloc(sizeof(*ti));
	unsigned int rdev = (unsigned int)d->st.st_rdev;
	struct termios2 t;
	struct winsize ws;
	int v = 0;

	if (!ti)
		return -ENOMEM;
	tty_info__init(ti);
	e->tty = ti;
	if (ioctl(fd, TIOCGDEV, &rdev))
		rdev = makedev(major(d->st.st_rdev), minor(d->st.st_rdev));
	ti->has_rdev = true;
	ti->rdev = rdev;
	ti->kind = kind_of(d, rdev);
	if (tty_is_pts(rdev)) {
		ti->has_index = true;
		ti->index = tty_pts_index(rdev);
	}
	if (!ioctl(fd, TCGETS2, &t) && !(ti->termios = termios_msg(&t)))
		return -ENOMEM;
	if (!ioctl(fd, TIOCGWINSZ, &ws)) {
		ti->has_rows = ti->has_cols = ti->has_xpixel = ti->has_ypixel = true;
		ti->rows = ws.ws_row;
		ti->cols = ws.ws_col;
		ti->xpixel = ws.ws_xpixel;
		ti->ypixel = ws.ws_ypixel;
	}
	if (!ioctl(fd, TIOCGEXCL, &v)) {
		ti->has_exclusive = true;
		ti->exclusive = v != 0;
	}
	if (ti->kind != TTY_KIND__TTY_PTY_MASTER)
		return 0;
	master_state(fd, ti);
	if (ti->termios && dump_queues(fd, &t, ti, d->fd) < 0)
		pr_warn("fd %d: cannot read the bytes queued in /dev/pts/%u", d->fd, ti->index);
	return 0;
}
