/* Threads: created by an injected clone3 in the leader, with their dumped
 * tid where free (set_tid). The leader is traced with PTRACE_O_TRACECLONE,
 * so each new thread starts seized and stopped before it runs a single
 * instruction; its registers are then replaced wholesale, so what it was
 * cloned with (stack, TLS) does not matter. Per-thread kernel state
 * (sigaltstack, robust list, clear_child_tid, name) can only be set by the
 * thread itself: injected into it. */
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "common/fault.h"
#include "images/log.h"
#include "restore/rst.h"

#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | \
		      CLONE_SYSVSEM)

static int clone_thread(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j, uint32_t tid,
			pid_t *out)
{
	struct clone_args args = { .flags = THREAD_FLAGS };
	pid_t want = (pid_t)tid;
	uint64_t ret;
	int r;

	args.set_tid = j->data + sizeof(args);
	args.set_tid_size = 1;
	r = fault_step("restore: clone a thread");
	if (!r)
		r = rst_poke(j, j->data, &args, sizeof(args));
	if (!r)
		r = rst_poke(j, j->data + sizeof(args), &want, sizeof(want));
	if (!r)
		r = rst_sys(j, __NR_clone3, &ret, j->data, sizeof(args), 0, 0, 0, 0);
	if (r)
		return r;
	if ((int64_t)ret == -EEXIST && !t->opts.same_pids) {
		args.set_tid = 0;
		args.set_tid_size = 0;
		r = rst_poke(j, j->data, &args, sizeof(args));
		if (!r)
			r = rst_sys(j, __NR_clone3, &ret, j->data, sizeof(args), 0, 0, 0, 0);
		if (r)
			return r;
		if ((int64_t)ret > 0)
			pr_warn("tid %u is taken: thread of %d restored as %lld", tid, p->pid,
				(long long)ret);
	}
	if ((int64_t)ret <= 0) {
		pr_err("cannot create thread %u of %d: %s", tid, p->pid,
		       (int64_t)ret == -EEXIST ? "tid taken (--same-pids)" :
		       strerror((int)-(int64_t)ret));
		return ret ? (int)(int64_t)ret : -EIO;
	}
	*out = p->ns_pids ? rst_replay_host_tid(p->pid, (pid_t)ret) : (pid_t)ret;
	if (*out < 0)
		return pr_err("thread %u of %d is not found outside its namespace", tid, p->pid),
		       -ESRCH;
	return rst_wait_event_stop(*out);
}

int rst_threads_restore(struct rst_tree *t, struct rst_proc *p, struct rst_inj *j)
{
	for (size_t i = 1; i < p->nr_th; i++) {
		int r = clone_thread(t, p, j, p->th[i]->tid, &p->tids[i]);

		if (r)
			return r;
	}
	return 0;
}

static int set_sched(const ThreadEntry *te, pid_t tid)
{
	if (te->has_sched_policy && te->sched_policy != SCHED_OTHER) {
		struct sched_param sp = { .sched_priority = (int)te->sched_priority };

		if (sched_setscheduler(tid, (int)te->sched_policy, &sp))
			pr_warn("thread %d: cannot restore its scheduling policy %u: %s", tid,
				te->sched_policy, strerror(errno));
	}
	if (te->has_nice && setpriority(PRIO_PROCESS, (id_t)tid, te->nice))
		pr_warn("thread %d: cannot restore nice %d: %s", tid, te->nice, strerror(errno));
	return 0;
}

/* Per-thread state, injected into thread i (j drives that thread). */
int rst_thread_state(struct rst_proc *p, size_t i, struct rst_inj *j)
{
	const ThreadEntry *te = p->th[i];
	int r = 0;

	if (te->sigaltstack) {
		stack_t ss = {
			.ss_sp = (void *)(uintptr_t)te->sigaltstack->sp,
			/* SS_ONSTACK only reports; SS_DISABLE and SS_AUTODISARM set. */
			.ss_flags = (int)(te->sigaltstack->flags & ~SS_ONSTACK),
			.ss_size = te->sigaltstack->size,
		};

		if (ss.ss_flags & SS_DISABLE)
			ss.ss_size = 0, ss.ss_sp = NULL, ss.ss_flags = SS_DISABLE;
		r = rst_poke(j, j->data, &ss, sizeof(ss));
		if (!r)
			r = rst_sys_ok(j, "sigaltstack", __NR_sigaltstack, NULL, j->data, 0, 0, 0, 0, 0);
	}
	if (!r && te->has_robust_list && te->robust_list)
		r = rst_sys_ok(j, "set_robust_list", __NR_set_robust_list, NULL, te->robust_list,
			       te->has_robust_list_len ? te->robust_list_len : 24, 0, 0, 0, 0);
	/* Only the thread itself can register its rseq area. */
	if (!r && te->has_rseq_ptr && te->rseq_ptr)
		r = rst_sys_ok(j, "rseq", __NR_rseq, NULL, te->rseq_ptr, te->rseq_len, 0,
			       te->rseq_sig, 0, 0);
	if (!r && te->has_clear_child_tid)
		r = rst_sys(j, __NR_set_tid_address, NULL, te->clear_child_tid, 0, 0, 0, 0, 0);
	if (!r && i && te->comm) {
		char name[16] = "";

		strncpy(name, te->comm, sizeof(name) - 1);
		r = rst_poke(j, j->data, name, sizeof(name));
		if (!r)
			r = rst_sys_ok(j, "prctl(PR_SET_NAME)", __NR_prctl, NULL, PR_SET_NAME, j->data,
				       0, 0, 0, 0);
	}
	if (!r)
		r = set_sched(te, p->tids[i]);
	return r;
}
