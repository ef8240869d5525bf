/* BPF iterators over one process's fds (iter/task_file, the process
 * chosen when the link is made): sock_fds, one struct sock_fd_rec for each
 * socket; sock_inos, one struct sock_ino; sock_tcp, one struct
 * sock_tcp_rec for each TCP socket.
 *
 * Why: a dump reads of each TCP connection its fdinfo, its signal owner
 * and some two dozen values, each by a syscall of about a microsecond in a
 * guest; this reads them all, for every socket of the process, in one read
 * of the iterator. socket_bpf.c loads it (a light skeleton: the kernel
 * applies the CO-RE relocations, no vmlinux BTF is parsed in user space)
 * and says where the values go. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "common/fd/bpf/sock_fds.h"

char LICENSE[] SEC("license") = "GPL";

#define ESTABLISHED 1
#define LISTEN 10
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6

/* A socket reached from a file is not one the socket helpers take (the
 * verifier calls it untrusted): read only, cast once its kind is checked. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* The socket-level part, for any socket. */
static void sock(struct sock *sk, struct sock_fd_rec *r)
{
	unsigned long flags = sk->__sk_common.skc_flags;

	/* each flag's bit as this kernel numbers it */
#define FLAG(name, bit) \
	if (flags >> bpf_core_enum_value(enum sock_flags, name) & 1) \
		r->flags |= bit
	FLAG(SOCK_KEEPOPEN, SFD_KEEPOPEN);
	FLAG(SOCK_LINGER, SFD_LINGER);
	FLAG(SOCK_URGINLINE, SFD_URGINLINE);
	FLAG(SOCK_LOCALROUTE, SFD_LOCALROUTE);
	FLAG(SOCK_RCVTSTAMP, SFD_RCVTSTAMP);
	FLAG(SOCK_RCVTSTAMPNS, SFD_RCVTSTAMPNS);
	FLAG(SOCK_TSTAMP_NEW, SFD_TSTAMP_NEW);
#undef FLAG
	if (sk->sk_filter)
		r->flags |= SFD_FILTER;
	r->rcvbuf = sk->sk_rcvbuf;
	r->sndbuf = sk->sk_sndbuf;
	r->rcvlowat = sk->sk_rcvlowat;
	r->peek_off = sk->sk_peek_off;
	r->priority = sk->sk_priority;
	r->userlocks = sk->sk_userlocks;
	r->reuse = BPF_CORE_READ_BITFIELD(sk, __sk_common.skc_reuse);
	r->reuseport = BPF_CORE_READ_BITFIELD(sk, __sk_common.skc_reuseport);
	r->rcvtimeo = sk->sk_rcvtimeo;
	r->sndtimeo = sk->sk_sndtimeo;
	r->lingertime = sk->sk_lingertime;
}

/* The TCP part, for an established connection. */
static void tcp(struct tcp_sock *tp, struct sock_fd_rec *r)
{
	__u64 now;

	r->flags |= SFD_TCP;
	if (BPF_CORE_READ_BITFIELD(tp, rx_opt.tstamp_ok))
		r->flags |= SFD_TSTAMP_OK;
	if (BPF_CORE_READ_BITFIELD(tp, rx_opt.sack_ok))
		r->flags |= SFD_SACK_OK;
	if (BPF_CORE_READ_BITFIELD(tp, rx_opt.wscale_ok))
		r->flags |= SFD_WSCALE_OK;
	if (bpf_core_field_exists(tp->tcp_usec_ts) && BPF_CORE_READ_BITFIELD(tp, tcp_usec_ts))
		r->flags |= SFD_USEC_TS;
	if (BPF_CORE_READ_BITFIELD(tp, repair))
		r->flags |= SFD_REPAIR;
	if (tp->urg_data)
		r->flags |= SFD_URG;
	r->write_seq = tp->write_seq;
	r->snd_una = tp->snd_una;
	r->snd_nxt = tp->snd_nxt;
	r->rcv_nxt = tp->rcv_nxt;
	r->copied_seq = tp->copied_seq;
	r->snd_wl1 = tp->snd_wl1;
	r->snd_wnd = tp->snd_wnd;
	r->max_window = tp->max_window;
	r->rcv_wnd = tp->rcv_wnd;
	r->rcv_wup = tp->rcv_wup;
	r->mss_clamp = tp->rx_opt.mss_clamp;
	r->snd_wscale = BPF_CORE_READ_BITFIELD(tp, rx_opt.snd_wscale);
	r->rcv_wscale = BPF_CORE_READ_BITFIELD(tp, rx_opt.rcv_wscale);
	/* TCP_TIMESTAMP: the TCP clock (CLOCK_MONOTONIC, in ms or us) plus
	 * the connection's offset */
	now = bpf_ktime_get_ns();
	r->timestamp = (__u32)((r->flags & SFD_USEC_TS) ? now / 1000 : now / 1000000) +
		       tp->tsoffset;
	r->nonagle = BPF_CORE_READ_BITFIELD(tp, nonagle);
	r->keepalive_probes = tp->keepalive_probes;
	r->keepalive_time = tp->keepalive_time;
	r->keepalive_intvl = tp->keepalive_intvl;
	r->linger2 = tp->linger2;
	r->user_timeout = tp->inet_conn.icsk_user_timeout;
	r->notsent_lowat = tp->notsent_lowat;
	r->uc_ttl = tp->inet_conn.icsk_inet.uc_ttl;
	r->pmtudisc = tp->inet_conn.icsk_inet.pmtudisc;
}

