/* Private to socket*.c: sockets, dump and restore.
 *
 * Dump (in criu-lite, the tree frozen): what the kernel's sock_diag tables
 * say (socket_diag.c), then what only the socket itself can say, asked of
 * a duplicate borrowed with pidfd_getfd: options (socket_opts.c), the
 * receive queue and files in flight (socket_queue.c), a TCP connection in
 * repair mode (socket_tcp_dump.c) under a network lock (socket_lock.c).
 *
 * Restore: every socket is made in criu-lite before the tree is forked
 * (socket.c dispatches by family: socket_unix.c, socket_inet.c,
 * socket_tcp.c, socket_other.c); what needs every socket to exist first
 * (connecting clients to listeners, files in flight) is done in the link
 * step, and what needs the tree's processes (credentials in flight, taking
 * TCP out of repair, the lock) in the late step. */
#ifndef CRIU_LITE_COMMON_FD_SOCKET_H
#define CRIU_LITE_COMMON_FD_SOCKET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/tcp.h>

#include "common/fd/fd.h"

struct sock_fd_rec;

#define SK_LISTEN 10		/* TCP_LISTEN, also what sock_diag shows for unix */
#define SK_ESTABLISHED 1	/* TCP_ESTABLISHED, unix SS_CONNECTED */
#define SK_CLOSE 7

#define SK_LOCK_MARK 0xc1e0	/* packets criu-lite injects pass the network lock */

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

/* Per-fd flags that belong to the open file description. */
#define SK_FL_SETTABLE (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

#ifndef TCP_REPAIR_WINDOW
#define TCP_REPAIR_WINDOW 29
struct tcp_repair_window {
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
};
#endif

/* ---- dump ---- */

/* One socket of the target's netns as sock_diag lists it. */
struct sk_rec {
	uint64_t ino, peer_ino;
	uint32_t family, type, protocol, state;
	uint32_t rqueue, wqueue, shutdown;
	bool has_queues, has_peer;
	/* Kept small: a busy netns lists 10^5 sockets, most not the target's. */
	char *name;			/* AF_UNIX name, "@..." when abstract, or NULL */
	uint64_t vfs_ino, vfs_dev;	/* AF_UNIX path: the bound file */
	uint32_t lip[4], pip[4];	/* inet addresses, network order */
	uint16_t lport, pport;
	uint32_t *icons;
	size_t n_icons;
	struct sk_diag_opts {		/* inet: options sock_diag gives for every socket */
		bool has_sockopt, has_tos, has_tclass, has_mark;
		bool recverr, freebind, transparent;
		uint8_t tos, tclass;
		uint32_t mark, bound_if;
		char cong[16];		/* "" when not said */
	} dopt;
	/* an established TCP connection as the BPF iterator read it after the
	 * lock (socket_bpf.c), or NULL */
	const struct sock_fd_rec *tcb;
};

/* The socket part of a process's dump (fd_dump.sk). */
struct sk_cache {
	struct sk_rec *recs;
	size_t nr, cap;
	int err;			/* first error met inside a callback */
	bool locked;			/* this process's TCP connections are in the lock */
	int depth;			/* files in flight inside files in flight */
	struct sk_pre_set *pre;		/* connections read ahead (socket_tcp_pre.c) */
	struct sock_fd_rec *bpf_fds;	/* by fd: what the recs' tcb point into */
	size_t nr_bpf_fds;
	/* the TCP part came from the BPF iterator (socket_tables.c): a TCP
	 * socket not in it is looked up in the walked table */
	bool tcp_by_bpf;
	struct sk_cache *tcp_walked;
};

/* socket_tables.c: c's tables, their TCP part by the BPF iterator when it
 * can say it (every TCP socket of the process listens or is connected). */
int sk_cache_load(struct fd_dump *c);
/* socket_diag.c: the tables of pid's namespace (all, all but TCP's, TCP's)
 * added to c, which is then sorted by inode: 0; -EIO: no sock_diag at all,
 * the sockets get basics only; or a fatal error. */
