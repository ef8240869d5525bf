/* TCP connections, dump: read in repair mode (tcp(7) TCP_REPAIR), on the
 * socket borrowed from the frozen process, under the network lock.
 *
 * Repair mode works on any fd of the socket. In it, recvmsg(MSG_PEEK) reads
 * the queue chosen with TCP_REPAIR_QUEUE (the send queue whole: what was
 * sent and not acknowledged, then what was never sent), TCP_QUEUE_SEQ
 * gives the sequence number at each queue's end, TCP_REPAIR_WINDOW the
 * windows; TCP_INFO, TCP_MAXSEG and TCP_TIMESTAMP what was negotiated. The
 * socket leaves repair mode with TCP_REPAIR_OFF_NO_WP (no window probe):
 * it is as it was, and the packets it would have seen meanwhile were
 * dropped by the lock, to be sent again by their senders.
 *
 * A FIN takes a sequence number but no byte: in the states where one is
 * queued, the queue lengths do not count it (restore puts it back).
 *
 * Before `dump --kill` the connections that restore will bring back go
 * into repair mode again: a socket closed in repair mode vanishes without
 * a FIN or a reset, so the peer never hears of the kill. Many of them go
 * on a thread while the dump checks the tree (sk_tcp_dump_silence_ahead),
 * and leave repair mode again if the tree goes on after all.
 *
 * The reads themselves are socket_tcp_read.c's; above a few connections
 * they are done ahead, on two threads (socket_tcp_pre.c). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "common/fault.h"
#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"
#include "images/par.h"


/* Connections dumped, for what happens to them at the end of the dump. */
struct held {
	pid_t pid;
	int fd;
	int own;		/* our copy of the socket, or -1 (fd limit) */
	uint64_t ino;
	struct sk_conn conn;
	struct sk_repair_vals vals;	/* the program's, for the guardian */
	int note;			/* silenced for the kill: sk_repair_in's */
};
static struct held *held;
static size_t nr_held;

static int conn_of(const SocketInfo *si, struct sk_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->family = (int)si->family;
	if (!si->local || !si->peer || !si->local->ip || !si->peer->ip ||
	    inet_pton(c->family, si->local->ip, c->lip) != 1 ||
	    inet_pton(c->family, si->peer->ip, c->pip) != 1)
		return -EINVAL;
	c->lport = (uint16_t)si->local->port;
	c->pport = (uint16_t)si->peer->port;
	return 0;
}

static int pending(SocketInfo *si, const char *what, int err)
{
	char buf[200];

	snprintf(buf, sizeof(buf), "TCP connection not read: %s%s%s", what, err ? ": " : "",
		 err ? strerror(err) : "");
	free(si->pending_why);
	si->pending_why = strdup(buf);
	return si->pending_why ? 0 : -ENOMEM;
}

/* The copy of the socket borrowed is kept for the end of the dump (repair
 * mode again before a kill): borrowing it again then would cost four more
 * syscalls a connection. Near criu-lite's fd limit it is borrowed again
 * instead. */