SEC("iter/task_file")
int sock_fds(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	struct sock_fd_rec r = {};
	unsigned long *coe, word = 0;
	struct tcp_sock *tp;
	struct socket *so;
	struct sock *sk;

	if (!file || !task)
		return 0;
	so = bpf_sock_from_file(file);
	if (!so)
		return 0;
	r.fd = ctx->fd;
	r.ino = file->f_inode->i_ino;
	r.mode = file->f_inode->i_mode;
	r.pos = file->f_pos;
	r.f_flags = file->f_flags;
	r.mnt_id = BPF_CORE_READ(container_of(file->f_path.mnt, struct mount, mnt), mnt_id);
	coe = BPF_CORE_READ(task, files, fdt, close_on_exec);
	if (coe && !bpf_probe_read_kernel(&word, sizeof(word), coe + r.fd / 64) &&
	    (word >> (r.fd % 64) & 1))
		r.flags |= SFD_CLOEXEC;
	if (BPF_CORE_READ(file, f_owner))
		r.flags |= SFD_OWNER;
	if (file->f_inode->i_flctx)
		r.flags |= SFD_LOCKS;
	sk = so->sk;
	if (sk)
		sock(sk, &r);
	if (sk && sk->__sk_common.skc_state == ESTABLISHED && sk->sk_type == SOCK_STREAM &&
	    sk->sk_protocol == IPPROTO_TCP &&
	    (sk->__sk_common.skc_family == AF_INET || sk->__sk_common.skc_family == AF_INET6)) {
		tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
		tcp(tp, &r);
	}
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

/* Only each socket fd's inode, for the list of a process's fds (its links
 * are "socket:[ino]"): a readlink of /proc/PID/fd/N each, spared. */
SEC("iter/task_file")
int sock_inos(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct sock_ino r = {};

	if (!file || !bpf_sock_from_file(file))
		return 0;
	r.fd = ctx->fd;
	r.ino = file->f_inode->i_ino;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

/* Each TCP socket fd as sock_diag's TCP table shows it (the fields
 * inet_diag fills its message from): a server's own sockets, without a
 * walk of every TCP socket of the namespace (~3.5 us a socket there, a
 * server's clients' too when they run beside it). */
SEC("iter/task_file")
int sock_tcp(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	struct sock_tcp_rec r = {};
	const struct tcp_congestion_ops *ca;
	struct tcp_sock *tp;
	struct socket *so;
	struct sock *sk;
	unsigned long fl;
	int fam, rq;

	if (!file || !task || !(so = bpf_sock_from_file(file)) || !(sk = so->sk))
		return 0;
	fam = sk->__sk_common.skc_family;
	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP ||
	    (fam != AF_INET && fam != AF_INET6))
		return 0;
	tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	r.fd = ctx->fd;
	r.ino = file->f_inode->i_ino;
	/* (the pointers compared: a look into struct net costs the load 1 ms) */
	if (BPF_CORE_READ(sk, __sk_common.skc_net.net) == BPF_CORE_READ(task, nsproxy, net_ns))
		r.flags |= STT_OWN_NS;
	r.family = fam;
	r.state = sk->__sk_common.skc_state;
	if (fam == AF_INET) {
		r.lip[0] = sk->__sk_common.skc_rcv_saddr;
		r.pip[0] = sk->__sk_common.skc_daddr;
	} else {
		BPF_CORE_READ_INTO(&r.lip, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&r.pip, sk, __sk_common.skc_v6_daddr);
		r.tclass = BPF_CORE_READ(tp, inet_conn.icsk_inet.pinet6, tclass);
	}
	r.lport = sk->__sk_common.skc_num;
	r.pport = __builtin_bswap16(sk->__sk_common.skc_dport);
	r.shutdown = sk->sk_shutdown;
	r.tos = tp->inet_conn.icsk_inet.tos;
	/* (INET_FLAGS_* is an enum without a name, which CO-RE cannot
	 * relocate: its numbers are those of the kernel built against, and a
	 * kernel before 6.6, without inet_flags, does not load the program) */
	fl = tp->inet_conn.icsk_inet.inet_flags;
	if (fl >> INET_FLAGS_RECVERR & 1)
		r.flags |= STT_RECVERR;
	if (fl >> INET_FLAGS_FREEBIND & 1)
		r.flags |= STT_FREEBIND;
	if (fl >> INET_FLAGS_TRANSPARENT & 1)
		r.flags |= STT_TRANSPARENT;
	/* tcp_diag's queues: a listener's backlog, a connection's bytes */
	if (r.state == LISTEN) {
		r.rqueue = sk->sk_ack_backlog;
		r.wqueue = sk->sk_max_ack_backlog;
	} else {
		rq = (int)(tp->rcv_nxt - tp->copied_seq);
		r.rqueue = rq > 0 ? rq : 0;
		r.wqueue = tp->write_seq - tp->snd_una;
	}
	r.mark = sk->sk_mark;
	r.bound_if = sk->__sk_common.skc_bound_dev_if;
	ca = tp->inet_conn.icsk_ca_ops;
	if (ca && bpf_probe_read_kernel_str(r.cong, sizeof(r.cong), ca->name) > 0)
		r.flags |= STT_CONG;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
