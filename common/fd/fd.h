/* Kinds of open file, dump and restore side by side.
 *
 * Each kind of file a process can hold open (regular file, pipe, socket,
 * eventfd, ...) is one `struct fd_kind` in one file of this folder, holding
 * both halves:
 *  - dump, in criu-lite while the process is frozen: does this fd belong to
 *    the kind (dump_match), and what does it hold (dump: fills the kind's
 *    part of an fd_entry; the walk in criu-lite/files/ fills what every fd
 *    has: number, link, flags, position);
 *  - restore, from the fd_entry alone: can it come back in this tree under
 *    the options given (check: also what `dump --kill` asks before it
 *    kills), the open file description itself (open: in criu-lite before
 *    the tree is forked, so that every process inherits the one object and
 *    sharing survives), and what only the process can do once its fds are
 *    at their numbers (install: epoll registrations, ...).
 * kinds.c holds the table; nothing else chooses a kind. Adding a kind is
 * adding a file and a row.
 *
 * Message ownership on the dump side: everything put into an FdEntry is
 * built on the heap, so that img_free() releases it whole. Restore-side
 * hooks never log: they return -errno and say why in one line (`why`),
 * which restore reports with the process and fd. */
#ifndef CRIU_LITE_COMMON_FD_H
#define CRIU_LITE_COMMON_FD_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/fd/key_index.h"
#include "images/par.h"
#include "images/image.h"

/* ---- dump ---- */

/* One open fd of the target, as /proc shows it. */
struct fd_desc {
	int fd;
	char link[PATH_MAX];		/* readlink /proc/PID/fd/N */
	struct stat st;			/* stat (following the magic link) */
	char *fdinfo;			/* whole /proc/PID/fdinfo/N, NUL-terminated */
};

struct sk_cache;
struct fd_sock_seen;

/* What the dump of a whole tree learns across its processes (desc.c,
 * ghost.c): the open file descriptions, fd tables and fs info seen so far,
 * to tell with kcmp which are shared; the deleted files already saved. The
 * caller zeroes it, sets dirfd and ghost_limit, and frees it with
 * fd_dump_tree_free once every process is dumped (they stay frozen until
 * then: kcmp compares live objects). */
struct fd_seen;
struct fd_ghost_seen;
struct fd_dump_tree {
	int dirfd;			/* the images directory (ghost-ID.img) */
	uint64_t ghost_limit;		/* --ghost-limit: largest deleted file saved */
	struct fd_seen *desc;		/* one (pid, fd) per description, in kcmp order */
	size_t nr_desc, cap_desc;
	struct fd_sock_seen *socks;	/* socket inode -> description id, by inode */
	size_t nr_socks, cap_socks;
	uint32_t next_desc_id;
	bool no_kcmp;			/* kcmp refused: every fd its own description */
	struct fd_seen *files, *fs;	/* one pid per fd table / fs info, in kcmp order */
	size_t nr_files, nr_fs, cap_files, cap_fs;
	struct fd_seen *shares;		/* per pid: files_with (fd), fs_with (id) */
	size_t nr_shares, cap_shares;
	struct fd_ghost_seen *ghosts;	/* (dev, ino) -> ghost id (ghost.c) */
	size_t nr_ghosts, cap_ghosts;
	uint32_t next_ghost_id;
	struct fd_ghost_seen *exes;	/* pid (in dev) -> ghost id of its memfd exe */
	size_t nr_exes;
	pid_t *pids;			/* every process of the frozen tree (epoll.c, nsfs.c) */
	size_t nr_pids;
	/* Each process's entries as its files image has them, kept for the
	 * dump's check that restore would take them (criu-lite/dump/
	 * restorable.c): unpacking the images again cost the dump of 1,000
	 * connections 2.5 ms. Only pid, fd and nr_fd are set. */
	struct fd_rst_proc *written;
	size_t nr_written;
};

