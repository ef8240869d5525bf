/* A child's fds at their numbers (rst_fds_setup's first step).
 *
 * The child inherits every source at or above fd_hi (fds.c). It empties
 * the numbers below fd_hi, then passes its sources to itself over a
 * socketpair, in fd order, up to SCM_MAX_FD a message: a received fd takes
 * the lowest number free, which is the next one wanted once each gap below
 * it holds a placeholder. A thousand connections were a thousand dup3
 * calls (~1.5 us each here, while the whole tree waits on this process);
 * they are four messages now. A message the kernel will not carry (a file
 * that cannot be passed) is put in place by dup3 instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "restore/rst.h"

#define BATCH 253		/* SCM_MAX_FD: the most one message carries */

/* Consecutive entries of place[], of one close-on-exec flag. */
struct batch {
	const struct rst_fd_place *pl;
	size_t n;
};

union cmsg_room {
	struct cmsghdr h;
	char buf[CMSG_SPACE(sizeof(int) * BATCH)];
};

/* The batch sent and received (its fds land at the lowest numbers free,
 * which must be its own): 0, 1 when the kernel would not carry it
 * (nothing was installed), or -errno. */
static int pass(const int sp[2], const struct batch *b)
{
	union cmsg_room u;
	char byte = 0;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = CMSG_SPACE(sizeof(int) * b->n) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int *fds = (int *)CMSG_DATA(c);

	memset(u.buf, 0, sizeof(u.buf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * b->n);
	for (size_t i = 0; i < b->n; i++)
		fds[i] = b->pl[i].src;
	if (sendmsg(sp[0], &m, MSG_NOSIGNAL) != 1)
		return 1;
	m.msg_controllen = sizeof(u.buf);
	if (recvmsg(sp[1], &m, b->pl->cloexec ? MSG_CMSG_CLOEXEC : 0) != 1)
		return -errno;
	c = CMSG_FIRSTHDR(&m);
	if ((m.msg_flags & MSG_CTRUNC) || !c || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int) * b->n))
		return -EPROTO;
	fds = (int *)CMSG_DATA(c);
	for (size_t i = 0; i < b->n; i++)
		if (fds[i] != b->pl[i].fd)
			return -EBADFD;
	return 0;
}

/* Each of the batch at its number: received, or (not carried) dup3'd. */
static int flush(const int sp[2], struct batch *b, struct rst_status *st)
{
	int r = b->n ? pass(sp, b) : 0;

	for (size_t i = 0; r == 1 && i < b->n; i++)
		/* dup3 sets FD_CLOEXEC as the fd had it (dup2 clears it): one call */
		if (dup3(b->pl[i].src, b->pl[i].fd, b->pl[i].cloexec ? O_CLOEXEC : 0) < 0)
			return rst_child_fail(st, errno, "cannot install fd %d: %s", b->pl[i].fd,
					      strerror(errno));
	if (r < 0)
		return rst_child_fail(st, -r, "cannot install fds %d to %d: %s", b->pl->fd,
				      b->pl[b->n - 1].fd, strerror(-r));
	b->n = 0;
	return 0;
}

/* Closes [from, to), if not empty. */
static void close_from(unsigned int from, unsigned int to)
{
	if (to > from)
		syscall(SYS_close_range, from, to - 1, 0);
}

/* Our socketpair, at or above fd_hi (its first numbers are below). */
static int pair_high(int hi, int sp[2])
{
	int low[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, low))
		return -errno;
	sp[0] = fcntl(low[0], F_DUPFD_CLOEXEC, hi);
	sp[1] = fcntl(low[1], F_DUPFD_CLOEXEC, hi);
	return sp[0] < 0 || sp[1] < 0 ? -errno : 0;
}

int rst_fds_place(struct rst_tree *t, struct rst_proc *p, struct rst_status *st, int *status_fd)
{
	const struct rst_fd_place *pl = p->place;
	int moved = fcntl(*status_fd, F_DUPFD_CLOEXEC, t->fd_hi), sp[2] = { -1, -1 }, r;
	struct batch b = { pl, 0 };
	unsigned int next = 0, from = 0;

	if (moved < 0)
		return rst_child_fail(st, errno, "cannot move the status pipe: %s",
				      strerror(errno));
	*status_fd = moved;
	if ((r = pair_high(t->fd_hi, sp)))
		return rst_child_fail(st, -r, "cannot make a socketpair: %s", strerror(-r));
	/* Below fd_hi: only what the fork copied of criu-lite's table (the
	 * sources, the status pipe and the socketpair are all above). */
	close_from(0, (unsigned int)t->fd_hi);
	for (size_t i = 0; i < p->nr_fd; i++) {
		/* a gap: a placeholder keeps the fds received next out of it */
		for (; next < (unsigned int)pl[i].fd; next++)
			if (dup3(*status_fd, (int)next, O_CLOEXEC) < 0)
				return rst_child_fail(st, errno, "cannot hold fd %u: %s", next,
						      strerror(errno));
		if (b.n && (b.n == BATCH || b.pl->cloexec != pl[i].cloexec) &&
		    (r = flush(sp, &b, st)))
			return r;
		if (!b.n)
			b.pl = &pl[i];
		b.n++;
		next = (unsigned int)pl[i].fd + 1;
	}
	if ((r = flush(sp, &b, st)))
		return r;
	/* the placeholders, the socketpair, the sources: all but the status fd */
	for (size_t i = 0; i < p->nr_fd; i++) {
		close_from(from, (unsigned int)pl[i].fd);
		from = (unsigned int)pl[i].fd + 1;
	}
	close_from(from, (unsigned int)*status_fd);
	syscall(SYS_close_range, (unsigned int)*status_fd + 1, ~0U, 0);
	p->mm_fd_base = p->nr_fd ? pl[p->nr_fd - 1].fd + 1 : 0;
	return 0;
}
