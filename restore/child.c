/* The forked child, in plain C, before its tracer takes over: everything a
 * process can set up for itself with ordinary syscalls. It runs on
 * criu-lite's own code and memory, which the tracer throws away later, so
 * whatever it sets must not depend on that memory: fds, cwd, umask,
 * rlimits, signal dispositions (their handler addresses become valid once
 * the dumped memory is back), session and group. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/personality.h>
#include <sys/rseq.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/sched.h>

#include "common/fd/tty.h"
#include "images/log.h"
#include "restore/rst.h"

/* A controlling terminal that is a pty of the tree (made before the fork,
 * common/fd/tty.c): the session leader takes it before it forks, so that
 * its children have it too; the leader of its foreground group sets it
 * (every signal is blocked here: no SIGTTOU). setup_session made them
 * leaders, whatever their pids now. */
static int setup_ctty(struct rst_tree *t, struct rst_proc *p, struct rst_status *st)
{
	int fd = p->pe->tty_nr ? fd_tty_ctty_src(&t->fdr, p->pe->tty_nr) : -1;

	if (fd < 0)
		return 0;
	if (p->ps->sid == p->ps->pid && ioctl(fd, TIOCSCTTY, 0))
		return rst_child_fail(st, errno, "cannot take its controlling terminal: %s",
				      strerror(errno));
	if (p->pe->has_tpgid && p->pe->tpgid == (int32_t)p->ps->pid &&
	    p->ps->pgid == p->ps->pid && tcsetpgrp(fd, getpid()))
		return rst_child_fail(st, errno, "cannot put its group in the foreground: %s",
				      strerror(errno));
	return 0;
}

static int setup_session(struct rst_tree *t, struct rst_proc *p, struct rst_status *st)
{
	pid_t me = getpid();

	/* Only when the dumped pid is ours do these numbers mean us; with a new
	 * pid the tracer maps the group afterwards (proc.c). */
	if (p->ps->sid == p->ps->pid) {
		if (setsid() < 0)
			return rst_child_fail(st, errno, "setsid: %s", strerror(errno));
	} else if (p->ps->pgid == p->ps->pid && getpgrp() != me) {
		if (setpgid(0, 0) < 0)
			return rst_child_fail(st, errno, "setpgid: %s", strerror(errno));
	}
	return setup_ctty(t, p, st);
}

/* As the process will be when the path is the images' word (its exe, a
 * mapped file): a file it could not open is not mapped into it. */
