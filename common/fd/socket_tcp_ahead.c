/* TCP connections, restore: made ahead, on two threads.
 *
 * A connection the ring makes (socket_tcp_ring.c: no bytes to put back)
 * costs a socket() and some ten calls run on the ring, ~15 us of kernel
 * work, all in criu-lite's one thread while the tree waits; the machine
 * has a second core, and the connections are independent. So when the
 * first of a process's connections is opened, every such connection of it
 * is made at once, by criu-lite and one worker (images/par.c), each with
 * its own ring, into one record per socket inode (with the open step's
 * copy at fd_hi). The open step then goes over the fds in order as before
 * and takes the socket made for an entry where there is one (what is
 * registered, logged and numbered stays serial and in order). A
 * connection not made whole (any call refused) is closed and left to the
 * open step, which makes it again one call at a time and says what
 * failed. One to outside the tree, behind the network lock, also leaves
 * repair mode at the end of its chain (off_now says why).
 *
 * The worker takes the process's credentials as criu-lite's thread has
 * (fscreds.h: they are a thread's own). What the threads share is
 * read-only while they run: the entries (their values go into each
 * thread's own chain records) and the records, each written by the thread
 * that took it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "common/fscreds.h"
#include "images/log.h"

/* A thread costs 0.25 to 1.2 ms to start and join here, a connection
 * ~15 us: below a few dozen, none is made ahead. */
#define AHEAD_MIN 32
/* Connections a thread takes at once: one run of its ring. A thread's
 * first run allocates the requests every later run reuses, on pages new to
 * the process (~10 us each here): its first 64 connections took 2.3 ms,
 * each later 64 0.5 ms; in runs of 16, 0.5 ms and 0.14 ms, and the thousand
 * 0.9-1.2 ms sooner. */
#define CHUNK 16

struct ahead_one {
	uint64_t ino;
	const FdEntry *e;
	int off;		/* TCP_REPAIR off at the chain's end, or SK_TCP_IN_REPAIR */
	int s;			/* the socket made and connected, or -1 */
	int hi;			/* s's copy at or above fd_hi for the table, or -1 */
};

struct sk_tcp_ahead {
	struct ahead_one *v;
	size_t n;
	int fd_hi;			/* where the table's copies go (fd.h) */
	bool by_ring;			/* a thread's chains made their sockets */
	const struct fscreds *creds;	/* the process's, in force in criu-lite's thread */
};

static _Thread_local struct sk_tcp_batch batch;
static _Thread_local bool as_proc;	/* the worker took a->creds */
static _Thread_local const struct fscreds *was;

/* Made by sk_tcp_restore on the ring (sk_inet_open's and its own tests). */
static bool on_ring(const struct fd_rst *r, const FdEntry *e)
{
	const SocketInfo *si = e->sock;
	struct sk_intopt opt[SK_TCP_MAX_OPTS];

	return e->type == FD_TYPE__FD_SOCKET && si && si->tcp &&
	       (si->family == AF_INET || si->family == AF_INET6) && sk_is_tcp_conn(si) &&
	       !si->tcp->inq.len && !si->tcp->outq.len && !fd_rst_inherits(r, e) &&
	       (r->opts.tcp_established || sk_tcp_in_tree(r, si)) &&
	       sk_opts_plain(si, SK_OPTS_BIND, opt, SK_TCP_MAX_OPTS) >= 0;
}

/* A connection to outside the tree, behind the network lock the dump left,
 * leaves repair mode at once, in its chain, rather than in the late step:
 * nothing can pass the lock either way until the late step removes it,
 * its window probe would be dropped (it leaves without), and it has
 * nothing to send nor a FIN to put back (on_ring). Its late step was ~3 us
 * a connection, after the fork, where every page written is a copy. One
 * whose peer is in the tree stays in repair mode until that peer exists. */
static int off_now(const struct fd_rst *r, const SocketInfo *si)
{
	int off = sk_tcp_repair_off(r, si);

	return off == TCP_REPAIR_OFF_NO_WP && !sk_tcp_has_fin(si) ? off : SK_TCP_IN_REPAIR;
}