/* The fds of one process being dumped. */
struct fd_dump {
	pid_t pid;
	struct fd_dump_tree *tree;
	int pidfd;			/* pidfd_open(pid), or -1: pidfd_getfd not possible */
	int lent, lent_num;		/* fd_dump_getfd's copy of fd lent_num - 1 (0: none) */
	bool lent_kept;			/* a kind keeps the copy: not closed on return */
	/* The walk's list: every fd's number and link (readlink, read once
	 * for all: NULL where it failed), or nr_fds 0 (files in flight). */
	const int *fds;
	char *const *links;
	size_t nr_fds;
	bool own;			/* the fds are criu-lite's own (files in flight) */
	struct sk_cache *sk;		/* socket.c: sock_diag tables, loaded at the first socket */
	bool sk_loaded;
	uint64_t *pipes_seen;		/* pipe.c: pipe inodes whose data is already stored */
	size_t nr_pipes_seen, pipes_cap;
	const pid_t *tree_pids;		/* tree->pids, or this process alone */
	size_t nr_tree_pids;
	/* The walk (criu-lite/files/), for kinds that meet files no fd of the
	 * process holds (in flight in a socket) and hold them as criu-lite's
	 * own fds: each of fds[] dumped into out[] as a file of criu-lite's,
	 * with c's socket tables. */
	int (*dump_own)(struct fd_dump *c, const int *fds, size_t n, FdEntry **out);
};

/* ---- restore ---- */

/* A deleted file or directory recreated for the restore (ghost.c): it
 * stays at `path` until every process has opened, mapped or entered it,
 * then goes (fd_rst_ghosts_remove). */
struct fd_rst_ghost {
	uint32_t id;			/* 0: a deleted cwd, recreated empty */
	char *link;			/* as dumped: "PATH (deleted)" */
	char *path;			/* where it is now */
	bool dir;
	char **made;			/* directories created on the way to it */
	size_t nr_made;
	int fd;				/* a memfd kept while path names it, or -1 */
	const struct fscreds *as;	/* made as (common/fscreds.h): removed as */
};

/* The fds of one process of the tree being restored. */
struct fscreds;

struct fd_rst_proc {
	uint32_t pid;			/* as dumped */
	FdEntry **fd;
	size_t nr_fd;
	int *src;			/* per entry: criu-lite's fd of its description, or -1 */
	uint32_t ctty;			/* controlling terminal (stat tty_nr), 0: none */
	int32_t real_pid;		/* once the tree exists (late): its pid now */
	const struct fscreds *creds;	/* paths its entries name are looked up as
					 * it (common/fscreds.h); NULL: as criu-lite */
};

/* An object several fds (or processes) share, made once: a pipe, a fifo, a
 * socketpair, a listener. kind: FD_TYPE__*; key: the dumped inode. */
struct fd_rst_obj {
	int kind;
	uint64_t key;
	int fds[2];			/* pipe: read, write; socketpair: this end, the peer's */
	bool fd0_kept;			/* fds[0] is also the kind's, which closes it */
	bool data_done;			/* queued data put back */
};

/* --inherit-fd fd[N]:RES: restore passes its own fd N where the dump had
 * RES (pipe:[INO], socket:[INO], or a path). */
struct fd_rst_inherit {
	int fd;
	const char *res;		/* points into argv */
};

/* What to do with state outside the tree (fd_opts.c), as the user said it
 * to restore, or to dump to be checked before --kill/--leave-stopped. */
struct fd_rst_opts {
	bool tcp_established;		/* --tcp-established */
	bool tcp_close;			/* --tcp-close */
	bool ext_unix_sk;		/* --ext-unix-sk */
	bool shell_job;			/* -j, --shell-job */
	uint64_t ghost_limit;		/* --ghost-limit, bytes */
	struct fd_rst_inherit *inherit;	/* --inherit-fd, in the order given */
	size_t nr_inherit;
	bool at_dump;			/* checked by dump: nothing is being restored yet */
};

#define FD_GHOST_LIMIT_DEFAULT (1ull << 20)

