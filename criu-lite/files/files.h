/* Private to the fd dumper (files.c, fd_pipe.c, fd_socket.c, fd_misc.c):
 * files.c walks /proc/PID/fd and fills what every fd has (link, flags,
 * pos, mnt_id); the fd_* modules fill in what one kind of file has. */
#ifndef CRIU_LITE_FILES_H
#define CRIU_LITE_FILES_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "images/image.h"

/* files.c: every fd of a frozen process into files-PID.img. */
int files_dump(int dirfd, pid_t pid);

struct sk_cache;

/* State of one files_dump() call. */
struct files_ctx {
	pid_t pid;
	int pidfd;			/* pidfd_open(pid), or -1: pidfd_getfd not possible */
	struct sk_cache *sk;		/* sock_diag tables, loaded at the first socket */
	bool sk_loaded;
	uint64_t *pipes_seen;		/* pipe inodes whose data is already stored */
	size_t nr_pipes_seen, pipes_cap;
};

/* One open fd of the target, as /proc shows it. */
struct fd_desc {
	int fd;
	char link[PATH_MAX];		/* readlink /proc/PID/fd/N */
	struct stat st;			/* stat (following the magic link) */
	char *fdinfo;			/* whole /proc/PID/fdinfo/N, NUL-terminated */
};

/* Text after "key:" (and blanks) in fdinfo, or NULL. Key must start a line. */
const char *fdinfo_field(const char *fdinfo, const char *key);

/* A duplicate of the target's fd in our table (pidfd_getfd), or -errno.
 * It is the same open file, so nothing is reopened or changed. */
int files_getfd(struct files_ctx *ctx, int fd);

/* Heap-built sub-messages and strings (see dump.h's ownership rule). */
FileIdentity *files_identity(const struct fd_desc *d);
char *files_strdup(const char *s);

/* fd_pipe.c: pipes and FIFOs, with their unread data. */
int fd_pipe_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e);
void fd_pipe_ctx_free(struct files_ctx *ctx);

/* fd_socket.c: sockets, matched by inode against sock_diag tables. */
int fd_socket_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e);
void fd_socket_ctx_free(struct files_ctx *ctx);

/* fd_misc.c: anon-inode objects (eventfd, epoll, signalfd, timerfd,
 * inotify, pidfd), ttys, memfds; anything unknown becomes FD_UNSUPPORTED. */
int fd_anon_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e);
int fd_chr_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e);
int fd_memfd_fill(struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e);
int fd_unsupported(const struct files_ctx *ctx, const struct fd_desc *d, FdEntry *e,
		   const char *reason);

#endif
