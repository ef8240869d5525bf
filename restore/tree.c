/* Fork the process tree: every process is created by its dumped parent
 * (so parent links are the dumped ones) with clone3(set_tid) asking for
 * its dumped pid; each reports on the status pipe once it has set itself
 * up in plain C, and we seize it there. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "images/clock.h"
#include "common/fault.h"
#include "images/log.h"
#include "restore/rst.h"

#define READY_TIMEOUT_MS 30000

static int got_status(struct rst_tree *t, const struct rst_status *st)
{
	struct rst_proc *p;

	if (st->idx < 0 || (size_t)st->idx >= t->nr_procs)
		return -EIO;
	p = &t->procs[st->idx];
	if (st->pid > 0)
		p->pid = st->pid;
	if (st->err) {
		pr_err("cannot restore process %u: %.*s", p->ps->pid, (int)sizeof(st->msg),
		       st->msg);
		return st->err;
	}
	p->tids[0] = p->pid;
	if (rst_seize(p->pid))
		return -ESRCH;
	p->seized = true;
	return fault_step("restore: process seized");
}

/* Collect one status per process, seizing each as it reports. */
static int wait_ready(struct rst_tree *t, pid_t root)
{
	long deadline = mono_ms() + READY_TIMEOUT_MS;
	size_t got = 0;

	while (got < t->nr_procs) {
		struct pollfd pfd = { .fd = t->status_fd[0], .events = POLLIN };
		struct rst_status st;
		ssize_t n;
		int r;

		r = poll(&pfd, 1, 200);
		if (r == 0) {
			siginfo_t si = { 0 };

			/* WNOWAIT: a traced root's stops are ours to reap elsewhere. */
			if (!waitid(P_PID, (id_t)root, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) &&
			    si.si_pid == root && si.si_code != CLD_TRAPPED && si.si_code != CLD_STOPPED) {
				pr_err("process %u died while being restored", t->procs[t->root].ps->pid);
				t->procs[t->root].pid = 0;
				return -ESRCH;
			}
			if (mono_ms() > deadline) {
				pr_err("timed out waiting for the restored processes to set up");
				return -ETIMEDOUT;
			}
			continue;
		}
		n = read(t->status_fd[0], &st, sizeof(st));
		if (n == 0) {
			pr_err("%zu of %zu processes died while being restored",
			       t->nr_procs - got, t->nr_procs);
			return -ESRCH;
		}
		if (n != sizeof(st))
			return n < 0 ? pr_perror("status pipe") : -EIO;
		r = got_status(t, &st);
		if (r)
			return r;
		got++;
	}
	return 0;
}

int rst_create_tree(struct rst_tree *t)
{
	struct rst_status st = { .idx = t->root };
	int r;

	/* fds at chosen numbers, then raw clone3: the pages' hashing thread
	 * apart from both first */
	dr_pages_sum_settle(&t->dr);
	for (size_t i = 0; i < t->nr_procs; i++) {
		r = rst_mfiles_prepare(&t->procs[i]);
		if (r)
			return r;
	}
	if (pipe2(t->status_fd, O_CLOEXEC))
		return pr_perror("cannot create a pipe");
	r = fault_step("restore: open the files");
	if (!r)
		r = rst_fds_open(t);
	/* Orphans of a failed restore come back to us to be reaped. */
	if (!r)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (!r)
		r = fault_step("restore: fork the tree");
	if (!r)
		r = t->opts.replay ? rst_replay_init(t, &st) : rst_clone_proc(t, t->root, &st);
	if (r && st.err)
		pr_err("%s", st.msg);
	close(t->status_fd[1]);
	t->status_fd[1] = -1;
	/* The children hold their copies now; ours would keep pipes open. */
	rst_fds_close(t);
	if (!r)
		r = wait_ready(t, t->replay_init ? t->replay_init : t->procs[t->root].pid);
	rst_fds_ready(t);
	close(t->status_fd[0]);
	t->status_fd[0] = -1;
	return r;
}

void rst_kill_tree(struct rst_tree *t)
{
	pid_t pid;

	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];

		if (p->pid > 0)
			kill(p->pid, SIGKILL);
	}
	/* A replay's init takes its pid namespace with it. */
	if (t->replay_init > 0)
		kill(t->replay_init, SIGKILL);
	/* The root is our child; the others are reparented to us (subreaper)
	 * as their parents die. Reap until nothing is left. */
	while ((pid = waitpid(-1, NULL, __WALL)) > 0 || (pid < 0 && errno == EINTR))
		;
	for (size_t i = 0; i < t->nr_procs; i++)
		t->procs[i].pid = 0;
}
