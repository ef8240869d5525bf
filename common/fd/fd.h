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
#include <sys/stat.h>
#include <sys/types.h>

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

/* The fds of one process being dumped. */
struct fd_dump {
	pid_t pid;
	int pidfd;			/* pidfd_open(pid), or -1: pidfd_getfd not possible */
	struct sk_cache *sk;		/* socket.c: sock_diag tables, loaded at the first socket */
	bool sk_loaded;
	uint64_t *pipes_seen;		/* pipe.c: pipe inodes whose data is already stored */
	size_t nr_pipes_seen, pipes_cap;
	/* The walk (criu-lite/files/), for kinds that meet files no fd of the
	 * process holds (in flight in a socket) and hold them as criu-lite's
	 * own fds: each of fds[] dumped into out[] as a file of criu-lite's,
	 * with c's socket tables. */
	int (*dump_own)(struct fd_dump *c, const int *fds, size_t n, FdEntry **out);
};

/* ---- restore ---- */

/* The fds of one process of the tree being restored. */
struct fd_rst_proc {
	uint32_t pid;			/* as dumped */
	FdEntry **fd;
	size_t nr_fd;
	int *src;			/* per entry: criu-lite's fd of its description, or -1 */
	int32_t real_pid;		/* once the tree exists (late): its pid now */
};

/* An object several fds (or processes) share, made once: a pipe, a fifo, a
 * socketpair, a listener. kind: FD_TYPE__*; key: the dumped inode. */
struct fd_rst_obj {
	int kind;
	uint64_t key;
	int fds[2];			/* pipe: read, write; socketpair: this end, the peer's */
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
	struct fd_rst_proc *procs;
	size_t nr_procs;
	struct fd_rst_obj *obj;
	size_t nr_obj, cap_obj;
	struct sk_rst *sk;		/* socket*.c: kept from open to late */
	/* kinds.c's fd_kind_of, for kinds whose entries hold other entries
	 * (files in flight in a socket) */
	const struct fd_kind *(*kind_of)(int type);
};

/* How a dump lets go of the tree (fd_dump_end). */
enum fd_dump_end {
	FD_DUMP_RESUME,		/* the tree runs on (or stays stopped): before it does */
	FD_DUMP_KILL,		/* the tree is about to be killed */
	FD_DUMP_KILLED,		/* ... and is */
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
	/* restore, in criu-lite: an fd of e's open file description (a new one
	 * the caller owns), or -errno and why. */
	int (*open)(struct fd_rst *r, const FdEntry *e, char *why, size_t len);
	/* restore, in the process itself once every fd of it is at its number
	 * (optional): 0, or -errno and why. */
	int (*install)(const FdEntry *e, char *why, size_t len);
	/* restore, in criu-lite once every entry of the tree is open
	 * (optional): what needs them all (clients connected to listeners
	 * made later, files in flight). 0, or -errno and why. */
	int (*link)(struct fd_rst *r, char *why, size_t len);
	/* restore, in criu-lite once every process of the tree exists and
	 * before any runs (optional; fd_rst_proc.real_pid is set): what needs
	 * their pids (credentials in flight) or the whole tree in place. */
	int (*late)(struct fd_rst *r, char *why, size_t len);
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
/* Every kind's link, late, rst_done (see struct fd_kind). */
int fd_kinds_link(struct fd_rst *r, char *why, size_t len);
int fd_kinds_late(struct fd_rst *r, char *why, size_t len);
void fd_kinds_rst_done(struct fd_rst *r);
/* The fd restore passes for e under --inherit-fd (a dup the caller owns),
 * -ENOENT when none was given for it, or -errno and why. */
int fd_rst_inherited(const struct fd_rst *r, const FdEntry *e, char *why, size_t len);

/* fd_dump_util.c: helpers for the dump halves. */
/* Text after "key:" (and blanks) in fdinfo, or NULL. Key must start a line. */
const char *fdinfo_field(const char *fdinfo, const char *key);
/* A duplicate of the target's fd in our table (pidfd_getfd), or -errno.
 * It is the same open file, so nothing is reopened or changed. */
int fd_dump_getfd(struct fd_dump *c, int fd);
/* Heap-built sub-messages and strings. */
FileIdentity *fd_dump_identity(const struct fd_desc *d);
char *fd_dump_strdup(const char *s);
/* e becomes an FD_UNSUPPORTED record with reason, warned naming the fd. */
int fd_dump_unsupported(const struct fd_dump *c, const struct fd_desc *d, FdEntry *e,
			const char *reason);

/* fd_rst_util.c: helpers for the restore halves. */
struct fd_rst_obj *fd_rst_obj_find(const struct fd_rst *r, int kind, uint64_t key);
/* A new object (fds at -1), or NULL when out of memory. */
struct fd_rst_obj *fd_rst_obj_add(struct fd_rst *r, int kind, uint64_t key);
void fd_rst_objs_close(struct fd_rst *r);
/* The first entry in the tree of `type` accepted by match, or NULL; files
 * in flight in a socket's queue are in the tree. */
const FdEntry *fd_rst_find(const struct fd_rst *r, int type,
			   bool (*match)(const FdEntry *e, const void *arg), const void *arg);
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
