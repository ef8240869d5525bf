/* One TCP connection as the BPF iterator (tcp_conns.bpf.c) reports it to
 * socket_tcp_bpf.c: the fields behind the getsockopt calls a dump makes
 * of an established connection, raw (no defaults applied, no HZ). Shared
 * by both sides; the BPF side has __u32 and friends from vmlinux.h. */
#ifndef COMMON_FD_BPF_TCP_CONNS_H
#define COMMON_FD_BPF_TCP_CONNS_H

/* flags */
#define TCB_TSTAMP_OK 1		/* timestamps negotiated */
#define TCB_SACK_OK 2
#define TCB_WSCALE_OK 4
#define TCB_USEC_TS 8		/* timestamps count microseconds */
#define TCB_REPAIR 16		/* already in repair mode (someone else's) */
#define TCB_URG 32		/* urgent data pending */

struct tcp_conn_rec {
	__u64 ino;
	__u32 state, flags;
	/* TCP_QUEUE_SEQ and the queues' lengths */
	__u32 write_seq, snd_una, snd_nxt, rcv_nxt, copied_seq;
	/* TCP_REPAIR_WINDOW */
	__u32 snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
	/* TCP_MAXSEG in repair mode, TCP_TIMESTAMP when read */
	__u32 mss_clamp, timestamp;
	__u8 snd_wscale, rcv_wscale, nonagle, keepalive_probes;
	/* jiffies, 0: the namespace's default */
	__u32 keepalive_time, keepalive_intvl;
	__s32 linger2;
	__u32 user_timeout, notsent_lowat;
	__s32 uc_ttl;			/* < 0: the namespace's default */
	__u32 pmtudisc;
};

#endif