enum sk_tables { SK_TABLES_ALL, SK_TABLES_NO_TCP, SK_TABLES_TCP };
int sk_diag_load(pid_t pid, struct sk_cache *c, enum sk_tables which);
const struct sk_rec *sk_find(const struct sk_cache *c, uint64_t ino);
/* A TCP socket sk_find did not find when the TCP part came from BPF (one
 * in flight in a UNIX queue): looked up in the namespace's TCP table,
 * walked once; NULL otherwise. */
const struct sk_rec *sk_find_tcp_walked(struct fd_dump *c, uint64_t ino);
/* A zeroed record at the end of c's, or NULL (c->err set). */
struct sk_rec *sk_rec_new(struct sk_cache *c);
/* The listener (in c's tables) whose accept queue holds client `ino`. */
const struct sk_rec *sk_find_listener_of(const struct sk_cache *c, uint64_t ino);
/* Enter pid's network namespace (*home: ours, to sk_netns_leave with), or
 * stay when it is ours (*home = -1). */
int sk_netns_enter(pid_t pid, int *home);
int sk_netns_leave(int home);
void sk_cache_free(struct sk_cache *c);

/* socket_dump.c: the kind's dump half. */
int socket_dump(struct fd_dump *c, const struct fd_desc *d, FdEntry *e);
void socket_dump_done(struct fd_dump *c);

/* socket_unix_dump.c: what sock_diag does not say of a unix socket. */
int sk_unix_dump(struct fd_dump *c, const struct fd_desc *d, const struct sk_rec *r, int s,
		 SocketInfo *si);

/* socket_opts.c: options (sk_opts) of the borrowed socket s; r (or NULL):
 * sock_diag's record, whose values spare a getsockopt each. */
int sk_opts_dump(int s, SocketInfo *si, const struct sk_rec *r);
/* sk_opts_dump of n sockets, their socket-level options asked together
 * (a few ring runs for all, not one each). */
struct sk_opts_job {
	int s;
	SocketInfo *si;
	const struct sk_rec *rec;
	int r;				/* out: sk_opts_dump's result */
};
void sk_opts_dump_many(struct sk_opts_job *j, size_t n);
/* What the thread's sk_opts_dump_many kept, freed. */
void sk_opts_dump_many_done(void);
/* Make the reference socket of si's kind now (before threads read them). */
int sk_opts_prepare(const SocketInfo *si);
enum sk_opts_when {
	SK_OPTS_BIND,		/* before bind/connect: reuse, freebind, device, v6only, buffers */
	SK_OPTS_LATE,		/* after queued data went back: the rest */
};
int sk_opts_restore(int s, const SocketInfo *si, enum sk_opts_when when, char *why, size_t len);
/* The options of that step as plain ints (for the ring): their number, or
 * -1 when one is not a plain int or there are more than max. */
struct sk_intopt {
	int level, name, val;
	const char *field;
};
int sk_opts_plain(const SocketInfo *si, enum sk_opts_when when, struct sk_intopt *out,
		  size_t max);

/* socket_queue.c: the receive queue of the borrowed socket s, message by
 * message, with the files in flight dumped as fd entries of criu-lite's own. */
int sk_queue_dump(struct fd_dump *c, int s, SocketInfo *si);

/* socket_tcp_dump.c */
int sk_tcp_dump(struct fd_dump *c, const struct fd_desc *d, int s, SocketInfo *si);
/* socket_tcp_read.c: connection s (fd of pid, borrowed) read in repair
 * mode into t (o: its options as sk_opts_dump read them), its state into
 * *state. 0, -ENOMEM, or a positive errno: not read (*refused: repair mode
 * refused, t empty). */
int sk_tcp_read(int s, pid_t pid, int fd, const SkOpts *o, SkTcp *t, uint32_t *state,
		bool *refused);

