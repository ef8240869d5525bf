/* Process state beyond memory, threads, creds and signals:
 *  - in the child, in plain C: the loginuid (only the process itself may
 *    write /proc/self/loginuid) and oom_score_adj;
 *  - through injected syscalls: child subreaper, THP disable, KSM for the
 *    whole process, membarrier registrations, and per thread the parent
 *    death signal;
 *  - at the release: a process dumped in a job-control stop is stopped
 *    again, by the signal that stopped it where that can work (SIGSTOP
 *    otherwise, a loss check.c named first). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "common/procfs.h"
#include "images/clock.h"
#include "images/log.h"
#include "restore/rst.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif
#define THP_DISABLE_FLAGS (1u << 1)	/* PR_THP_DISABLE_EXCEPT_ADVISED */
#define STOP_WAIT_MS 2000

static int write_self(const char *knob, long long v, struct rst_status *st)
{
	char path[64], buf[32];
	int fd, n = snprintf(buf, sizeof(buf), "%lld", v);

	snprintf(path, sizeof(path), "/proc/self/%s", knob);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, buf, n) != n) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return rst_child_fail(st, e, "cannot set its %s to %lld: %s", knob, v, strerror(e));
	}
	close(fd);
	return 0;
}

int rst_procstate_child(const struct rst_opts *o, const ProcEntry *pe, struct rst_status *st)
{
	char buf[32];
	int r = 0;

	if (pe->has_oom_score_adj)
		r = write_self("oom_score_adj", pe->oom_score_adj, st);
	/* Writing the same value again would still start a new audit session. */
	if (r || !pe->has_loginuid || procfs_read_small("/proc/self/loginuid", buf, sizeof(buf)) ||
	    (uint32_t)strtoul(buf, NULL, 10) == pe->loginuid)
		return r;
	if (write_self("loginuid", pe->loginuid, st) && (o->ploss.accept & (1u << PLOSS_LOGINUID))) {
		st->err = 0;	/* accepted: it keeps ours */
		st->msg[0] = '\0';
	}
	return st->err;
}

/* What GET_REGISTRATIONS reports are the REGISTER commands that were run. */
static int membarrier_again(struct rst_proc *p, struct rst_inj *j, uint32_t mask)
{
	for (int bit = 0; bit < 32; bit++) {
		int r;

		if (!(mask >> bit & 1))
			continue;
		r = rst_sys_ok(j, "membarrier register", __NR_membarrier, NULL, 1u << bit, 0, 0, 0,
			       0, 0);
		if (r) {
			pr_err("process %d: cannot register membarrier command %#x again", p->pid,
			       1u << bit);
			return r;
		}
	}
	return 0;
}

int rst_procstate(struct rst_proc *p, struct rst_inj *j)
{
	const ProcEntry *pe = p->pe;
	int r = 0;

	if (pe->has_child_subreaper && pe->child_subreaper)
		r = rst_sys_ok(j, "PR_SET_CHILD_SUBREAPER", __NR_prctl, NULL,
			       PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0);
	if (!r && pe->has_thp_disable && pe->thp_disable)
		r = rst_sys_ok(j, "PR_SET_THP_DISABLE", __NR_prctl, NULL, PR_SET_THP_DISABLE, 1,
			       pe->thp_disable & THP_DISABLE_FLAGS, 0, 0, 0);
	if (!r && pe->has_memory_merge && pe->memory_merge)
		r = rst_sys_ok(j, "PR_SET_MEMORY_MERGE", __NR_prctl, NULL, PR_SET_MEMORY_MERGE, 1,
			       0, 0, 0, 0);
	if (!r && pe->has_membarrier && pe->membarrier)
		r = membarrier_again(p, j, pe->membarrier);
	return r;
}

/* Does sig, as pe left it (handler, SIG_IGN, or default), end or stop the
 * process when it comes? */
static bool fatal_to(const ProcEntry *pe, int sig)
{
	bool harmless_default = sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
				sig == SIGCONT;

	if (sig == SIGKILL || sig == SIGSTOP)
		return true;
	for (size_t i = 0; i < pe->n_sigactions; i++)
		if ((int)pe->sigactions[i]->sig == sig)
			return pe->sigactions[i]->handler == (uint64_t)(uintptr_t)SIG_DFL &&
			       !harmless_default;
	return !harmless_default;
}

/* The child set one for itself while it ran criu-lite's code; new
 * threads start without. The root's was about a parent outside the tree:
 * with -d its parent now is criu-lite, which exits at once, so a signal
 * that ends the process (often SIGKILL, set by supervisors) would end the
 * tree just restored: that one is left unset, with a warning. */
int rst_thread_procstate(const struct rst_tree *t, struct rst_proc *p, size_t i,
			 struct rst_inj *j)
{
	const ThreadEntry *te = p->th[i];
	uint64_t sig = te->has_pdeath_signal ? te->pdeath_signal : 0;

	if (sig && t->opts.detached && !t->keeper && p == &t->procs[t->root] &&
	    fatal_to(p->pe, (int)sig)) {
		pr_warn("process %u: its parent-death signal %d is not set: it would kill it as "
			"criu-lite, its parent now, exits (-d)", p->ps->pid, (int)sig);
		sig = 0;
	}
	if (!sig && i)
		return 0;
	return rst_sys_ok(j, "PR_SET_PDEATHSIG", __NR_prctl, NULL, PR_SET_PDEATHSIG, sig, 0, 0,
			  0, 0);
}

static bool stopped(const struct rst_proc *p)
{
	for (size_t k = 0; k < p->nr_th; k++) {
		char path[64], buf[512], *s;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", p->pid, p->tids[k]);
		if (procfs_read_small(path, buf, sizeof(buf)))
			return false;
		s = strrchr(buf, ')');
		if (!s || s[1] != ' ' || s[2] != 'T')
			return false;
	}
	return true;
}

bool rst_jobstop_wanted(const struct rst_proc *p)
{
	return p->pe->has_stop_signo && p->pe->stop_signo;
}

/* Before the threads are let go: queued now, taken once they run. */
void rst_jobstop_send(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		if (rst_jobstop_wanted(&t->procs[i]))
			kill(t->procs[i].pid, ploss_restop_signal(t->procs[i].pe, t->procs[i].th,
								  t->procs[i].nr_th));
}

/* After: a SIGTSTP the kernel dropped (an orphaned process group, as the
 * dumped one may not have been) leaves it running; SIGSTOP then. */
int rst_jobstop_wait(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];
		long deadline = mono_ms() + STOP_WAIT_MS;
		bool again = false;

		if (!rst_jobstop_wanted(p))
			continue;
		while (!stopped(p)) {
			if (mono_ms() < deadline) {
				usleep(1000);
				continue;
			}
			if (again) {
				pr_err("restored process %d did not stop again", p->pid);
				return -EIO;
			}
			pr_warn("process %d: signal %u did not stop it here: stopped by SIGSTOP",
				p->pid, p->pe->stop_signo);
			kill(p->pid, SIGSTOP);
			deadline = mono_ms() + STOP_WAIT_MS;
			again = true;
		}
	}
	return 0;
}
