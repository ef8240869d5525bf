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
 * a FIN or a reset, so the peer never hears of the kill. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "common/fd/fd.h"
#include "common/fd/socket.h"
#include "images/log.h"

#ifndef TCP_REPAIR_WINDOW
#define TCP_REPAIR_WINDOW 29
struct tcp_repair_window {
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
};
#endif
#define REPAIR_OFF_NO_WP (-1)

/* Connections dumped, for what happens to them at the end of the dump. */
struct held {
	pid_t pid;
	int fd;
	int own;		/* our copy of the socket, or -1 (fd limit) */
	uint64_t ino;
	struct sk_conn conn;
};
static struct held *held;
static size_t nr_held;

static bool fin_sent(uint32_t st)
{
	return st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2 || st == TCP_CLOSING ||
	       st == TCP_LAST_ACK;
}

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

static int peek_queue(int s, int queue, uint32_t *seq, uint32_t len, ProtobufCBinaryData *out,
		      protobuf_c_boolean *has)
{
	socklen_t l = sizeof(*seq);
	ssize_t n;

	if (setsockopt(s, SOL_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue)) ||
	    getsockopt(s, SOL_TCP, TCP_QUEUE_SEQ, seq, &l))
		return -errno;
	if (!len)
		return 0;
	/* the send queue is copied whole, whatever the length asked: room for all */
	out->data = malloc(len + 1);
	if (!out->data)
		return -ENOMEM;
	n = recv(s, out->data, len + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len)
		return n < 0 ? -errno : -EIO;
	out->len = len;
	*has = true;
	return 0;
}

/* struct tcp_info as the kernel has it up to tcpi_notsent_bytes (glibc's
 * stops before). */
struct tcp_info_ext {
	struct tcp_info ti;
	uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
	uint32_t segs_out, segs_in, notsent_bytes;
};
_Static_assert(offsetof(struct tcp_info_ext, notsent_bytes) == 144, "tcp_info layout");

/* The send queue's length and its part never sent (SIOCOUTQ, SIOCOUTQNSD).
 * tcp_info's notsent_bytes is SIOCOUTQNSD's write_seq - snd_nxt; with no
 * segment in flight (tcpi_unacked: packets out) snd_una is snd_nxt, so
 * SIOCOUTQ's write_seq - snd_una is the same: two syscalls spared for an
 * idle connection. */
static int send_queue(int s, const struct tcp_info_ext *x, socklen_t l, int *outq, int *unsent)
{
	if (l < offsetof(struct tcp_info_ext, notsent_bytes) + sizeof(x->notsent_bytes))
		return ioctl(s, SIOCOUTQ, outq) || ioctl(s, SIOCOUTQNSD, unsent) ? -errno : 0;
	*unsent = (int)x->notsent_bytes;
	if (!x->ti.tcpi_unacked) {
		*outq = *unsent;
		return 0;
	}
	return ioctl(s, SIOCOUTQ, outq) ? -errno : 0;
}

static int read_repair(int s, SocketInfo *si, SkTcp *t)
{
	struct tcp_repair_window w;
	struct tcp_info_ext x;
	socklen_t l = sizeof(x);
	int outq = 0, unsent = 0, inq = 0, v, r;

	memset(&x, 0, sizeof(x));
	if (getsockopt(s, SOL_TCP, TCP_INFO, &x, &l) || ioctl(s, SIOCINQ, &inq))
		return -errno;
	if ((r = send_queue(s, &x, l, &outq, &unsent)))
		return r;

	si->state = x.ti.tcpi_state;
	if (fin_sent(x.ti.tcpi_state)) {
		outq = outq ? outq - 1 : 0;
		unsent = unsent ? unsent - 1 : 0;
	}
	t->has_opt_mask = t->has_mss_clamp = t->has_unsent = true;
	t->opt_mask = x.ti.tcpi_options;
	t->unsent = (uint32_t)unsent;
	if (x.ti.tcpi_options & TCPI_OPT_WSCALE) {
		t->has_snd_wscale = t->has_rcv_wscale = true;
		t->snd_wscale = x.ti.tcpi_snd_wscale;
		t->rcv_wscale = x.ti.tcpi_rcv_wscale;
	}
	l = sizeof(v);
	if (getsockopt(s, SOL_TCP, TCP_MAXSEG, &v, &l))
		return -errno;
	t->mss_clamp = (uint32_t)v;
	l = sizeof(v);
	if ((x.ti.tcpi_options & TCPI_OPT_TIMESTAMPS) &&
	    !getsockopt(s, SOL_TCP, TCP_TIMESTAMP, &v, &l)) {
		t->has_timestamp = true;
		t->timestamp = (uint32_t)v;
	}
	l = sizeof(w);
	if (getsockopt(s, SOL_TCP, TCP_REPAIR_WINDOW, &w, &l))
		return -errno;
	t->has_snd_wl1 = t->has_snd_wnd = t->has_max_window = t->has_rcv_wnd = t->has_rcv_wup = true;
	t->snd_wl1 = w.snd_wl1;
	t->snd_wnd = w.snd_wnd;
	t->max_window = w.max_window;
	t->rcv_wnd = w.rcv_wnd;
	t->rcv_wup = w.rcv_wup;
	r = peek_queue(s, TCP_RECV_QUEUE, &t->inq_seq, (uint32_t)inq, &t->inq, &t->has_inq);
	if (!r)
		r = peek_queue(s, TCP_SEND_QUEUE, &t->outq_seq, (uint32_t)outq, &t->outq,
			       &t->has_outq);
	return r;
}