/* Who is told what the dump does to the tree's connections that the tree
 * cannot undo, and once it is undone (or the tree is dead): criu-lite/
 * survive/ undoes what is left if criu-lite dies meanwhile. in: a
 * connection (fd of pid) goes into repair mode; it is taken out with the
 * program's SO_REUSEADDR and SO_PEEK_OFF (-1: none), which repair mode
 * changes. kept: the lock kept for restore (table, in pid's network
 * namespace) is made before the kill; it goes if pid still lives. Each
 * gives a note for its done call, or -1. Set by the dump; unset, nobody
 * is told. */
struct sk_journal {
	int (*in)(pid_t pid, int fd, int reuse, int peek_off);
	void (*out)(int note);
	int (*kept)(pid_t pid, const char *table);
	void (*kept_done)(int note);
};
void sk_journal_set(const struct sk_journal *j);
/* The program's values that repair mode changes, from o (what sk_opts_dump
 * read: a new TCP socket's where it stored none). */
struct sk_repair_vals {
	int reuse, peek_off;
};
struct sk_repair_vals sk_repair_vals_of(const SkOpts *o);
/* Connection s out of repair mode (no window probe: the lock dropped what
 * it would have seen, and its senders send it again) with the program's
 * values back: 0, or -errno of leaving (the values are put back anyway). */
int sk_repair_leave(int s, struct sk_repair_vals v);
/* Through the journal set, if any. */
int sk_repair_in(pid_t pid, int fd, struct sk_repair_vals v);
void sk_repair_out(int note);
int sk_lock_kept_note(pid_t pid, const char *table);
void sk_lock_kept_done(int note);
/* socket_tcp_pre.c: the network lock over c's connections (c->links
 * read); the reads done ahead (fd_dump_prefetch), taken by the walk fd by fd. */
int sk_tcp_lock_process(struct fd_dump *c);
/* fd_dump_getfd, or the copy of fd read ahead. */
int sk_pre_getfd(struct fd_dump *c, int fd);
/* sk_opts_dump, or what it gave ahead for that copy. */
int sk_pre_opts(struct fd_dump *c, int fd, int s, SocketInfo *si, const struct sk_rec *rec);
/* sk_tcp_read's t and results for fd, or NULL: not read ahead. */
SkTcp *sk_tcp_pre_take(struct fd_dump *c, int fd, uint32_t *state, int *r, bool *refused);
void sk_pre_free(struct sk_cache *sk);
/* The tree is about to go on (kill false) or be killed (kill true); a
 * kill asked for, if the checks let it: the connections silenced ahead,
 * on a thread (out of repair mode again if the tree goes on after all). */
void sk_tcp_dump_finish(const struct fd_rst_opts *opts, bool kill);
void sk_tcp_dump_silence_ahead(const struct fd_rst_opts *opts);
void sk_tcp_dump_killed(void);

/* socket_lock.c: the network lock (nftables), see there. */
struct sk_conn {
	int family;
	uint32_t lip[4], pip[4];	/* network order */
	uint16_t lport, pport;
};
/* Drop every packet of these connections in pid's netns until released. */
int sk_lock_add(pid_t pid, const struct sk_conn *conns, size_t n);
/* The name a lock that outlives this dump (for restore) will have. */
const char *sk_lock_name(void);
/* Make the connections in `keep` locked beyond criu-lite's exit, under
 * sk_lock_name(); then (or for kill false) drop the dump's own lock. */
int sk_lock_persist(const struct sk_conn *keep, size_t n);
void sk_lock_release(void);
/* Restore: remove the lock a dump left (by name), in our netns. */
int sk_lock_remove(const char *name);

/* socket_raw.c: packets sent to a restored socket as its peer would have */
int sk_raw_udp(int family, int proto, const void *src, uint16_t sport, const void *dst,
	       uint16_t dport, const void *data, size_t len);
int sk_raw_tcp(int family, const void *src, uint16_t sport, const void *dst, uint16_t dport,
	       uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win);

/* ---- restore ---- */

/* A socket made by restore: criu-lite keeps a duplicate until the late step
 * (to fill its queue, shut it down, set its last options, take it out of
 * TCP repair), and where others can reach it. */
