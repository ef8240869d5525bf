/* A BPF iterator over the TCP sockets of the network namespace it is
 * created in: one struct tcp_conn_rec for each established connection
 * that a process holds (an orphan has no inode and nothing to dump).
 *
 * Why: a dump reads some two dozen values of each connection, each by a
 * getsockopt of about a microsecond in a guest; this reads them all, for
 * every connection, in one read of the iterator. socket_tcp_bpf.c loads
 * it (a light skeleton: the kernel applies the CO-RE relocations, no
 * vmlinux BTF is parsed in user space) and says where the values go. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "common/fd/bpf/tcp_conns.h"

char LICENSE[] SEC("license") = "GPL";

#define ESTABLISHED 1

SEC("iter/tcp")
int tcp_conns(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_conn_rec r = {};
	struct tcp_sock *tp;
	struct socket *so;
	__u64 now;

	if (!skc || skc->skc_state != ESTABLISHED)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	so = tp->inet_conn.icsk_inet.sk.sk_socket;
	if (!so)
		return 0;
	r.ino = BPF_CORE_READ(container_of(so, struct socket_alloc, socket), vfs_inode.i_ino);
	r.state = skc->skc_state;
	if (BPF_CORE_READ_BITFIELD(tp, rx_opt.tstamp_ok))
		r.flags |= TCB_TSTAMP_OK;
	if (BPF_CORE_READ_BITFIELD(tp, rx_opt.sack_ok))
		r.flags |= TCB_SACK_OK;
	if (BPF_CORE_READ_BITFIELD(tp, rx_opt.wscale_ok))
		r.flags |= TCB_WSCALE_OK;
	if (bpf_core_field_exists(tp->tcp_usec_ts) && BPF_CORE_READ_BITFIELD(tp, tcp_usec_ts))
		r.flags |= TCB_USEC_TS;
	if (BPF_CORE_READ_BITFIELD(tp, repair))
		r.flags |= TCB_REPAIR;
	if (tp->urg_data)
		r.flags |= TCB_URG;
	r.write_seq = tp->write_seq;
	r.snd_una = tp->snd_una;
	r.snd_nxt = tp->snd_nxt;
	r.rcv_nxt = tp->rcv_nxt;
	r.copied_seq = tp->copied_seq;
	r.snd_wl1 = tp->snd_wl1;
	r.snd_wnd = tp->snd_wnd;
	r.max_window = tp->max_window;
	r.rcv_wnd = tp->rcv_wnd;
	r.rcv_wup = tp->rcv_wup;
	r.mss_clamp = tp->rx_opt.mss_clamp;
	r.snd_wscale = BPF_CORE_READ_BITFIELD(tp, rx_opt.snd_wscale);
	r.rcv_wscale = BPF_CORE_READ_BITFIELD(tp, rx_opt.rcv_wscale);
	/* TCP_TIMESTAMP: the TCP clock (CLOCK_MONOTONIC, in ms or us) plus
	 * the connection's offset */
	now = bpf_ktime_get_ns();
	r.timestamp = (__u32)((r.flags & TCB_USEC_TS) ? now / 1000 : now / 1000000) + tp->tsoffset;
	r.nonagle = BPF_CORE_READ_BITFIELD(tp, nonagle);
	r.keepalive_probes = tp->keepalive_probes;
	r.keepalive_time = tp->keepalive_time;
	r.keepalive_intvl = tp->keepalive_intvl;
	r.linger2 = tp->linger2;
	r.user_timeout = tp->inet_conn.icsk_user_timeout;
	r.notsent_lowat = tp->notsent_lowat;
	r.uc_ttl = tp->inet_conn.icsk_inet.uc_ttl;
	r.pmtudisc = tp->inet_conn.icsk_inet.pmtudisc;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
