/* The letting-go of a restored tree, made one step against criu-lite's
 * death (issue 15: a restore killed half-way leaves no half-built process).
 *
 * Until the release every process is covered: before it is seized, by the
 * parent-death SIGKILL it set itself (child.c), a chain up to criu-lite;
 * once seized, by PTRACE_O_EXITKILL (inject.c), which threads created by
 * injection inherit. The release itself is many PTRACE_DETACHes: killed
 * between two of them, criu-lite would leave the processes let go running
 * and the others killed, a tree with holes. So before the first detach a
 * guard is forked: it holds a pidfd of every process and a socket from
 * criu-lite. Once the last process is let go, criu-lite sends it one byte
 * (the commit) and the guard exits; if instead the socket ends without it
 * (criu-lite died, or gave up), the guard SIGKILLs the whole tree. Which
 * of the two happens is decided by one send(): the tree is either complete
 * and running, or gone.
 *
 * What it cannot see: a child forked by a process in the microseconds
 * between that process's detach and criu-lite's death has no pidfd here. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/fault.h"
#include "images/log.h"
#include "restore/rst.h"

#define GUARD_COMMIT 'c'

static void guard_main(struct rst_tree *t, int sk)
{
	int *pidfd = calloc(t->nr_procs ? t->nr_procs : 1, sizeof(int));
	char c = 0;
	ssize_t n;

	/* Signals meant for criu-lite's job (^C, a hangup) must not end the
	 * guard first: it goes as soon as criu-lite is gone anyway. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "criu-lite-guard", 0, 0, 0);
	if (!pidfd)
		_exit(1);
	for (size_t i = 0; i < t->nr_procs; i++)
		pidfd[i] = t->procs[i].pid > 0 ?
			   (int)syscall(SYS_pidfd_open, t->procs[i].pid, 0) : -1;
	/* Ready: criu-lite lets nothing go before every pidfd is held. */
	if (send(sk, "r", 1, MSG_NOSIGNAL) != 1)
		c = 0;
	else
		while ((n = read(sk, &c, 1)) < 0 && errno == EINTR)
			;
	if (c == GUARD_COMMIT)
		_exit(0);
	for (size_t i = 0; i < t->nr_procs; i++)
		if (pidfd[i] >= 0)
			syscall(SYS_pidfd_send_signal, pidfd[i], SIGKILL, NULL, 0);
	_exit(0);
}

int rst_guard_start(struct rst_tree *t)
{
	int sv[2], r;
	char c;

	if ((r = fault_step("restore: start the release guard")))
		return r;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return pr_perror("cannot create the release guard's socket");
	t->guard = fork();
	if (t->guard < 0) {
		t->guard = 0;
		close(sv[0]);
		close(sv[1]);
		return pr_perror("cannot fork the release guard");
	}
	if (t->guard == 0) {
		close(sv[0]);
		guard_main(t, sv[1]);
	}
	close(sv[1]);
	t->guard_fd = sv[0];
	if (read(sv[0], &c, 1) != 1) {
		pr_err("the release guard died before the release");
		rst_guard_end(t, false);
		return -ESRCH;
	}
	return 0;
}

void rst_guard_end(struct rst_tree *t, bool commit)
{
	char c = GUARD_COMMIT;

	if (t->guard <= 0)
		return;
	/* A guard already gone cannot undo the release: nothing to tell it. */
	if (commit && send(t->guard_fd, &c, 1, MSG_NOSIGNAL) != 1)
		pr_debug("the release guard was gone before the commit");
	close(t->guard_fd);
	t->guard_fd = -1;
	while (waitpid(t->guard, NULL, 0) < 0 && errno == EINTR)
		;
	t->guard = 0;
}
