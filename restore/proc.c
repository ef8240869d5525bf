/* One seized process, from criu-lite's paused copy to the dumped process
 * ready to run: address space, threads, per-thread state, creds, and the
 * final registers, all while every thread stays in a ptrace stop. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "common/fault.h"
#include "images/log.h"
#include "restore/rst.h"

static int set_pgid(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j)
{
	pid_t want = rst_real_pid(t, p->ps->pgid);

	/* A group led from outside the tree (the shell's) stays inherited. */
	if (!want || getpgid(p->pid) == want)
		return 0;
	return rst_sys_ok(j, "setpgid", __NR_setpgid, NULL, 0,
			  (uint64_t)rst_seen_pid(t, p->ps->pgid), 0, 0, 0, 0);
}

/* Hand the thread its dumped registers and leave it in an event stop. */
static int final_regs(struct rst_tree *t, struct rst_proc *p, size_t i, struct rst_inj *j)
{
	struct user_regs_struct regs;
	int r = rst_regs_prepare(p->th[i], &regs), r2;

	if (!r)
		j->inf.saved = regs;	/* what infect_stop puts back */
	r2 = infect_stop(&j->inf);
	if (!r)
		r = r2;
	if (!r)
		r = fault_step("restore: final registers");
	return r ? r : rst_regs_finish(t, p->th[i], p->tids[i]);
}

static int finish_thread(struct rst_tree *t, struct rst_proc *p, size_t i,
			 const struct rst_inj *lead)
{
	struct rst_inj tj = *lead;
	int r;

	r = infect_start_at(&tj.inf, p->tids[i], lead->scratch);
	if (!r)
		r = rst_thread_state(p, i, &tj);
	if (!r)
		r = rst_thread_signals(p, i, &tj);
	if (!r)
		r = rst_creds_restore(p, &tj);
	/* After the creds: a change of uid or gid clears it in the kernel. */
	if (!r)
		r = rst_thread_procstate(t, p, i, &tj);
	if (r) {
		infect_stop(&tj.inf);
		return r;
	}
	return final_regs(t, p, i, &tj);
}

int rst_restore_proc(struct rst_tree *t, struct rst_proc *p)
{
	struct rst_inj j;
	int r;

	memset(&j, 0, sizeof(j));
	r = fault_step("restore: rebuild a process");
	if (!r)
		r = infect_start(&j.inf, p->pid);
	if (r)
		return r;
	r = rst_mm_restore(t, p, &j);
	if (!r)
		r = rst_fds_posix_locks(p, &j);
	if (!r)
		r = set_pgid(t, p, &j);
	if (!r)
		r = rst_shared_signals(p, &j);
	if (!r)
		r = fault_step("restore: threads");
	if (!r)
		r = rst_threads_restore(t, p, &j);
	if (!r)	/* every process and this one's threads exist now */
		r = rst_fds_late(t, p, &j);
	for (size_t i = 1; !r && i < p->nr_th; i++)
		r = finish_thread(t, p, i, &j);
	if (!r)
		r = rst_thread_state(p, 0, &j);
	if (!r)
		r = rst_thread_signals(p, 0, &j);
	if (!r)
		r = rst_procstate(p, &j);
	if (!r)
		r = rst_itimers(p, &j);
	if (!r)
		r = rst_ptimers(p, &j);
	if (!r)
		r = rst_creds_restore(p, &j);
	/* The child set SIGKILL for the time it ran criu-lite's code (until
	 * here PTRACE_O_EXITKILL covers it too); the dumped one goes after
	 * the creds, whose change would clear it. */
	if (!r)
		r = rst_thread_procstate(t, p, 0, &j);
	/* A credential change resets it: set it after. 2 (suid_dumpable) is
	 * not settable by prctl and comes from the sysctl anyway. */
	if (!r && p->pe->has_dumpable && p->pe->dumpable <= 1)
		r = rst_sys_ok(&j, "PR_SET_DUMPABLE", __NR_prctl, NULL, PR_SET_DUMPABLE,
			       p->pe->dumpable, 0, 0, 0, 0);
	/* The scratch area goes last: every thread ran its syscalls from it.
	 * infect's batch page is in it: infect_stop must not unmap it again. */
	if (!r)
		r = rst_sys_ok(&j, "munmap scratch", __NR_munmap, NULL, j.scratch, j.scratch_len,
			       0, 0, 0, 0);
	if (j.scratch)
		j.inf.code = 0;
	if (r) {
		infect_stop(&j.inf);
		return r;
	}
	return final_regs(t, p, 0, &j);
}