static int hold(struct fd_dump *c, int fd, const SocketInfo *si, const struct sk_conn *conn)
{
	struct held *n = realloc(held, (nr_held + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	held = n;
	held[nr_held++] = (struct held){ .pid = c->pid, .fd = fd, .ino = si->ino, .conn = *conn,
					 .own = fd_dump_keep(c),
					 .vals = sk_repair_vals_of(si->opts), .note = -1 };
	return 0;
}

int sk_tcp_dump(struct fd_dump *c, const struct fd_desc *d, int s, SocketInfo *si)
{
	struct sk_conn conn;
	bool refused;
	SkTcp *t;
	int r;

	if (conn_of(si, &conn))
		return pending(si, "no addresses", 0);
	/* the process's own connections at its first (from the links the walk
	 * read); one in flight, or with no links, alone */
	r = 0;
	if (c->own || !c->links)
		r = sk_lock_add(c->pid, &conn, 1);
	else if (!c->sk->locked && !(r = sk_tcp_lock_process(c)))
		c->sk->locked = true;
	if (r)
		return pending(si, "no network lock (nftables)", -r);
	/* read ahead (socket_tcp_pre.c), or now */
	if (!(t = sk_tcp_pre_take(c, d->fd, &si->state, &r, &refused))) {
		if (!(t = malloc(sizeof(*t))))
			return -ENOMEM;
		sk_tcp__init(t);
		r = sk_tcp_read(s, c->pid, d->fd, si->opts, t, &si->state, &refused);
	}
	si->tcp = t;
	if (!(t->lock = strdup(sk_lock_name())))
		return -ENOMEM;
	if (r == -ENOMEM)
		return r;
	if (r && refused) {
		si->tcp = NULL;
		sk_tcp__free_unpacked(t, NULL);
		return pending(si, "repair mode refused", r);
	}
	if (r)
		return pending(si, "repair mode reads failed", r);
	return hold(c, d->fd, si, &conn);
}

/* ---- the end of the dump ---- */

static bool same_conn(const struct sk_conn *a, const struct sk_conn *b)
{
	return a->family == b->family && a->lport == b->pport && a->pport == b->lport &&
	       !memcmp(a->lip, b->pip, sizeof(a->lip)) && !memcmp(a->pip, b->lip, sizeof(a->pip));
}

/* A key for the connection from (lip, lport) to (pip, pport). */
static uint64_t conn_key(int family, const uint32_t *lip, uint16_t lport, const uint32_t *pip,
			 uint16_t pport)
{
	uint64_t h = (uint64_t)(uint32_t)family << 32 | (uint32_t)lport << 16 | pport;

	for (int k = 0; k < 4; k++)
		h = (h ^ lip[k]) * 0x100000001b3ull ^ pip[k];
	return h;
}

/* Both ends dumped: the peer is in the tree. Held ends are indexed by
 * their key (a thousand connections were a million comparisons); a key
 * another end shares, or none, and the scan decides. */
static bool in_tree(const struct key_index *x, size_t i)
{
	const struct sk_conn *c = &held[i].conn;
	long at = key_index_get(x, 0, conn_key(c->family, c->pip, c->pport, c->lip, c->lport));

	if (at == -1)
		return false;
	if (at >= 0 && (size_t)at != i && same_conn(c, &held[at].conn))
		return true;
	for (size_t j = 0; j < nr_held; j++)
		if (j != i && same_conn(c, &held[j].conn))
			return true;
	return false;
}

/* Repair mode on (or off again: as the reads leave it) through our copy,
 * or one borrowed for it. */
static void repair_set(const struct held *h, bool on)
{
	int pidfd = -1, s = h->own, one = 1;

	if (s < 0) {
		pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
		s = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, h->fd, 0);
	}
	if (s < 0 || (on ? setsockopt(s, SOL_TCP, TCP_REPAIR, &one, sizeof(one)) :
		      sk_repair_leave(s, h->vals)))
		pr_warn("pid %d fd %d: cannot %s: %s", h->pid, h->fd,
			on ? "silence the connection before the kill" :
			     "take the connection out of repair mode", strerror(errno));
	if (s >= 0 && s != h->own)
		close(s);
	if (pidfd >= 0)
		close(pidfd);
}

static void repair_on(const struct held *h)
{
	repair_set(h, true);
}

static void repair_on_done(uint64_t tag, int res, void *arg)
{
	(void)arg;
	if (res < 0)
		pr_warn("pid %d fd %d: cannot silence the connection before the kill: %s",
			held[tag].pid, held[tag].fd, strerror(-res));
}

/* Repair mode on for every connection marked, our copies' through one
 * ring (a setsockopt each, hundreds in one io_uring_enter); without a
 * ring, or where it failed, one by one. */
static void repair_on_all(const bool *mark, size_t n)
{
	static const int on = 1;
	/* a ring costs more to make than a few setsockopt */
	struct sk_ring *ring = n >= 8 ? sk_ring_new(256, false) : NULL;
	size_t from = 0;

	for (size_t i = 0; i <= nr_held; i++) {
		bool last = i == nr_held;

		if (!last && mark[i] && (held[i].own < 0 || !ring))
			repair_on(&held[i]);
		else if (!last && mark[i])
			sk_ring_setsockopt(ring, held[i].own, SOL_TCP, TCP_REPAIR, &on, sizeof(on),
					   i, true);
		if (!ring || (!last && sk_ring_room(ring)))
			continue;
		if (sk_ring_run(ring, repair_on_done, NULL)) {
			sk_ring_free(ring);
			ring = NULL;
			for (size_t k = from; k <= i && k < nr_held; k++)
				if (mark[k] && held[k].own >= 0)
					repair_on(&held[k]);
		}
		from = i + 1;
	}
	sk_ring_free(ring);
}

/* The connections restore brings back silenced (repair mode on), those to
 * peers outside the tree listed in *keep for their lock. */
static void silence(const struct fd_rst_opts *opts, struct sk_conn **keep, size_t *nr_keep)
{
	struct key_index ends = { 0 };
	size_t nr_mark = 0;
	bool *mark = calloc(nr_held ? nr_held : 1, sizeof(*mark));

	for (size_t i = 0; i < nr_held; i++) {
		const struct sk_conn *c = &held[i].conn;

		key_index_put(&ends, 0, conn_key(c->family, c->lip, c->lport, c->pip, c->pport), i);
	}
	for (size_t i = 0; i < nr_held; i++) {
		bool tree = in_tree(&ends, i);
		struct sk_conn *k;

		if (!tree && !opts->tcp_established)
			continue;	/* closed as the kill closes it: the peer sees the end */
		held[i].note = sk_repair_in(held[i].pid, held[i].fd, held[i].vals);
		if (mark)
			mark[i] = true, nr_mark++;
		else
			repair_on(&held[i]);
		if (!tree && (k = realloc(*keep, (*nr_keep + 1) * sizeof(*k)))) {
			*keep = k;
			(*keep)[(*nr_keep)++] = held[i].conn;
		}
	}
	key_index_free(&ends);
	if (mark)
		repair_on_all(mark, nr_mark);
	free(mark);
}

/* Silenced on a thread of its own while the dump checks that restore
 * would bring the tree back (dump_check_restorable: ~2 ms for a thousand
 * connections, and silencing them ~2 ms more): only criu-lite's copies
 * and the guardian's notes are touched, and nothing reads them until the
 * end (sk_tcp_dump_finish joins it). */
#define SILENCE_AHEAD_MIN 256

static struct {
	const struct fd_rst_opts *opts;
	struct sk_conn *keep;
	size_t nr_keep;
	pthread_t th;
	bool running;
} ahead;

static void *silence_run(void *arg)
{
	(void)arg;
	silence(ahead.opts, &ahead.keep, &ahead.nr_keep);
	return NULL;
}

void sk_tcp_dump_silence_ahead(const struct fd_rst_opts *opts)
{
	if (ahead.running || nr_held < SILENCE_AHEAD_MIN || !par_two_threads())
		return;
	ahead.opts = opts;
	ahead.keep = NULL;
	ahead.nr_keep = 0;
	ahead.running = par_start(&ahead.th, silence_run, NULL);
}

/* Joined: whether the connections were silenced ahead (their keep list
 * now the caller's). */
static bool silenced_ahead(struct sk_conn **keep, size_t *nr_keep)
{
	if (!ahead.running)
		return false;
	pthread_join(ahead.th, NULL);
	ahead.running = false;
	*keep = ahead.keep;
	*nr_keep = ahead.nr_keep;
	ahead.keep = NULL;
	return true;
}

void sk_tcp_dump_finish(const struct fd_rst_opts *opts, bool kill)
{
	struct sk_conn *keep = NULL;
	size_t nr_keep = 0;
	bool was = silenced_ahead(&keep, &nr_keep);

	if (kill && !was)
		silence(opts, &keep, &nr_keep);
	/* refused after all: out of repair mode again, as the reads leave it */
	for (size_t i = 0; !kill && was && i < nr_held; i++)
		if (held[i].note >= 0) {
			repair_set(&held[i], false);
			sk_repair_out(held[i].note);
			held[i].note = -1;
		}
	if (kill && nr_keep && sk_lock_persist(keep, nr_keep))
		pr_err("the connections to peers outside the tree are not locked: they will "
		       "be reset");
	free(keep);
	if (kill && nr_held)
		fault_point("tcp: connections silenced for the kill, their lock kept");
	if (!kill)
		sk_tcp_dump_killed();
}

struct halves {
	int *fds;
	size_t n;
};

static void close_half(void *arg, size_t i)
{
	struct halves *h = arg;
	size_t mid = h->n / 2;

	fd_close_all(h->fds + (i ? mid : 0), i ? h->n - mid : mid);
}

/* Our copies, closed a run of consecutive numbers at a time (they were
 * borrowed one after another: mostly one run). The tree is dead: these
 * are each connection's last reference, and a close tears it down (~3 us
 * of kernel work each, done on the closing thread): a thousand on two. */
static void close_held(void)
{
	struct halves h = { malloc((nr_held ? nr_held : 1) * sizeof(int)), 0 };

	for (size_t i = 0; i < nr_held; i++)
		if (held[i].own >= 0) {
			if (!h.fds)
				close(held[i].own);
			else
				h.fds[h.n++] = held[i].own;
		}
	if (h.fds && h.n >= 256)
		par_run(2, close_half, NULL, &h);
	else if (h.fds)
		fd_close_all(h.fds, h.n);
	free(h.fds);
}

void sk_tcp_dump_killed(void)
{
	/* (the tree is dead: nothing is left to take out of repair mode) */
	for (size_t i = 0; i < nr_held; i++)
		sk_repair_out(held[i].note);
	sk_lock_release();
	close_held();
	free(held);
	held = NULL;
	nr_held = 0;
}
