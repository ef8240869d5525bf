/* TCP connections, dump: the reads in repair mode (see socket_tcp_dump.c
 * for what they are and when). Apart from the socket itself these touch
 * nothing shared, so the prefetch (socket_tcp_pre.c) runs them on two
 * threads. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/fault.h"
#include "common/fd/fd.h"
#include "common/fd/socket.h"

static bool fin_sent(uint32_t st)
{
	return st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2 || st == TCP_CLOSING ||
	       st == TCP_LAST_ACK;
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

/* Everything but the queues' sequences and bytes: tcp_info, the queues'
 * lengths (*inq: the receive queue's, unless already known: >= 0), the
 * MSS, the timestamp, the windows. */
static int read_info(int s, uint32_t *state, SkTcp *t, int *inq, int *outq)
{
	struct tcp_repair_window w;
	struct tcp_info_ext x;
	socklen_t l = sizeof(x);
	int unsent = 0, v, r;

	memset(&x, 0, sizeof(x));
	if (getsockopt(s, SOL_TCP, TCP_INFO, &x, &l) || (*inq < 0 && ioctl(s, SIOCINQ, inq)))
		return -errno;
	if ((r = send_queue(s, &x, l, outq, &unsent)))
		return r;

	*state = x.ti.tcpi_state;
	if (fin_sent(x.ti.tcpi_state)) {
		*outq = *outq ? *outq - 1 : 0;
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
	return 0;
}

static int read_queues(int s, SkTcp *t, int inq, int outq)
{
	int r = peek_queue(s, TCP_RECV_QUEUE, &t->inq_seq, (uint32_t)inq, &t->inq, &t->has_inq);

	if (!r)
		r = peek_queue(s, TCP_SEND_QUEUE, &t->outq_seq, (uint32_t)outq, &t->outq,
			       &t->has_outq);
	return r;
}

static int read_repair(int s, uint32_t *state, SkTcp *t)
{
	int inq = -1, outq = 0, r = read_info(s, state, t, &inq, &outq);

	return r ? r : read_queues(s, t, inq, outq);
}

struct sk_repair_vals sk_repair_vals_of(const SkOpts *o)
{
	return (struct sk_repair_vals){ o && o->has_reuseaddr ? (int)o->reuseaddr : 0,
					o && o->has_peek_off ? o->peek_off : -1 };
}

int sk_repair_leave(int s, struct sk_repair_vals v)
{
	int off = TCP_REPAIR_OFF_NO_WP, r = 0;

	if (setsockopt(s, SOL_TCP, TCP_REPAIR, &off, sizeof(off)))
		r = -errno;
	if (v.peek_off >= 0)
		setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &v.peek_off, sizeof(v.peek_off));
	if (v.reuse)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v.reuse, sizeof(v.reuse));
	return r;
}

int sk_tcp_read(int s, pid_t pid, int fd, const SkOpts *o, SkTcp *t, uint32_t *state,
		bool *refused)
{
	struct sk_repair_vals v = sk_repair_vals_of(o);
	int peek_off = v.peek_off, no_peek = -1;
	int on = 1, r, note = sk_repair_in(pid, fd, v);

	*refused = false;
	/* a peek offset the program set would move our peeks; repair mode
	 * forces SO_REUSEADDR on, and off when it ends: both put back after */
	if (peek_off >= 0)
		setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &no_peek, sizeof(no_peek));
	if (setsockopt(s, SOL_TCP, TCP_REPAIR, &on, sizeof(on))) {
		r = errno;
		if (peek_off >= 0)
			setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof(peek_off));
		sk_repair_out(note);
		*refused = true;
		return r;
	}
	fault_point("tcp: a connection read in repair mode");
	r = read_repair(s, state, t);
	/* (repair mode on again starts at no queue) */
	sk_repair_leave(s, v);
	sk_repair_out(note);
	return r == -ENOMEM ? r : -r;
}