static int open_mfile(const struct rst_proc *p, const struct rst_mfile *m)
{
	/* O_NONBLOCK: a FIFO at that path must not block the open. */
	int flags = (m->rdwr ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK, fd, e;
	const struct fscreds *prev;

	if (!m->named)
		return open(m->path, flags);
	if ((e = fscreds_enter(p->has_fsc ? &p->fsc : NULL, &prev))) {
		errno = -e;
		return -1;
	}
	fd = open(m->path, flags);
	e = errno;
	fscreds_leave(prev);
	errno = e;
	return fd;
}

static int open_mfiles(struct rst_proc *p, struct rst_status *st)
{
	for (size_t k = 0; k < p->nr_mf; k++) {
		const struct rst_mfile *m = &p->mf[k];
		int want = p->mm_fd_base + (int)k, fd;
		struct stat sb;
		char why[160];

		fd = open_mfile(p, m);
		if (fd < 0)
			return rst_child_fail(st, errno, "cannot open %s: %s", m->path,
					      strerror(errno));
		/* Checked before the fork too; this is the file we will map. */
		if (m->id && (fstat(fd, &sb) || rst_file_matches(m->id, &sb, fd, why, sizeof(why))))
			return rst_child_fail(st, ESTALE, "%s changed: %s", m->path, why);
		if (fd != want) {
			if (dup2(fd, want) < 0)
				return rst_child_fail(st, errno, "dup2: %s", strerror(errno));
			close(fd);
		}
	}
	return 0;
}

/* Root and cwd are walked to as the process: chroot itself needs
 * CAP_SYS_CHROOT, which criu-lite has, so the root is opened as the process
 * and entered with ours. */
static int setup_fs(const struct rst_proc *p, struct rst_status *st)
{
	const ProcEntry *pe = p->pe;
	const struct fscreds *prev;
	int fd = -1, r = 0, e = 0;

	if ((r = fscreds_enter(p->has_fsc ? &p->fsc : NULL, &prev)))
		return rst_child_fail(st, -r, "cannot take its credentials");
	if (pe->root && strcmp(pe->root, "/")) {
		fd = open(pe->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		e = errno;
	}
	fscreds_leave(prev);
	if (pe->root && strcmp(pe->root, "/") && (fd < 0 || fchdir(fd) || chroot("."))) {
		e = fd < 0 ? e : errno;
		if (fd >= 0)
			close(fd);
		return rst_child_fail(st, e, "cannot chroot to %s: %s", pe->root, strerror(e));
	}
	if (fd >= 0)
		close(fd);
	if (pe->cwd) {
		if ((r = fscreds_enter(p->has_fsc ? &p->fsc : NULL, &prev)))
			return rst_child_fail(st, -r, "cannot take its credentials");
		r = chdir(pe->cwd) ? -errno : 0;
		fscreds_leave(prev);
	}
	if (r)
		return rst_child_fail(st, -r, "cannot change directory to %s: %s", pe->cwd,
				      strerror(-r));
	if (pe->has_umask)
		umask((mode_t)pe->umask);
	return 0;
}

/* Without CAP_SYS_RESOURCE a hard limit cannot go up: keep what can be
 * kept (the tracer warned before the fork). */
static void setup_rlimits(const ProcEntry *pe)
{
	for (size_t i = 0; i < pe->n_rlimits; i++) {
		const RlimitEntry *r = pe->rlimits[i];
		struct rlimit want = { (rlim_t)r->cur, (rlim_t)r->max }, now;

		if (!setrlimit((int)r->resource, &want) || getrlimit((int)r->resource, &now))
			continue;
		if (want.rlim_max > now.rlim_max)
			want.rlim_max = now.rlim_max;
		if (want.rlim_cur > want.rlim_max)
			want.rlim_cur = want.rlim_max;
		setrlimit((int)r->resource, &want);
	}
}

static void setup_misc(const ProcEntry *pe, const ThreadEntry *leader)
{
	if (pe->has_coredump_filter) {
		int fd = open("/proc/self/coredump_filter", O_WRONLY | O_CLOEXEC);
		char buf[32];

		if (fd >= 0) {
			int n = snprintf(buf, sizeof(buf), "%#x", pe->coredump_filter);

			/* Best effort: it only shapes future core dumps. */
			if (write(fd, buf, n) != n)
				n = 0;
			close(fd);
		}
	}
	if (pe->has_nice)
		setpriority(PRIO_PROCESS, 0, pe->nice);
	if (pe->has_personality)
		personality(pe->personality);
	/* The leader's comm is the process's; older images left pe->comm empty. */
	prctl(PR_SET_NAME, pe->comm[0] || !leader->comm ? pe->comm : leader->comm, 0, 0, 0);
}

/* glibc registered an rseq area in criu-lite's TLS; once that memory is
 * unmapped, the kernel's next update of it on a return to user mode would
 * fault and SIGSEGV the process. Unregister it while it still exists. */
static void drop_rseq(void)
{
	if (__rseq_size)
		syscall(SYS_rseq, (char *)__builtin_thread_pointer() + __rseq_offset,
			__rseq_size < 32 ? 32 : __rseq_size, 1 /* RSEQ_FLAG_UNREGISTER */,
			RSEQ_SIG);
}

/* In a replay (its own pid namespace), our pid as criu-lite sees it: the
 * /proc we still have is the host's, and its "self" is in its pids. */
static pid_t host_pid(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n <= 0)
		return getpid();
	buf[n] = '\0';
	return (pid_t)atoi(buf);
}

static void report(int fd, const struct rst_status *st)
{
	/* One write, under PIPE_BUF: atomic among all the children. */
	if (write(fd, st, sizeof(*st)) != sizeof(*st))
		_exit(3);
}

void rst_child_main(struct rst_tree *t, int idx)
{
	struct rst_proc *p = &t->procs[idx];
	struct rst_status st = { .idx = idx,
				 .pid = p->ns_pids ? host_pid() : getpid() };
	int sfd = t->status_fd[1];
	sigset_t all;
	int r;

	/* Handlers installed below point into memory that is not there yet:
	 * nothing may be delivered until the tracer sets the dumped mask. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* If whoever made us dies before we are seized, so do we. The tracer
	 * clears it again (proc.c). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != rst_forker_pid)
		_exit(2);	/* it died before the prctl */
	r = setup_session(t, p, &st);
	if (!r)
		r = rst_fork_children(t, idx, &st);
	if (!r)
		r = rst_zombies_create(t, p->pe, &st);
	if (!r)
		r = rst_fds_setup(t, p, &st, &sfd);
	if (!r)
		r = open_mfiles(p, &st);
	if (!r)
		r = setup_fs(p, &st);
	if (!r)
		r = rst_sigactions_child(p->pe, &st);
	if (!r) {
		setup_rlimits(p->pe);
		setup_misc(p->pe, p->th[0]);
	}
	if (!r)
		r = rst_procstate_child(&t->opts, p->pe, &st);
	if (!r)
		drop_rseq();
	/* Last: from here on this process opens and dups nothing more, so the
	 * fd table they share (CLONE_FILES) is theirs to set up in. */
	if (!r)
		r = rst_fork_children_sharing(t, idx, &st, sfd);
	report(sfd, &st);
	if (r)
		_exit(1);
	close(sfd);
	/* Every signal is blocked: only the tracer's PTRACE_INTERRUPT ends this. */
	for (;;)
		syscall(SYS_pause);
}

pid_t rst_forker_pid;

static pid_t clone_with_pid(pid_t want, int exit_signal, uint64_t flags)
{
	struct clone_args args = {
		.flags = flags,
		.exit_signal = (uint64_t)exit_signal,
		.set_tid = (uint64_t)(uintptr_t)&want,
		.set_tid_size = 1,
	};

	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

static pid_t clone_any(int exit_signal, uint64_t flags)
{
	struct clone_args args = { .flags = flags, .exit_signal = (uint64_t)exit_signal };

	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* Create procs[idx] as a child of the calling process. In the child this
 * never returns. */
int rst_clone_proc(struct rst_tree *t, int idx, struct rst_status *st)
{
	struct rst_proc *p = &t->procs[idx];
	int sig = p->pe->has_exit_signal && p->pe->exit_signal ? (int)p->pe->exit_signal : SIGCHLD;
	/* cwd, root and umask shared with the parent (fds.c checked it is the
	 * parent) stay shared: both set the same ones. So does the fd table. */
	uint64_t flags = (p->ps->has_fs_with && p->ps->fs_with ? CLONE_FS : 0) |
			 (rst_fds_shares_table(t, p) ? CLONE_FILES : 0);
	pid_t pid;

	rst_forker_pid = getpid();
	pid = clone_with_pid((pid_t)p->ps->pid, sig, flags);
	if (pid < 0 && errno == EEXIST && !t->opts.same_pids) {
		pid = clone_any(sig, flags);
		if (pid > 0)
			pr_warn("pid %u is taken: process restored as pid %d", p->ps->pid, pid);
	}
	if (pid < 0) {
		if (errno == EEXIST)
			return rst_child_fail(st, EEXIST, "pid %u is taken (--same-pids)",
					      p->ps->pid);
		return rst_child_fail(st, errno, "cannot create process %u: %s", p->ps->pid,
				      strerror(errno));
	}
	if (pid == 0)
		rst_child_main(t, idx);
	p->pid = pid;	/* meaningful in criu-lite, for the root */
	return 0;
}

int rst_fork_children(struct rst_tree *t, int idx, struct rst_status *st)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		if (t->procs[i].parent != idx || rst_fds_shares_table(t, &t->procs[i]))
			continue;
		int r = rst_clone_proc(t, (int)i, st);

		if (r)
			return r;
	}
	return 0;
}

int rst_fork_children_sharing(struct rst_tree *t, int idx, struct rst_status *st, int sfd)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		int r;

		if (t->procs[i].parent != idx || !rst_fds_shares_table(t, &t->procs[i]))
			continue;
		/* Its own status fd in the shared table: each closes its own. */
		t->status_fd[1] = fcntl(sfd, F_DUPFD_CLOEXEC, t->fd_hi);
		if (t->status_fd[1] < 0)
			return rst_child_fail(st, errno, "dup: %s", strerror(errno));
		r = rst_clone_proc(t, (int)i, st);
		if (r)
			return r;
	}
	return 0;
}