struct sk_obj {
	uint64_t ino;
	int fd;
	const FdEntry *e;
	/* AF_UNIX: the name that connects to it now (allocated apart: an
	 * object is written once more after the fork, in the late step, and
	 * each page of the array written then is copied) */
	struct sockaddr_un *reach;
	socklen_t reach_len;		/* 0: not reachable by name */
	int peer_fd;			/* the other end of a socketpair we keep (survivors), or -1 */
	int table_fd;			/* its copy at or above fd_hi made ahead (for the
					 * open step), or -1 */
	bool in_repair;			/* TCP: left in repair mode until late */
	bool late_done;
};

/* Chains of calls for connections, queued on one ring and run together
 * (socket_tcp_ring.c): a thread's own. */
struct sk_tcp_batch {
	struct sk_ring *ring;
	struct sk_tcp_pend *pend;	/* per chain: its values, kept until run */
	size_t n, max;			/* chains queued, and the most a run holds */
	bool direct;			/* the chains make their sockets (sk_ring_slots) */
};

/* A path to unlink once every socket is connected (sockets bound to a
 * name that was unlinked keep their file at a private name until then). */
struct sk_rst {
	struct sk_obj *obj;
	size_t nr_obj, cap_obj;
	char **unlink;
	size_t nr_unlink;
	/* every socket entry of the tree and of the files in flight, by inode */
	const FdEntry **ent;
	size_t nr_ent, cap_ent;
	bool indexed;
	struct key_index index;		/* obj (kind 0) and ent (1) by inode */
	/* files in flight, opened in the link step, sent in the late one */
	struct sk_rights { const SkPacket *pk; int *fds; size_t n; } *rights;
	size_t nr_rights;
	int aside_seq;
	/* network locks the dumps left (names copied: entries may be freed
	 * before the last cleanup) */
	char *locks[8];
	size_t nr_locks;
	/* socket.c's sk_open_entry: the socket kind's open, for the families
	 * that make another socket first (a listener, a peer) */
	int (*open)(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
	/* socket_tcp_ring.c: connections queued for the ring, not yet made */
	struct sk_tcp_batch batch;
	bool no_ring;			/* none to be had: one call at a time */
	/* socket_tcp_ahead.c: connections made ahead, on two threads */
	struct sk_tcp_ahead *ahead;
	size_t ahead_proc;		/* the process whose fds are being opened */
	bool ahead_due;			/* its connections are still to be made ahead */
};

/* socket_rst.c: the restore state */
struct sk_rst *sk_rst_get(struct fd_rst *r);
struct sk_obj *sk_obj_find(struct sk_rst *s, uint64_t ino);
/* Register fd as the socket `ino` (e: its entry): fd is o->fd, kept until
 * the late step. */
struct sk_obj *sk_obj_add(struct fd_rst *r, uint64_t ino, const FdEntry *e, int fd);
/* The entry of socket ino in the tree or among files in flight, or NULL. */
const FdEntry *sk_entry(const struct fd_rst *r, uint64_t ino);
/* Visit every socket entry (tree fds, then files in flight, recursively). */
void sk_for_each_entry(const struct fd_rst *r, void (*fn)(const FdEntry *e, void *arg),
		       void *arg);
int sk_index(struct fd_rst *r);
void sk_unlink_all(struct sk_rst *s);
/* Note the lock (sk_tcp.lock) of a restored connection, once. */
int sk_lock_note(struct sk_rst *s, const SocketInfo *si);
void sk_rst_free(struct fd_rst *r);
int sk_unlink_later(struct sk_rst *s, const char *path);
/* Dumped pid -> its pid now, for credentials; unchanged if not in the tree. */
pid_t sk_real_pid(const struct fd_rst *r, uint32_t pid);

/* socket_addr.c: addresses between the images' text and sockaddr */
/* "1.2.3.4" / "::1" of family's address a (network order), malloc'ed. */
char *sk_ip_string(int family, const void *a);
/* 16 bytes, IPv4 as v4-mapped, so either side of a v4-mapped IPv6
 * connection compares equal. */
bool sk_ip16(const char *ip, uint8_t out[16]);
/* The address of a as a sockaddr of family (v4-mapped for an IPv6 socket). */
int sk_inet_addr(int family, const SockAddr *a, struct sockaddr_storage *ss, socklen_t *len);
int sk_unix_addr(const char *name, struct sockaddr_un *sa, socklen_t *len);

/* socket_tcp_peer.c: a TCP socket that is connected (not listening nor
 * closed); is the peer of this connection a socket of the tree? */
bool sk_is_tcp_conn(const SocketInfo *si);
bool sk_tcp_in_tree(const struct fd_rst *r, const SocketInfo *si);
/* socket_inet.c / socket_tcp.c */
int sk_tcp_restore(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_tcp_late(struct fd_rst *r, struct sk_obj *o, char *why, size_t len);
/* socket_tcp.c, one call at a time: the socket made (its fd; opts: with
 * its options of the bind step), its
 * connection in repair mode, out of repair in the late step. */
int sk_tcp_make(struct fd_rst *r, const FdEntry *e, bool opts, char *why, size_t len);
/* s, made for e (in repair mode until late, or out of it already), and
 * its copy at or above fd_hi if made too (else -1), registered: s or
 * -ENOMEM (both closed) */
int sk_tcp_adopt(struct fd_rst *r, const FdEntry *e, int s, bool in_repair, int table_fd);
int sk_tcp_repair(int s, const SocketInfo *si, char *why, size_t len);
int sk_tcp_late_one(struct fd_rst *r, struct sk_obj *o, char *why, size_t len);
bool sk_tcp_has_fin(const SocketInfo *si);
int sk_tcp_repair_off(const struct fd_rst *r, const SocketInfo *si);
void sk_tcp_seqs(const SocketInfo *si, const SkTcp *t, uint32_t *rcv, uint32_t *snd);
int sk_tcp_opts(const SkTcp *t, struct tcp_repair_opt o[4]);
bool sk_tcp_window(const SocketInfo *si, const SkTcp *t, struct tcp_repair_window *w);
/* socket_tcp_ring.c: restore and late of a connection (sk_tcp_restore,
 * sk_tcp_late above), the calls of those with no bytes queued batched on
 * the ring; run: do every call queued (before the link and late steps
 * need the connections, and after the late one queued them). */
int sk_tcp_ring_run(struct fd_rst *r, char *why, size_t len);
void sk_tcp_ring_free(struct sk_rst *s);
/* The same chains on a batch of one's own (socket_tcp_ahead.c's threads):
 * open for up to `chains` chains a run (false: no ring to be had; direct:
 * the chains may make their sockets, b->direct says whether they can),
 * add one connection's chain
 * (s its new socket, or -1 for one the chain makes; opt the options of its
 * bind step; off: out of repair mode at its end with TCP_REPAIR off, or
 * SK_TCP_IN_REPAIR; sk_tcp_batch_full first), run them all, then the
 * result of chain i: 0 or the first failure, and the fd of the socket it
 * made. */
#define SK_TCP_MAX_OPTS 6	/* bind-step options in a chain (more: one by one) */
bool sk_tcp_batch_open(struct sk_tcp_batch *b, size_t chains, bool direct);
void sk_tcp_batch_close(struct sk_tcp_batch *b);
bool sk_tcp_batch_full(const struct sk_tcp_batch *b);
#define SK_TCP_IN_REPAIR INT32_MIN	/* off: left in repair mode (for the late step) */
int sk_tcp_batch_add(struct sk_tcp_batch *b, const SocketInfo *si, int s, int nopt,
		     const struct sk_intopt *opt, int off);
int sk_tcp_batch_run(struct sk_tcp_batch *b);
int sk_tcp_batch_result(const struct sk_tcp_batch *b, size_t i);
int sk_tcp_batch_fd(const struct sk_tcp_batch *b, size_t i);
/* socket_tcp_ahead.c: a process's connections that the ring would make,
 * made on two threads when the first of them is opened (from a few dozen
 * on); open_proc: the socket kind's hook, which says whose fds are
 * opened next; take: the socket made ahead for e (sk_tcp_make's,
 * connected, and in repair mode unless *in_repair says it left it), or -1;
 * *table_fd its copy at or above fd_hi, or -1. */
void sk_tcp_ahead_open_proc(struct fd_rst *r, size_t proc);
int sk_tcp_ahead_take(struct fd_rst *r, const FdEntry *e, bool *in_repair, int *table_fd);
void sk_tcp_ahead_free(struct sk_rst *s);
/* socket_ring.c: a small io_uring (raw syscalls), or NULL when io_uring
 * cannot be had (disabled, seccomp, an old kernel, CRIU_LITE_NO_IO_URING). */
struct sk_ring;
/* entries: sqes at most queued; addr: bind and connect needed too */
struct sk_ring *sk_ring_new(unsigned entries, bool addr);
void sk_ring_free(struct sk_ring *r);
unsigned sk_ring_room(const struct sk_ring *r);
/* Queue one operation; first: it starts a chain (else linked to the one
 * before: a failure cancels the rest of the chain). */
void sk_ring_setsockopt(struct sk_ring *r, int fd, int level, int name, const void *val,
			socklen_t len, uint64_t tag, bool first);
void sk_ring_addr(struct sk_ring *r, int fd, bool bind, const struct sockaddr *sa,
		  socklen_t len, uint64_t tag, bool first);
int sk_ring_run(struct sk_ring *r, void (*fn)(uint64_t tag, int res, void *arg), void *arg);
/* Sockets made by the ring itself (6.8): n slots of a file table of its
 * own (false: none to be had, or CRIU_LITE_NO_RING_SOCKETS set), a chain started by a socket made into a
 * slot, its steps on SK_RING_SLOT(slot) as their fd (no lookup in the fd
 * table a step), ended by the socket installed in the fd table (its res:
 * the fd, close-on-exec); after the run, every slot emptied (a socket
 * whose chain failed before its install is closed then). */
#define SK_RING_SLOT(k) (-2 - (int)(k))
bool sk_ring_slots(struct sk_ring *r, unsigned n);
void sk_ring_socket(struct sk_ring *r, int family, int type, int protocol, unsigned slot,
		    uint64_t tag);
void sk_ring_install(struct sk_ring *r, unsigned slot, uint64_t tag);
int sk_ring_slots_clear(struct sk_ring *r);
/* Dump: n (64 at most) SOL_SOCKET getsockopt of socket s in one call, on
 * a ring kept until sk_ring_dump_done; each res: the length, or -errno
 * (then ask again one by one: an old kernel has no such command). The
 * call: 0, or -errno when there is no ring. */
struct sk_getopt {
	int level, name;
	void *val;
	socklen_t len;
	int res;
};
int sk_ring_getsockopts(int s, struct sk_getopt *g, size_t n);
void sk_ring_dump_done(void);
/* Dump: the thread's ring (made at its first use, SK_RING_DUMP_ENTRIES
 * sqes), or NULL: none to be had. sk_ring_inq queues a SIOCINQ of fd
 * (its result: the bytes queued, or -errno). */
#define SK_RING_DUMP_ENTRIES 128
struct sk_ring *sk_ring_dump(void);
void sk_ring_inq(struct sk_ring *r, int fd, uint64_t tag, bool first);
/* One SOL_SOCKET getsockopt queued (g->res when run), and the run of
 * those queued: 0, or -errno when the ring itself failed. */
void sk_ring_getsockopt(struct sk_ring *r, int s, struct sk_getopt *g);
int sk_ring_run_getsockopts(struct sk_ring *r);
/* socket_tcp_read.c: sk_tcp_read of n connections (SK_TCP_MANY at most)
 * at once: each step that needs no answer but its result (repair mode on
 * and off, SIOCINQ, the queue selected, SO_REUSEADDR) for all of them in
 * one ring run. Without a ring, or for a connection the ring refuses, the
 * calls one by one. */
#define SK_TCP_MANY (SK_RING_DUMP_ENTRIES / 2)
struct sk_tcp_job {
	int s;
	pid_t pid;
	int fd;				/* s is pid's fd */
	const struct sk_rec *rec;	/* its tcb, when there is one */
	const SkOpts *o;
	SkTcp *t;
	uint32_t state;			/* out, as sk_tcp_read's */
	bool refused;
	int r;
	/* between the runs */
	bool alone, queued, by_bpf;
	int on_res, inq, outq, rq_res, off_res, err, note;
};
void sk_tcp_read_many(struct sk_tcp_job *j, size_t n);

/* socket_bpf.c: c's socket fds read by a BPF iterator, in one go after the
 * lock: sk_bpf_fd gives each one's record, and each sk_rec of c's tables
 * that is an established TCP connection gets its tcb. n: the connections
 * to be read (the iterator is worth loading from a few dozen). 0 when
 * read, < 0 when not (no BPF here, ...: the syscalls read them). */
int sk_bpf_read(struct fd_dump *c, size_t n);
const struct sock_fd_rec *sk_bpf_fd(const struct sk_cache *sk, int fd);
/* sock_tcp's records of pid's TCP socket fds (malloc'd *v): when the
 * iterator is loaded or loading (AUTO: since before the freeze), < 0 when
 * not. */
struct sock_tcp_rec;
int sk_bpf_tcp_sockets(pid_t pid, struct sock_tcp_rec **v, size_t *n);
/* The fd's fdinfo as /proc would show it (malloc'd), or NULL: no record,
 * or one whose fdinfo /proc must say (file locks). */
char *sk_bpf_fdinfo(const struct sock_fd_rec *b);
/* t filled from rec's tcb: false when it has none, or one the syscalls must
 * read (bytes queued, urgent data, repair mode, microsecond timestamps). */
bool sk_tcp_from_bpf(const struct sk_rec *rec, SkTcp *t, uint32_t *state);
/* CHECK: what the syscalls read (t, state; fdinfo and owner) against the
 * record; false, said, when they differ. */
bool sk_tcp_bpf_agrees(const struct sk_rec *rec, const SkTcp *t, uint32_t state);
struct stat;
bool sk_bpf_desc_agrees(const struct sock_fd_rec *b, const char *fdinfo, const struct stat *st,
			const struct f_owner_ex *own, int sig);

/* A TCP socket whose connection was reset: what --tcp-close gives back. */
int sk_tcp_closed(struct fd_rst *r, const FdEntry *e, char *why, size_t len);

/* socket_unix.c */
int sk_unix_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_unix_open(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_unix_link(struct fd_rst *r, char *why, size_t len);
int sk_unix_dgram_target(struct fd_rst *r, const SocketInfo *si, struct sockaddr_storage *ss,
			 socklen_t *sl);

/* socket_unix_name.c: binding a unix socket to its exact name */
enum sk_file { SK_FILE_KEEP, SK_FILE_HIDE, SK_FILE_NONE };
/* Bind fd to si's name. KEEP: the file stays at the path; HIDE: it moves to
 * a private name (returned in o->reach) until the link step ends; NONE: the
 * name without a file (it belongs to another socket). */
int sk_unix_bind(struct fd_rst *r, struct sk_obj *o, const SocketInfo *si, enum sk_file f,
		 char *why, size_t len);

/* socket_queue_rst.c: files in flight opened (link step), queues sent
 * again (late step) */
int sk_queue_prepare(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int sk_queue_restore(struct fd_rst *r, struct sk_obj *o, char *why, size_t len);
/* socket_unix.c's late step: queues, then connections, shutdowns, options */
int sk_unix_late(struct fd_rst *r, char *why, size_t len);

#endif
