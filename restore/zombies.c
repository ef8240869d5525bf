/* Zombies: children the dumped process had not reaped. Its restored copy
 * forks each (with the zombie's pid where free) and the child dies at once
 * the way the dumped one did, exit code or signal, so that the parent's
 * wait() finds the same status. Runs in the restoring child, in plain C,
 * after its live children exist. The SIGCHLD those deaths send is taken
 * back: the one the dumped process had pending, if any, is restored with
 * the other pending signals later. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "images/log.h"
#include "restore/rst.h"

static void __attribute__((noreturn)) die_as(const ProcZombieEntry *z)
{
	int sig = (int)(z->exit_code & 0x7f);
	sigset_t one;

	if (z->has_sid && z->sid == z->pid)
		setsid();
	else if (z->has_pgid && z->pgid == z->pid)
		setpgid(0, 0);
	if (z->comm)
		prctl(PR_SET_NAME, z->comm, 0, 0, 0);
	if (!sig)
		_exit((int)(z->exit_code >> 8) & 0xff);
	/* No core dump: it would go wherever core_pattern says. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	kill(getpid(), sig);
	_exit(128 + sig);	/* a signal whose default is not to kill */
}

static pid_t fork_zombie(struct rst_tree *t, const ProcZombieEntry *z)
{
	struct clone_args args = { .exit_signal = z->has_exit_signal ? z->exit_signal : SIGCHLD };
	pid_t want = (pid_t)z->pid, pid;

	args.set_tid = (uint64_t)(uintptr_t)&want;
	args.set_tid_size = 1;
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0 && errno == EEXIST && !t->opts.same_pids) {
		args.set_tid = 0;
		args.set_tid_size = 0;
		pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	}
	if (pid == 0)
		die_as(z);
	return pid;
}

int rst_zombies_create(struct rst_tree *t, const ProcEntry *pe, struct rst_status *st)
{
	struct timespec zero = { 0, 0 };
	sigset_t sigs;

	sigemptyset(&sigs);
	for (size_t i = 0; i < pe->n_zombies; i++) {
		const ProcZombieEntry *z = pe->zombies[i];
		siginfo_t si;
		pid_t pid = fork_zombie(t, z);

		if (pid < 0)
			return rst_child_fail(st, errno, "cannot recreate its zombie child %u: %s",
					      z->pid, strerror(errno));
		/* Dead before we go on: its parent is seized next. */
		while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | __WALL) < 0)
			if (errno != EINTR)
				return rst_child_fail(st, errno, "zombie %u: %s", z->pid,
						      strerror(errno));
		if (z->has_exit_signal && z->exit_signal)
			sigaddset(&sigs, (int)z->exit_signal);
	}
	/* Every signal is blocked here: what the deaths queued is still pending. */
	while (pe->n_zombies && sigtimedwait(&sigs, NULL, &zero) > 0)
		;
	return 0;
}
