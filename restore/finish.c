/* Let the restored tree go: detach every thread (all are in a
 * PTRACE_EVENT_STOP with their final state), or with --stopped leave every
 * process in a job-control stop, untraced, for a debugger to attach to.
 * Then, unless -d, wait for the root like a shell waits for its job. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common/procfs.h"
#include "common/fault.h"
#include "images/log.h"
#include "restore/rst.h"

static int write_pidfile(const char *path, pid_t pid)
{
	char buf[32];
	int fd, n = snprintf(buf, sizeof(buf), "%d\n", pid);

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return pr_perror("cannot create pidfile %s", path);
	if (write(fd, buf, n) != n) {
		int r = pr_perror("cannot write pidfile %s", path);

		close(fd);
		return r;
	}
	return close(fd) ? pr_perror("cannot write pidfile %s", path) : 0;
}

/* A foreground job gets the terminal, as a shell would give it. */
static void give_terminal(struct rst_tree *t)
{
	pid_t pgid = getpgid(t->procs[t->root].pid);

	/* A replay's terminal is the debugger's. */
	if (t->opts.detached || t->opts.replay || !isatty(0) || tcgetpgrp(0) != getpgrp() ||
	    pgid == getpgrp() || pgid <= 0)
		return;
	if (tcsetpgrp(0, pgid))
		pr_warn("cannot put the restored job in the foreground: %s", strerror(errno));
}

static void take_terminal_back(void)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;

	if (!isatty(0) || tcgetpgrp(0) == getpgrp())
		return;
	/* We are a background job now: tcsetpgrp would stop us with SIGTTOU. */
	sigaction(SIGTTOU, &ign, &old);
	tcsetpgrp(0, getpgrp());
	sigaction(SIGTTOU, &old, NULL);
}

static char thread_state(pid_t pid, pid_t tid)
{
	char name[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(name, sizeof(name), "task/%d/stat", tid);
	fd = procfs_open(pid, name, O_RDONLY | PROCFS_QUIET);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* comm may hold spaces and parentheses */
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Detached threads take their SIGSTOP when next scheduled; say "restored"
 * only once every process is really in its job-control stop. */
static int wait_stopped(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		const struct rst_proc *p = &t->procs[i];

		for (size_t k = 0; k < p->nr_th; k++) {
			int tries = 0;
			char st;

			while ((st = thread_state(p->pid, p->tids[k])) != 'T' && st && tries++ < 5000)
				usleep(1000);
			if (st != 'T') {
				pr_err("restored thread %d did not stop (state %c)", p->tids[k],
				       st ? st : '?');
				return -EIO;
			}
		}
	}
	return 0;
}

int rst_release(struct rst_tree *t)
{
	int r = 0;

	if (t->opts.pidfile)
		r = write_pidfile(t->opts.pidfile, t->procs[t->root].pid);
	if (r)
		return r;
	give_terminal(t);
	if ((r = rst_guard_start(t)))
		return r;
	/* --stopped: a SIGSTOP queued to every thread before any is let go.
	 * Each thread, resumed inside the kernel's signal code, takes it (or
	 * joins the group stop it started) before running one instruction. */
	for (size_t i = 0; t->opts.stopped && i < t->nr_procs; i++)
		for (size_t k = 0; k < t->procs[i].nr_th; k++)
			syscall(SYS_tgkill, t->procs[i].pid, t->procs[i].tids[k], SIGSTOP);
	/* Dumped in a job-control stop: stopped again the same way. */
	if (!t->opts.stopped)
		rst_jobstop_send(t);
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];

		for (size_t k = 0; !r && k < p->nr_th; k++) {
			r = fault_step("restore: let a thread go");
			if (!r && ptrace(PTRACE_DETACH, p->tids[k], NULL, NULL))
				r = pr_perror("cannot let thread %d go", p->tids[k]);
		}
		p->seized = false;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
	if (!r && t->opts.stopped)
		r = wait_stopped(t);
	else if (!r)
		r = rst_jobstop_wait(t);
	if (!r)
		r = fault_step("restore: commit the release");
	/* The commit: from here the tree is whole and runs on whatever
	 * becomes of us; on a failure the guard kills it (so do we). */
	rst_guard_end(t, !r);
	return r;
}

int rst_wait_root(struct rst_tree *t)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	/* A replay's root is its init's child: init ends with it. */
	pid_t root = t->replay_init ? t->replay_init : t->procs[t->root].pid;
	int st, code = 1;

	/* Like a shell's job: ^C and ^\ are for the program, not for us. */
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGQUIT, &ign, NULL);
	for (;;) {
		/* Orphans reparented to us while we were a subreaper are reaped too. */
		pid_t pid = waitpid(-1, &st, 0);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0) {
			pr_perror("waiting for the restored process %d", root);
			break;
		}
		if (pid != root)
			continue;
		code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		break;
	}
	take_terminal_back();
	return code;
}