/* ---- many at once ---- */

/* What each ring operation is, in its tag (the job's index above). */
enum step { ON, INQ, RQ, OFF, REUSE };

static void got(uint64_t tag, int res, void *arg)
{
	struct sk_tcp_job *j = &((struct sk_tcp_job *)arg)[tag >> 8];

	switch ((enum step)(tag & 0xff)) {
	case ON: j->on_res = res; break;
	case INQ: j->inq = res; break;
	case RQ: j->rq_res = res; break;
	case OFF: j->off_res = res; break;
	case REUSE: break;		/* best effort, as one by one */
	}
}

static uint64_t tag(size_t i, enum step st)
{
	return (uint64_t)i << 8 | st;
}

/* The step queued for the jobs still read on the ring; false when the
 * ring itself failed (nothing known then: the caller does the step one
 * by one, each being the same when done twice). */
static bool run(struct sk_ring *ring, struct sk_tcp_job *j)
{
	return !sk_ring_run(ring, got, j);
}

static bool on_ring(const struct sk_tcp_job *j)
{
	return !j->alone && !j->err && !j->queued;
}

/* Repair mode on and SIOCINQ for each; a job the ring (or the kernel)
 * refused, or any if the ring failed, goes one by one: nothing was set. */
static void start(struct sk_ring *ring, struct sk_tcp_job *j, size_t n)
{
	static const int on = 1;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		j[i].note = -1;
		if (j[i].alone)
			continue;
		j[i].note = sk_repair_in(j[i].pid, j[i].fd, sk_repair_vals_of(j[i].o));
		j[i].on_res = j[i].inq = -ECANCELED;
		sk_ring_setsockopt(ring, j[i].s, SOL_TCP, TCP_REPAIR, &on, sizeof(on), tag(i, ON),
				   true);
		sk_ring_inq(ring, j[i].s, tag(i, INQ), false);
		k++;
	}
	if (k && !run(ring, j))
		for (size_t i = 0; i < n; i++)
			j[i].on_res = -ECANCELED;
	for (size_t i = 0; i < n; i++) {
		if (!j[i].alone && j[i].on_res < 0)
			j[i].alone = true;
		if (!j[i].alone || j[i].by_bpf)
			continue;
		j[i].r = sk_tcp_read(j[i].s, j[i].pid, j[i].fd, j[i].o, j[i].t, &j[i].state,
				     &j[i].refused);
		/* (after: the ring may have set repair mode on before it failed) */
		sk_repair_out(j[i].note);
		j[i].note = -1;
	}
	if (k)
		fault_point("tcp: connections read in repair mode");
}

/* One queue selected for each (in repair mode since start), then its
 * sequence read: as peek_queue does for a queue with no bytes. */
static void queue_seq(struct sk_ring *ring, struct sk_tcp_job *j, size_t n, int queue)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!on_ring(&j[i]))
			continue;
		j[i].rq_res = -ECANCELED;
		sk_ring_setsockopt(ring, j[i].s, SOL_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue),
				   tag(i, RQ), true);
		k++;
	}
	if (k && !run(ring, j))
		for (size_t i = 0; i < n; i++)
			if (on_ring(&j[i]))
				j[i].rq_res = setsockopt(j[i].s, SOL_TCP, TCP_REPAIR_QUEUE, &queue,
							 sizeof(queue)) ? -errno : 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t *seq = queue == TCP_RECV_QUEUE ? &j[i].t->inq_seq : &j[i].t->outq_seq;
		socklen_t l = sizeof(*seq);

		if (!on_ring(&j[i]))
			continue;
		if (j[i].rq_res < 0)
			j[i].err = j[i].rq_res;
		else if (getsockopt(j[i].s, SOL_TCP, TCP_QUEUE_SEQ, seq, &l))
			j[i].err = -errno;
	}
}