/* The whole tree's fds, for the restore hooks. */
struct fd_rst {
	struct fd_rst_opts opts;
	int dirfd;			/* the images directory, or -1 (dump's check) */
	struct fd_rst_proc *procs;
	size_t nr_procs;
	struct fd_rst_obj *obj;
	size_t nr_obj, cap_obj;
	struct key_index obj_index;	/* obj by kind and key */
	int *desc_fd;			/* per desc_id: the fd made for it, or -1 (desc.c) */
	size_t nr_desc_fd;
	struct fd_rst_ghost *ghosts;	/* ghost.c */
	size_t nr_ghosts;
	struct sk_rst *sk;		/* socket*.c: kept from open to late */
	int fd_hi;			/* where the fds criu-lite keeps go (open's result
					 * there needs no move), or 0 */
	/* kinds.c's fd_kind_of, for kinds whose entries hold other entries
	 * (files in flight in a socket) */
	const struct fd_kind *(*kind_of)(int type);
};

/* How a dump lets go of the tree (fd_dump_end). */
enum fd_dump_end {
	FD_DUMP_RESUME,		/* the tree runs on (or stays stopped): before it does */
	FD_DUMP_KILL_AHEAD,	/* a kill is asked for, if the checks let it: what
				 * prepares it may start (then KILL, or RESUME) */
	FD_DUMP_KILL,		/* the tree is about to be killed */
	FD_DUMP_KILLED,		/* ... and is */
};

/* What a kind's late hook may do in the restored process holding the fd
 * (fds.c provides it over syscall injection). */
struct fd_rst_late {
	void *ctx;
	/* One syscall in that process: 0 with its result in *ret (-errno as
	 * the kernel returns it), or -errno when it could not be run. */
	int (*sys)(void *ctx, long nr, uint64_t *ret, uint64_t a1, uint64_t a2, uint64_t a3,
		   uint64_t a4);
	/* The restored pid of what was dumped as pid; 0 if not in the tree. */
	pid_t (*real_pid)(void *ctx, uint32_t pid);
	/* Copy len bytes (at most 4 KiB) into that process for a syscall's
	 * argument: 0 and its address, or -errno. */
	int (*put)(void *ctx, const void *buf, size_t len, uint64_t *addr);
};

/* ---- the kinds ---- */