static int by_ino(const void *a, const void *b)
{
	const struct ahead_one *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Every entry of fp made on the ring and not made before (by an earlier
 * process sharing it), once per socket (fds sharing one: the first),
 * sorted by inode. */
static int candidates(const struct fd_rst *r, const struct fd_rst_proc *fp,
		      struct sk_tcp_ahead *a)
{
	size_t k = 0;

	if (!(a->v = malloc((fp->nr_fd ? fp->nr_fd : 1) * sizeof(*a->v))))
		return -ENOMEM;
	for (size_t j = 0; j < fp->nr_fd; j++) {
		const FdEntry *e = fp->fd[j];

		if (on_ring(r, e) && !fd_rst_obj_find(r, FD_TYPE__FD_SOCKET, e->sock->ino))
			a->v[a->n++] = (struct ahead_one){ e->sock->ino, e, off_now(r, e->sock), -1,
							   -1 };
	}
	qsort(a->v, a->n, sizeof(*a->v), by_ino);
	for (size_t i = 0; i < a->n; i++)
		if (!k || a->v[k - 1].ino != a->v[i].ino)
			a->v[k++] = a->v[i];
	a->n = k;
	return 0;
}

/* Connections [first, first + CHUNK): sockets, their chains, one run. */
static void make_chunk(void *arg, size_t c)
{
	struct sk_tcp_ahead *a = arg;
	size_t first = c * CHUNK, end = first + CHUNK < a->n ? first + CHUNK : a->n;
	struct ahead_one *mine[CHUNK];
	size_t n = 0;
	bool ran;

	/* the worker (criu-lite's thread is the process already) */
	if (fscreds_current() != a->creds) {
		if (fscreds_enter(a->creds, &was))
			return;
		as_proc = true;
	}
	if (!sk_tcp_batch_open(&batch, CHUNK, true))
		return;
	for (size_t i = first; i < end; i++) {
		struct ahead_one *o = &a->v[i];
		const SocketInfo *si = o->e->sock;
		struct sk_intopt opt[SK_TCP_MAX_OPTS];
		int nopt = sk_opts_plain(si, SK_OPTS_BIND, opt, SK_TCP_MAX_OPTS);

		/* (a ring that makes sockets itself: the chain makes it) */
		o->s = batch.direct ? -1 : socket((int)si->family, SOCK_STREAM | SOCK_CLOEXEC,
						  IPPROTO_TCP);
		if (!batch.direct && o->s < 0)
			continue;
		if (nopt < 0 || sk_tcp_batch_full(&batch) ||
		    sk_tcp_batch_add(&batch, si, o->s, nopt, opt, o->off)) {
			if (o->s >= 0)
				close(o->s);
			o->s = -1;
			continue;
		}
		mine[n++] = o;
	}
	ran = !sk_tcp_batch_run(&batch);
	for (size_t i = 0; i < n; i++) {
		if (batch.direct) {
			mine[i]->s = sk_tcp_batch_fd(&batch, i);
			__atomic_store_n(&a->by_ring, true, __ATOMIC_RELAXED);
		}
		if (!ran || sk_tcp_batch_result(&batch, i)) {
			if (mine[i]->s >= 0)
				close(mine[i]->s);
			mine[i]->s = -1;
		} else {
			/* the open step's copy too (a dup it would make one by one) */
			mine[i]->hi = fcntl(mine[i]->s, F_DUPFD_CLOEXEC, a->fd_hi);
		}
	}
	batch.n = 0;
}

static void worker_done(void)
{
	sk_tcp_batch_close(&batch);
	if (as_proc)
		fscreds_leave(was);
	as_proc = false;
}

/* Our fd table big enough for every socket and copy first
 * (fd_table_reserve). The sockets take the lowest numbers free, their
 * copies the lowest from fd_hi up, past the tree's fds opened so far. */
static void grow_fd_table(const struct fd_rst *r, size_t n)
{
	int low = fcntl(r->dirfd, F_DUPFD_CLOEXEC, 0);
	rlim_t want = (rlim_t)r->fd_hi + n + 64;

	if (low < 0)
		return;
	close(low);
	for (size_t i = 0; i < r->nr_procs; i++)
		want += r->procs[i].nr_fd;
	if ((rlim_t)low + 2 * n + 64 > want)
		want = (rlim_t)low + 2 * n + 64;
	fd_table_reserve(r->dirfd, want);
}

void sk_tcp_ahead_open_proc(struct fd_rst *r, size_t proc)
{
	struct sk_rst *s = sk_rst_get(r);

	if (s) {
		s->ahead_proc = proc;
		s->ahead_due = true;
	}
}

/* At the first connection of the process, not before its first fd: one
 * made first binds the port, and a listener made after it (a later fd)
 * must find it bound as it does in fd order. */
static void make_ahead(struct fd_rst *r, struct sk_rst *s)
{
	struct sk_tcp_ahead *a;
	size_t made = 0, off = 0;
	int threads;

	s->ahead_due = false;
	/* what an earlier process left untaken is nobody's */
	sk_tcp_ahead_free(s);
	if (!(a = calloc(1, sizeof(*a))))
		return;
	s->ahead = a;
	a->creds = fscreds_current();
	a->fd_hi = r->fd_hi;
	if (candidates(r, &r->procs[s->ahead_proc], a) || a->n < AHEAD_MIN) {
		a->n = 0;
		return;
	}
	grow_fd_table(r, a->n);
	threads = par_run((a->n + CHUNK - 1) / CHUNK, make_chunk, worker_done, a);
	worker_done();
	for (size_t i = 0; i < a->n; i++) {
		made += a->v[i].s >= 0;
		off += a->v[i].s >= 0 && a->v[i].off != SK_TCP_IN_REPAIR;
	}
	pr_debug("%u: %zu of %zu TCP connections made ahead on %d threads, %zu of them out of "
		 "repair mode", r->procs[s->ahead_proc].pid, made, a->n, threads, off);
	pr_debug("%u: their sockets made by %s", r->procs[s->ahead_proc].pid,
		 a->by_ring ? "the ring" : "socket()");
}

int sk_tcp_ahead_take(struct fd_rst *r, const FdEntry *e, bool *in_repair, int *table_fd)
{
	struct sk_tcp_ahead *a;
	struct ahead_one key = { .ino = e->sock->ino }, *o;
	int s;

	*in_repair = true;
	*table_fd = -1;
	if (r->sk && r->sk->ahead_due)
		make_ahead(r, r->sk);
	a = r->sk ? r->sk->ahead : NULL;
	if (!a || !a->n || !(o = bsearch(&key, a->v, a->n, sizeof(key), by_ino)))
		return -1;
	s = o->s;
	*table_fd = o->hi;
	o->s = o->hi = -1;
	*in_repair = o->off == SK_TCP_IN_REPAIR;
	return s;
}

void sk_tcp_ahead_free(struct sk_rst *s)
{
	struct sk_tcp_ahead *a = s ? s->ahead : NULL;

	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].s >= 0)
			close(a->v[i].s);
		if (a->v[i].hi >= 0)
			close(a->v[i].hi);
	}
	free(a->v);
	free(a);
	s->ahead = NULL;
}
