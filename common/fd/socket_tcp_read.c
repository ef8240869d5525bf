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

#include "common/fd/fd.h"
#include "common/fd/socket.h"

#define REPAIR_OFF_NO_WP (-1)

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

static int read_repair(int s, uint32_t *state, SkTcp *t)
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

	*state = x.ti.tcpi_state;
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

int sk_tcp_read(int s, const SkOpts *o, SkTcp *t, uint32_t *state, bool *refused)
{
	/* what sk_opts_dump read (a new TCP socket's when not stored) */
	int peek_off = o && o->has_peek_off ? o->peek_off : -1, no_peek = -1;
	int reuse = o && o->has_reuseaddr ? (int)o->reuseaddr : 0;
	int on = 1, off = REPAIR_OFF_NO_WP, r;

	*refused = false;
	/* a peek offset the program set would move our peeks; repair mode
	 * forces SO_REUSEADDR on, and off when it ends: both put back after */
	if (peek_off >= 0)
		setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &no_peek, sizeof(no_peek));
	if (setsockopt(s, SOL_TCP, TCP_REPAIR, &on, sizeof(on))) {
		r = errno;
		if (peek_off >= 0)
			setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof(peek_off));
		*refused = true;
		return r;
	}
	r = read_repair(s, state, t);
	/* (repair mode on again starts at no queue) */
	setsockopt(s, SOL_TCP, TCP_REPAIR, &off, sizeof(off));
	if (peek_off >= 0)
		setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof(peek_off));
	if (reuse)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
	return r == -ENOMEM ? r : -r;
}
