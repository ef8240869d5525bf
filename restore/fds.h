/* Private to restore's fd modules (fd_shared.c, fds.c, check.c). */
#ifndef CRIU_LITE_RESTORE_FDS_H
#define CRIU_LITE_RESTORE_FDS_H

#include "restore/rst.h"

enum rst_fd_how {
	RST_FD_UNSUPPORTED,
	RST_FD_SHELL,		/* 0-2 that were a tty or a pipe/socket to outside: criu-lite's */
	RST_FD_SHELL_TTY,	/* another tty fd: criu-lite's terminal, reopened */
	RST_FD_SHARED,		/* pipe, fifo, socketpair, listener: made before the fork */
	RST_FD_OPEN,		/* regular file, directory, device: opened by path */
	RST_FD_EVENTFD,
	RST_FD_EPOLL,
	RST_FD_SIGNALFD,
	RST_FD_TIMERFD,
};

/* How fd entry e comes back; for RST_FD_UNSUPPORTED, why (in buf). */
enum rst_fd_how rst_fd_classify(struct rst_tree *t, const FdEntry *e, char *buf, size_t len);
struct rst_shared *rst_shared_find(struct rst_tree *t, int kind, uint64_t ino);

#endif