/* Repair mode off, and SO_REUSEADDR (which it drops) back: as
 * sk_tcp_read ends. */
static void finish(struct sk_ring *ring, struct sk_tcp_job *j, size_t n)
{
	static const int off = TCP_REPAIR_OFF_NO_WP;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (j[i].alone)
			continue;
		j[i].off_res = -ECANCELED;
		sk_ring_setsockopt(ring, j[i].s, SOL_TCP, TCP_REPAIR, &off, sizeof(off),
				   tag(i, OFF), true);
		/* linked: after repair mode is off, which would drop it again */
		if (sk_repair_vals_of(j[i].o).reuse)
			sk_ring_setsockopt(ring, j[i].s, SOL_SOCKET, SO_REUSEADDR,
					   &j[i].o->reuseaddr, sizeof(int), tag(i, REUSE), false);
		k++;
	}
	if (k && !run(ring, j))
		for (size_t i = 0; i < n; i++)
			if (!j[i].alone)
				setsockopt(j[i].s, SOL_TCP, TCP_REPAIR, &off, sizeof(off));
	for (size_t i = 0; i < n; i++) {
		int reuse = sk_repair_vals_of(j[i].o).reuse;

		if (j[i].alone)
			continue;
		/* (the chain cut short, or no ring: SO_REUSEADDR not set yet) */
		if (reuse && j[i].off_res < 0)
			setsockopt(j[i].s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
		sk_repair_out(j[i].note);
		j[i].r = j[i].err == -ENOMEM ? j[i].err : -j[i].err;
	}
}

/* CHECK (socket_bpf.c): what the syscalls read against the BPF
 * iterator's values; a difference fails the connection's read. */
static void check_bpf(struct sk_tcp_job *j, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!j[i].r && !sk_tcp_bpf_agrees(j[i].rec, j[i].t, j[i].state))
			j[i].r = EPROTO;
}

void sk_tcp_read_many(struct sk_tcp_job *j, size_t n)
{
	struct sk_ring *ring = NULL;
	bool check = sk_bpf_mode() == SK_BPF_CHECK;
	size_t asked = 0;

	for (size_t i = 0; i < n; i++) {
		j[i].refused = j[i].queued = false;
		j[i].err = j[i].r = 0;
		/* read by the BPF iterator: nothing to ask (each step passes
		 * over a job alone, and start over one by_bpf too) */
		j[i].by_bpf = !check && sk_tcp_from_bpf(j[i].rec, j[i].t, &j[i].state);
		/* a peek offset to put aside and back: one by one */
		j[i].alone = j[i].by_bpf ||
			     (j[i].o && j[i].o->has_peek_off && j[i].o->peek_off >= 0);
		asked += !j[i].alone;
	}
	/* a ring for what is asked of the kernel (nothing, when BPF read all) */
	if (asked && n > 1 && n <= SK_TCP_MANY)
		ring = sk_ring_dump();
	for (size_t i = 0; i < n && asked && !ring; i++)
		j[i].alone = true;
	start(ring, j, n);
	for (size_t i = 0; i < n; i++) {
		if (j[i].alone)
			continue;
		/* (INQ refused by the ring: read_info asks SIOCINQ itself) */
		if (j[i].inq < 0)
			j[i].inq = -1;
		j[i].outq = 0;
		j[i].err = read_info(j[i].s, &j[i].state, j[i].t, &j[i].inq, &j[i].outq);
		/* bytes to copy: the queues one by one, as sk_tcp_read reads them */
		if (!j[i].err && (j[i].inq || j[i].outq)) {
			j[i].queued = true;
			j[i].err = read_queues(j[i].s, j[i].t, j[i].inq, j[i].outq);
		}
	}
	queue_seq(ring, j, n, TCP_RECV_QUEUE);
	queue_seq(ring, j, n, TCP_SEND_QUEUE);
	finish(ring, j, n);
	if (check)
		check_bpf(j, n);
}