struct fd_kind {
	int type;			/* FD_TYPE__* it writes and restores */
	const char *name;		/* for messages */
	/* dump: is d of this kind? Tried in table order. */
	bool (*dump_match)(const struct fd_desc *d);
	/* dump: fill e's kind-specific part (e->fd, link, flags, pos, fd_flags
	 * and mnt_id are filled already). 0, -ENOENT if the fd vanished, or
	 * -errno (logged). */
	int (*dump)(struct fd_dump *c, const struct fd_desc *d, FdEntry *e);
	/* dump: free what the kind kept in c (optional). */
	void (*dump_done)(struct fd_dump *c);
	/* dump, once per dump (optional): the tree is let go of, with the
	 * options the user gave dump (what a kill must not disturb). */
	void (*dump_end)(const struct fd_rst_opts *opts, enum fd_dump_end end);
	/* restore: 0 if e can come back in this tree, else -errno and why. */
	int (*check)(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
	/* restore, in criu-lite, before the fds of process r->procs[proc] are
	 * opened, as that process (optional): what can be made for all of
	 * them at once. Nothing to say: what it could not make, open makes. */
	void (*open_proc)(struct fd_rst *r, size_t proc);
	/* restore, in criu-lite: an fd of e's open file description (a new one
	 * the caller owns), or -errno and why. */
	int (*open)(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
	/* restore, in the process itself once every fd of it is at its number
	 * (optional): 0, or -errno and why. */
	int (*install)(const FdEntry *e, char *why, size_t len);
	/* restore, in criu-lite once every description of the tree exists
	 * (optional): what ties descriptions together (epoll watches). fd is
	 * e's description; 0, or -errno and why. */
	int (*link)(struct fd_rst *r, const FdEntry *e, int fd, char *why, size_t len);
	/* restore, in criu-lite once every process of the tree exists, for an
	 * fd that names a process (optional): e's process is stopped, with at
	 * e->fd what open made; l runs syscalls in it. 0, or -errno and why.
	 * Kinds with a link hook run theirs last (epoll watches on fds made
	 * here). */
	int (*late)(const struct fd_rst *r, const FdEntry *e, const struct fd_rst_late *l,
		    char *why, size_t len);
	/* restore, in criu-lite once every entry of the tree is open, for
	 * the kind as a whole (optional): what needs them all (clients
	 * connected to listeners made later, files in flight). 0, or -errno
	 * and why. */
	int (*link_tree)(struct fd_rst *r, char *why, size_t len);
	/* restore, in criu-lite once every process of the tree exists and
	 * before any runs, for the kind as a whole (optional;
	 * fd_rst_proc.real_pid is set): what needs their pids (credentials in
	 * flight) or the whole tree in place. */
	int (*late_tree)(struct fd_rst *r, char *why, size_t len);
	/* restore, once every process is rebuilt and before any runs
	 * (optional): what late_tree left going on a thread of its own, done.
	 * 0, or -errno and why. */
	int (*settle)(struct fd_rst *r, char *why, size_t len);
	/* restore: free what the kind kept in r, on every path (optional). */
	void (*rst_done)(struct fd_rst *r);
};

/* fd_opts.c: the options above, for a verb's getopt_long: add
 * fd_opts_long to its table (the values are FD_OPT_*), hand every option
 * to fd_opts_parse (1: not one of these), fd_opts_finish after the last,
 * and print fd_opts_help in its usage. */
enum {
	FD_OPT_TCP_ESTABLISHED = 0x1000, FD_OPT_TCP_CLOSE, FD_OPT_EXT_UNIX_SK, FD_OPT_INHERIT_FD,
	FD_OPT_SHELL_JOB, FD_OPT_GHOST_LIMIT,
};
extern const struct option fd_opts_long[];
extern const char fd_opts_help[];
int fd_opts_parse(struct fd_rst_opts *o, int opt, const char *arg);
int fd_opts_finish(struct fd_rst_opts *o);
void fd_opts_free(struct fd_rst_opts *o);

/* kinds.c: the table. */
/* The kind that dumps d (the last row, "unsupported", takes anything). */
const struct fd_kind *fd_kind_for_dump(const struct fd_desc *d);
/* The kind that restores entries of type FD_TYPE__*, or NULL. */
const struct fd_kind *fd_kind_of(int type);
/* Every kind's dump_done on c. */
void fd_dump_done(struct fd_dump *c);
/* Every kind's dump_end. */
void fd_dump_end(const struct fd_rst_opts *opts, enum fd_dump_end end);
/* check of e's kind: 0, or -errno with why (a kind without restore says so). */
int fd_rst_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
/* tty.c: what of process p's own state needs its fds (its controlling
 * terminal): 0, or -errno with why. */
int fd_rst_check_proc(const struct fd_rst *r, const struct fd_rst_proc *p, char *why, size_t len);
/* Every kind's link_tree, late_tree, settle, rst_done (see struct fd_kind). */
void fd_kinds_open_proc(struct fd_rst *r, size_t proc);
int fd_kinds_link_tree(struct fd_rst *r, char *why, size_t len);
int fd_kinds_late_tree(struct fd_rst *r, char *why, size_t len);
int fd_kinds_settle(struct fd_rst *r, char *why, size_t len);
void fd_kinds_rst_done(struct fd_rst *r);

/* fd_dump_util.c: helpers for the dump halves. */
/* Text after "key:" (and blanks) in fdinfo, or NULL. Key must start a line. */
const char *fdinfo_field(const char *fdinfo, const char *key);
/* A duplicate of the target's fd in our table (pidfd_getfd), or -errno.
 * It is the same open file, so nothing is reopened or changed. It is lent:
 * the walk closes it once it is done with that fd (fd_dump_return), so the
 * kind and the walk's own steps (locks, owner) share one pidfd_getfd. */
int fd_dump_getfd(struct fd_dump *c, int fd);
void fd_dump_return(struct fd_dump *c);
/* The kind keeps the copy lent (it closes it itself), or -1: better not
 * (it would crowd criu-lite's fd limit). The walk's own steps still use it. */
int fd_dump_keep(struct fd_dump *c);
/* How many of links (readlinks of /proc/PID/fd/N, NULL where failed)
 * name a socket. */
size_t fd_links_sockets(char *const *links, size_t n);
/* criu-lite's fd limit (the soft limit, raised to the hard one once). */
rlim_t fd_dump_fd_limit(void);
/* The whole of /proc/PID/fdinfo/FD (malloc'd, NUL-terminated), or -errno;
 * logs nothing. */
int fd_dump_read_fdinfo(pid_t pid, int fd, char **out);
/* The same relative to an open /proc/PID/fdinfo (no path walk from /). */
int fd_dump_read_fdinfo_at(int dirfd, int fd, char **out);
/* Heap-built sub-messages and strings. */
FileIdentity *fd_dump_identity(const struct fd_desc *d);
char *fd_dump_strdup(const char *s);
/* e becomes an FD_UNSUPPORTED record with reason, warned naming the fd. */
int fd_dump_unsupported(const struct fd_dump *c, const struct fd_desc *d, FdEntry *e,
			const char *reason);

/* desc.c: sharing. Dump: the description id of the target's fd (0: not
 * told, kcmp refused); a process's fd table and fs info against the
 * tree's, at the start of its fds; what it shares, for pstree.img. */
int fd_dump_desc_id(struct fd_dump *c, const struct fd_desc *d, uint32_t *id);
int fd_dump_tree_proc(struct fd_dump_tree *t, pid_t pid);
void fd_dump_tree_shares(const struct fd_dump_tree *t, pid_t pid, pid_t *files_with,
			 pid_t *fs_with);
/* Could restore bring that sharing back (n processes, parents first)? */
int fd_dump_tree_check(const struct fd_dump_tree *t, const pid_t *pid, const pid_t *ppid,
		       size_t n, char *why, size_t len);
void fd_dump_tree_free(struct fd_dump_tree *t);
void fd_dump_tree_free_written(struct fd_dump_tree *t);


/* socket_tables.c: the sock_diag tables of pid's network namespace, loaded
 * as the walk loads them at its first socket (fd_dump's sk), but by whoever
 * reads them ahead of the walk (criu-lite/files/files_ahead.c): its log
 * lines are the caller's to place. NULL and < 0 on failure. */
int fd_dump_sk_load(pid_t pid, struct sk_cache **out);
void fd_dump_sk_free(struct sk_cache *sk);
/* socket_bpf.c: CRIU_LITE_TCP_BPF (""; 0; 1; check) */
enum sk_bpf_mode { SK_BPF_AUTO, SK_BPF_OFF, SK_BPF_ON, SK_BPF_CHECK };
enum sk_bpf_mode sk_bpf_mode(void);
/* The BPF iterator that reads sockets loaded ahead of the
 * read, when sk's tables show enough connections (1.5-4 ms: by the thread
 * that read the tables, beside the memory dump). */
void sk_bpf_preload(const struct sk_cache *sk);
/* The same from before the freeze, on a thread of its own (the CPU
 * criu-lite's start leaves idle), when pid has many fds; sk_bpf_load_end
 * waits for it (the dump's end, or the first use). */
void sk_bpf_load_early(pid_t pid);
void sk_bpf_load_end(void);
/* The links of pid's socket fds ("socket:[INO]") set in links (one for
 * each of the nr fds, ascending; those set already are left), by one BPF
 * iterator, when the program is loaded already: how many were set, or
 * < 0 (the links are read as before). */
int sk_bpf_socket_links(pid_t pid, const int *fds, size_t nr, char **links);

/* socket_tcp_pre.c: c's TCP connections read ahead, on two threads, when
 * it has enough of them (before the walk; the walk takes what was read). */
int fd_dump_prefetch(struct fd_dump *c);
/* The same on the thread that read the tables (criu-lite/files/
 * files_ahead.c), c being that thread's view of the process (its list, its
 * tables): the lock and the reads made while the main thread dumps the
 * memory, that thread taking its part once done (fd_dump_prefetch_help). */
int fd_dump_prefetch_beside(struct fd_dump *c, struct par_offer *o);
void fd_dump_prefetch_help(struct par_offer *o);
/* The stat and fdinfo of fd read ahead (*fdinfo the caller's): false when not. */
bool fd_dump_pre_desc(struct fd_dump *c, int fd, struct stat *st, char **fdinfo);
/* Its signal owner and signal (F_GETOWN_EX, F_GETSIG) read ahead: false when not. */
struct f_owner_ex;
bool fd_dump_pre_owner(struct fd_dump *c, int fd, struct f_owner_ex *own, int *sig);
/* Restore: a dup of the fd already made for e's description, or -ENOENT;
 * fd_rst_desc_made records the fd made for it (owned by the caller). */
int fd_rst_desc_dup(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int fd_rst_desc_made(struct fd_rst *r, const FdEntry *e, int fd, char *why, size_t len);
void fd_rst_desc_forget(struct fd_rst *r);

/* lock.c: locks and F_SETOWN_EX/F_SETSIG of any fd. Dump: into e.
 * Restore: taken on e->fd by the process itself, its fds in place: all
 * but POSIX locks, which restore injects once nothing closes files any
 * more (fd_rst_lock_posix: is l one, and its struct flock). */
int fd_dump_locks(struct fd_dump *c, const struct fd_desc *d, FdEntry *e);
/* Is lock l of e this process's to take (a flock or lease on a shared
 * description: only one of the processes sharing it)? */
typedef bool (*fd_rst_lock_mine_fn)(const FdEntry *e, const FileLock *l, const void *arg);
int fd_rst_locks_take(const FdEntry *e, fd_rst_lock_mine_fn mine, const void *arg, char *why,
		      size_t len);
/* The signal owner of an fd as restore sets it (F_SETSIG, F_SETOWN_EX),
 * copied out of its entry before the fork: the child then sets it from
 * this copy and reads no entry (restore/fds.c says why). */
struct fd_rst_owner {
	int type, pid, sig;
	bool self;		/* the process itself (its pid or group now) */
	bool set;		/* else: no owner to set */
};
void fd_rst_owner_of(const FdEntry *e, struct fd_rst_owner *o);
/* me: the calling process's pid and process group, for an owner that was
 * the process itself (asked once by the caller, not once an fd). */
int fd_rst_owner_set(int fd, const struct fd_rst_owner *o, const pid_t me[2], char *why,
		     size_t len);
struct flock;
bool fd_rst_lock_posix(const FileLock *l, struct flock *fl);
/* Why l cannot be taken on fd (err), naming who holds it. */
int fd_rst_lock_fail(int fd, const FdEntry *e, const FileLock *l, int err, char *why,
		     size_t len);

/* ghost.c: deleted files. Dump: d's contents into ghost-ID.img once per
 * file (limited: unless over --ghost-limit), e->ghost_id or e->ghost_size. */
int fd_dump_ghost(struct fd_dump *c, const struct fd_desc *d, FdEntry *e, bool limited);
/* Does an fd's link (or a cwd) say "(deleted)"? */
bool fd_link_deleted(const char *link);
/* Where ghost `id` dumped as `link` is recreated, made at the first call;
 * NULL with why. Id 0 has no image: an empty directory or FIFO of `mode`. */
const char *fd_rst_ghost_path(struct fd_rst *r, uint32_t id, const char *link, mode_t mode,
			      char *why, size_t len);
/* A memfd with ghost id's data, named as `link` says ("/memfd:NAME..."),
 * kept until fd_rst_ghosts_remove: its /proc/<criu-lite>/fd path, or NULL
 * with why. For an executable that was a memfd. */
const char *fd_rst_ghost_memfd(struct fd_rst *r, uint32_t id, const char *link, char *why,
			       size_t len);
/* Dump: the process's executable, when it is a memfd (fexecve), saved as a
 * ghost; fd_dump_tree_exe: its ghost id for pstree.img, or 0. */
int fd_dump_exe(struct fd_dump *c);
uint32_t fd_dump_tree_exe(const struct fd_dump_tree *t, pid_t pid);
/* Ghost id's data written into fd (a memfd; mapped: through a mapping,
 * for hugetlbfs). */
int fd_rst_ghost_fill(const struct fd_rst *r, uint32_t id, int fd, bool mapped, char *why,
		      size_t len);
/* Unlink what was recreated, once the tree holds it. */
void fd_rst_ghosts_remove(struct fd_rst *r);

/* reg.c, for the kinds that open a file by path: can e come back (a
 * deleted file saved, ...), and the file opened with `flags` (from its
 * ghost if deleted) at the dumped position. */
int fd_rst_reg_check(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
int fd_rst_reg_open(struct fd_rst *r, const FdEntry *e, int flags, char *why, size_t len);

/* fd_rst_util.c: helpers for the restore halves. */
/* The fd --inherit-fd gives for e (a dup), or -ENOENT when none does. */
int fd_rst_inherited(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);
/* Does an --inherit-fd name e? */
bool fd_rst_inherits(const struct fd_rst *r, const FdEntry *e);
struct fd_rst_obj *fd_rst_obj_find(const struct fd_rst *r, int kind, uint64_t key);
/* A new object (fds at -1), or NULL when out of memory. */
struct fd_rst_obj *fd_rst_obj_add(struct fd_rst *r, int kind, uint64_t key);
void fd_rst_objs_close(struct fd_rst *r);
/* Close each of fds (sorted in place; -1s and repeats skipped), a run of
 * consecutive numbers in one close_range: a restore's thousand sockets
 * sit in a few runs. */
void fd_close_all(int *fds, size_t n);
/* Our fd table grown now to hold fd number top (when RLIMIT_NOFILE lets
 * it; any: an fd of ours to duplicate there): before threads share it,
 * for each time a shared table grows the kernel waits for an RCU grace
 * period (expand_fdtable), milliseconds each in a guest. */
void fd_table_reserve(int any, rlim_t top);
/* The first entry in the tree of `type` accepted by match, or NULL; files
 * in flight in a socket's queue are in the tree. */
const FdEntry *fd_rst_find(const struct fd_rst *r, int type,
			   bool (*match)(const FdEntry *e, const void *arg), const void *arg);
/* The process of the tree whose entry e is, or NULL. */
const struct fd_rst_proc *fd_rst_owner(const struct fd_rst *r, const FdEntry *e);
/* Look paths up as e's process (a file in flight: as the tree's first)
 * until fscreds_leave(*prev): 0, or -errno with why filled. */
int fd_rst_as_owner(const struct fd_rst *r, const FdEntry *e, const struct fscreds **prev,
		    char *why, size_t len);
/* The entry of process pid at fd, or NULL; *src: criu-lite's fd of its
 * description once made (-1 before). */
const FdEntry *fd_rst_entry_at(const struct fd_rst *r, uint32_t pid, uint32_t fd, int *src);
/* fds 0-2 that were a terminal or a pipe/socket to outside the tree are
 * the restoring shell's: true if e is such an fd. */
bool fd_rst_is_shell(const FdEntry *e);
/* criu-lite's own fd e->fd (the restoring shell's stdio), or /dev/null
 * when it has none: a new fd, or -errno and why. */
int fd_rst_open_shell(const FdEntry *e, char *why, size_t len);
/* open(2) flags that recreate e's description from its path. */
int fd_rst_open_flags(const FdEntry *e);
/* fmt into why; returns -err, for `return fd_rst_fail(...)`. */
int fd_rst_fail(char *why, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