/* The copy of the socket borrowed is kept for the end of the dump (repair
 * mode again before a kill): borrowing it again then would cost four more
 * syscalls a connection. Near criu-lite's fd limit it is borrowed again
 * instead. */
static int hold(struct fd_dump *c, int fd, uint64_t ino, const struct sk_conn *conn)
{
	struct held *n = realloc(held, (nr_held + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	held = n;
	held[nr_held++] = (struct held){ .pid = c->pid, .fd = fd, .ino = ino, .conn = *conn,
					 .own = fd_dump_keep(c) };
	return 0;
}

static int add_conn(const struct sk_rec *rec, struct sk_conn **conns, size_t *n, size_t *cap)
{
	if (rec->protocol != IPPROTO_TCP || rec->state == SK_LISTEN || rec->state == SK_CLOSE)
		return 0;
	if (*n == *cap) {
		struct sk_conn *nc = realloc(*conns, (*cap = *cap ? *cap * 2 : 64) * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		*conns = nc;
	}
	(*conns)[*n] = (struct sk_conn){ .family = (int)rec->family, .lport = rec->lport,
					  .pport = rec->pport };
	memcpy((*conns)[*n].lip, rec->lip, sizeof(rec->lip));
	memcpy((*conns)[*n].pip, rec->pip, sizeof(rec->pip));
	(*n)++;
	return 0;
}

/* The fds' links, when the walk has none (files in flight). */
static int links_of(struct fd_dump *c, char ***links, size_t *nr)
{
	char path[64], link[64];
	struct dirent *de;
	size_t cap = 0;
	DIR *dir;
	int r = 0;

	*links = NULL;
	*nr = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", c->pid);
	if (!(dir = opendir(path)))
		return -errno;
	while (!r && (de = readdir(dir))) {
		char fdpath[352];
		ssize_t l;

		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		l = readlink(fdpath, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (*nr == cap) {
			char **nl = realloc(*links, (cap ? cap * 2 : 64) * sizeof(*nl));

			if (!nl) {
				r = -ENOMEM;
				break;
			}
			*links = nl;
			cap = cap ? cap * 2 : 64;
		}
		if (!((*links)[*nr] = strdup(link)))
			r = -ENOMEM;
		else
			(*nr)++;
	}
	closedir(dir);
	return r;
}

/* Every TCP connection the process holds, locked in one go: one nftables
 * transaction per process, not per socket (each costs milliseconds). */
static int lock_process(struct fd_dump *c)
{
	struct sk_conn *conns = NULL;
	char **own = NULL, *const *links = c->links;
	size_t n = 0, cap = 0, nr = c->nr_fds;
	int r = 0;

	if (!links) {
		r = links_of(c, &own, &nr);
		links = own;
	}
	for (size_t i = 0; i < nr && !r; i++) {
		unsigned long long ino;
		const struct sk_rec *rec;

		if (links[i] && sscanf(links[i], "socket:[%llu]", &ino) == 1 &&
		    (rec = sk_find(c->sk, ino)))
			r = add_conn(rec, &conns, &n, &cap);
	}
	for (size_t i = 0; own && i < nr; i++)
		free(own[i]);
	free(own);
	if (!r)
		r = sk_lock_add(c->pid, conns, n);
	free(conns);
	return r;
}

int sk_tcp_dump(struct fd_dump *c, const struct fd_desc *d, int s, SocketInfo *si)
{
	const SkOpts *o = si->opts;
	/* what sk_opts_dump read (a new TCP socket's when not stored) */
	int peek_off = o && o->has_peek_off ? o->peek_off : -1, no_peek = -1;
	int reuse = o && o->has_reuseaddr ? (int)o->reuseaddr : 0;
	int on = 1, off = REPAIR_OFF_NO_WP, r;
	struct sk_conn conn;
	SkTcp *t;

	if (conn_of(si, &conn))
		return pending(si, "no addresses", 0);
	/* the process's own connections at its first; one in flight alone */
	r = 0;
	if (c->own)
		r = sk_lock_add(c->pid, &conn, 1);
	else if (!c->sk->locked && !(r = lock_process(c)))
		c->sk->locked = true;
	if (r)
		return pending(si, "no network lock (nftables)", -r);
	if (!(t = si->tcp = malloc(sizeof(*t))))
		return -ENOMEM;
	sk_tcp__init(t);
	if (!(t->lock = strdup(sk_lock_name())))
		return -ENOMEM;
	/* a peek offset the program set would move our peeks; repair mode
	 * forces SO_REUSEADDR on, and off when it ends: both put back after */
	if (peek_off >= 0)
		setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &no_peek, sizeof(no_peek));
	if (setsockopt(s, SOL_TCP, TCP_REPAIR, &on, sizeof(on))) {
		r = errno;
		if (peek_off >= 0)
			setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof(peek_off));
		si->tcp = NULL;
		sk_tcp__free_unpacked(t, NULL);
		return pending(si, "repair mode refused", r);
	}
	r = read_repair(s, si, t);
	/* (repair mode on again starts at no queue) */
	setsockopt(s, SOL_TCP, TCP_REPAIR, &off, sizeof(off));
	if (peek_off >= 0)
		setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof(peek_off));
	if (reuse)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
	if (r == -ENOMEM)
		return r;
	if (r)
		return pending(si, "repair mode reads failed", -r);
	return hold(c, d->fd, si->ino, &conn);
}

/* ---- the end of the dump ---- */

static bool same_conn(const struct sk_conn *a, const struct sk_conn *b)
{
	return a->family == b->family && a->lport == b->pport && a->pport == b->lport &&
	       !memcmp(a->lip, b->pip, sizeof(a->lip)) && !memcmp(a->pip, b->lip, sizeof(a->pip));
}

/* Both ends dumped: the peer is in the tree. */
static bool in_tree(size_t i)
{
	for (size_t j = 0; j < nr_held; j++)
		if (j != i && same_conn(&held[i].conn, &held[j].conn))
			return true;
	return false;
}

static void repair_on(const struct held *h)
{
	int pidfd = -1, s = h->own, on = 1;

	if (s < 0) {
		pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
		s = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, h->fd, 0);
	}
	if (s < 0 || setsockopt(s, SOL_TCP, TCP_REPAIR, &on, sizeof(on)))
		pr_warn("pid %d fd %d: cannot silence the connection before the kill: %s",
			h->pid, h->fd, strerror(errno));
	if (s >= 0 && s != h->own)
		close(s);
	if (pidfd >= 0)
		close(pidfd);
}

void sk_tcp_dump_finish(const struct fd_rst_opts *opts, bool kill)
{
	struct sk_conn *keep = NULL;
	size_t nr_keep = 0;

	for (size_t i = 0; kill && i < nr_held; i++) {
		bool tree = in_tree(i);

		if (!tree && !opts->tcp_established)
			continue;	/* closed as the kill closes it: the peer sees the end */
		repair_on(&held[i]);
		if (!tree && (keep = realloc(keep, (nr_keep + 1) * sizeof(*keep))))
			keep[nr_keep++] = held[i].conn;
	}
	if (nr_keep && sk_lock_persist(keep, nr_keep))
		pr_err("the connections to peers outside the tree are not locked: they will "
		       "be reset");
	free(keep);
	if (!kill)
		sk_tcp_dump_killed();
}

void sk_tcp_dump_killed(void)
{
	sk_lock_release();
	for (size_t i = 0; i < nr_held; i++)
		if (held[i].own >= 0)
			close(held[i].own);
	free(held);
	held = NULL;
	nr_held = 0;
}
