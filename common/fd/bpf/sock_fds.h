/* One socket fd of a process as the BPF iterator (sock_fds.bpf.c) reports
 * it to socket_bpf.c: what /proc/PID/fdinfo and fcntl would say of the fd,
 * and for an established TCP connection the fields behind the getsockopt
 * calls a dump makes of it, raw (no defaults applied, no HZ). Shared by
 * both sides; the BPF side has __u32 and friends from vmlinux.h. */
#ifndef COMMON_FD_BPF_SOCK_FDS_H
#define COMMON_FD_BPF_SOCK_FDS_H

/* flags */
#define SFD_CLOEXEC 1		/* the fd's close-on-exec */
#define SFD_OWNER 2		/* the file has a signal owner struct */
#define SFD_LOCKS 4		/* its inode has a file lock context */
#define SFD_TCP 8		/* an established TCP connection: tcp below */
#define SFD_TSTAMP_OK 16	/* timestamps negotiated */
#define SFD_SACK_OK 32
#define SFD_WSCALE_OK 64
#define SFD_USEC_TS 128		/* timestamps count microseconds */
#define SFD_REPAIR 256		/* already in repair mode (someone else's) */
#define SFD_URG 512		/* urgent data pending */
/* sock_flags, as getsockopt(SOL_SOCKET) shows them */
#define SFD_KEEPOPEN 1024
#define SFD_LINGER 2048
#define SFD_URGINLINE 4096
#define SFD_LOCALROUTE 8192
#define SFD_RCVTSTAMP 16384
#define SFD_RCVTSTAMPNS 32768
#define SFD_TSTAMP_NEW 65536
#define SFD_FILTER 131072	/* a socket filter is attached */

struct sock_fd_rec {
	__u32 fd, flags;
	__u64 ino;
	__u32 mode, pad0;		/* the inode's, as stat says */
	/* fdinfo */
	__s64 pos;
	__u32 f_flags;
	__s32 mnt_id;
	/* SOL_SOCKET, raw (the times in jiffies) */
	__s32 rcvbuf, sndbuf, rcvlowat, peek_off;
	__u32 priority;
	__u8 userlocks, reuse, reuseport, pad;
	__s64 rcvtimeo, sndtimeo;
	__u64 lingertime;
	/* SFD_TCP: TCP_QUEUE_SEQ and the queues' lengths */
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

/* What sock_tcp gives of each TCP socket fd: the values sock_diag's TCP
 * table has of it (socket_tables.c), read the way the kernel fills
 * that table. */
#define STT_RECVERR 1		/* inet_diag_sockopt's flags */
#define STT_FREEBIND 2
#define STT_TRANSPARENT 4
#define STT_CONG 8		/* a congestion control: cong */
#define STT_OWN_NS 16		/* in the network namespace of the process */

struct sock_tcp_rec {
	__u64 ino;
	__u32 fd, pad0;
	__u32 lip[4], pip[4];		/* network order, as idiag_src and idiag_dst */
	__u16 lport, pport;		/* host order */
	__u8 family, state, shutdown, tos;
	__u8 tclass, flags, pad[2];
	__u32 rqueue, wqueue;		/* as idiag_rqueue and idiag_wqueue */
	__u32 mark;
	__s32 bound_if;
	char cong[16];
};

/* What sock_inos gives of each socket fd: the link /proc shows for it is
 * "socket:[ino]". */
struct sock_ino {
	__u32 fd, pad;
	__u64 ino;
};

#endif
