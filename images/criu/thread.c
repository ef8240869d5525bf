/* ThreadEntry from CRIU's core-TID.img: the registers as the kernel's
 * regsets (user_regs_struct from CRIU's named fields, which follow its
 * order; the FPU/XSAVE area reassembled by xsave.c), the signal state, the
 * robust list, rseq. The thread-group leader comes first. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "images/criu/criu.h"
#include "images/log.h"

#define SIGINFO_SIZE 128
#define ERESTARTNOINTR 513

/* CRIU dumps a thread stopped inside a restartable syscall as it wants it
 * restored: rip moved back onto the `syscall` instruction, rax = the
 * syscall number, so that it runs again. The kernel's view (and a core's,
 * and gcore's) is rip past the instruction and rax = -ERESTART*: put that
 * back, with -ERESTARTNOINTR, which restarts unconditionally as CRIU
 * would. Only where rip does point at a `syscall` (0f 05): a syscall that
 * returned its own number is left alone. */
static void unrestart(const struct cmem *m, uint64_t *ip, uint64_t *ax, uint64_t orig_ax)
{
	uint8_t insn[2];

	if ((int64_t)(int32_t)orig_ax < 0 || *ax != orig_ax ||
	    cmem_read(m, *ip, insn, sizeof(insn)) || insn[0] != 0x0f || insn[1] != 0x05)
		return;
	*ip += 2;
	*ax = (uint64_t)-ERESTARTNOINTR;
}

static int put_gpregs(const struct cmem *m, const Criu__UserX86RegsEntry *g, ThreadEntry *t)
{
	uint64_t v[27] = {
		g->r15, g->r14, g->r13, g->r12, g->bp, g->bx, g->r11, g->r10, g->r9, g->r8,
		g->ax, g->cx, g->dx, g->si, g->di, g->orig_ax, g->ip, g->cs, g->flags, g->sp,
		g->ss, g->fs_base, g->gs_base, g->ds, g->es, g->fs, g->gs,
	};

	unrestart(m, &v[16], &v[10], g->orig_ax);
	if ((int64_t)(int32_t)g->orig_ax >= 0) {
		t->has_syscall_nr = 1;
		t->syscall_nr = g->orig_ax;
	}

	t->gpregs.data = malloc(sizeof(v));
	if (!t->gpregs.data)
		return -ENOMEM;
	memcpy(t->gpregs.data, v, sizeof(v));
	t->gpregs.len = sizeof(v);
	return 0;
}

int csig_queue(const Criu__SignalQueueEntry *q, ProtobufCBinaryData **out, size_t *n,
	       uint64_t *mask)
{
	*out = NULL;
	*n = 0;
	*mask = 0;
	if (!q || !q->n_signals)
		return 0;
	*out = calloc(q->n_signals, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < q->n_signals; i++) {
		const ProtobufCBinaryData *si = &q->signals[i]->siginfo;
		int sig;

		if (si->len != SIGINFO_SIZE)
			return -EINVAL;
		(*out)[i].data = malloc(SIGINFO_SIZE);
		if (!(*out)[i].data)
			return -ENOMEM;
		memcpy((*out)[i].data, si->data, SIGINFO_SIZE);
		(*out)[i].len = SIGINFO_SIZE;
		(*n)++;
		memcpy(&sig, si->data, sizeof(sig));
		if (sig > 0 && sig <= 64)
			*mask |= 1ull << (sig - 1);
	}
	return 0;
}

static int put_signals(const Criu__ThreadCoreEntry *tc, const Criu__TaskCoreEntry *task,
		       ThreadEntry *t)
{
	uint64_t mask;
	int r;

	/* The leader's mask is in the process part, the others' in their own. */
	t->blocked = tc->has_blk_sigset ? tc->blk_sigset : task ? task->blk_sigset : 0;
	r = csig_queue(tc->signals_p, &t->pending, &t->n_pending, &mask);
	if (r < 0)
		return r;
	t->has_pending_mask = 1;
	t->pending_mask = mask;
	if (tc->sas) {
		t->sigaltstack = malloc(sizeof(*t->sigaltstack));
		if (!t->sigaltstack)
			return -ENOMEM;
		sigaltstack_entry__init(t->sigaltstack);
		t->sigaltstack->sp = tc->sas->ss_sp;
		t->sigaltstack->size = tc->sas->ss_size;
		t->sigaltstack->flags = tc->sas->ss_flags;
	}
	return 0;
}

static void put_sched(const Criu__ThreadCoreEntry *tc, ThreadEntry *t)
{
	t->has_sched_policy = tc->has_sched_policy;
	t->sched_policy = tc->sched_policy;
	t->has_sched_priority = tc->has_sched_prio;
	t->sched_priority = tc->sched_prio;
	t->has_nice = tc->has_sched_nice;
	t->nice = tc->sched_nice;
	t->has_robust_list = t->has_robust_list_len = 1;
	t->robust_list = tc->futex_rla;
	t->robust_list_len = tc->futex_rla_len;
	if (tc->rseq_entry) {
		t->has_rseq_ptr = t->has_rseq_len = t->has_rseq_sig = 1;
		t->rseq_ptr = tc->rseq_entry->rseq_abi_pointer;
		t->rseq_len = tc->rseq_entry->rseq_abi_size;
		t->rseq_sig = tc->rseq_entry->signature;
	}
}

static int make_thread(const struct cmem *m, uint32_t tid, const Criu__CoreEntry *core,
		       const Criu__TaskCoreEntry *task, ThreadEntry **out)
{
	const struct cdump *cd = m->cd;
	const Criu__ThreadInfoX86 *ti = core->thread_info;
	const Criu__ThreadCoreEntry *tc = core->thread_core;
	const char *comm = tc && tc->comm ? tc->comm : task ? task->comm : NULL;
	ThreadEntry *t = malloc(sizeof(*t));
	int r;

	*out = t;
	if (!t)
		return -ENOMEM;
	thread_entry__init(t);
	t->tid = tid;
	if (core->mtype != CRIU__CORE_ENTRY__MARCH__X86_64 || !ti || !tc) {
		pr_err("%s: core-%u.img: not the core of an x86_64 thread", cd->src->label, tid);
		return -EINVAL;
	}
	if (ti->gpregs->has_mode && ti->gpregs->mode == CRIU__USER_X86_REGS_MODE__COMPAT) {
		pr_err("%s: thread %u runs 32-bit code (compat mode): not supported", cd->src->label,
		       tid);
		return -EOPNOTSUPP;
	}
	if (comm && !(t->comm = strdup(comm)))
		return -ENOMEM;
	t->has_clear_child_tid = 1;
	t->clear_child_tid = ti->clear_tid_addr;
	put_sched(tc, t);
	r = put_gpregs(m, ti->gpregs, t);
	if (!r)
		r = cx_regsets(&cd->xl, ti->fpregs, t);
	if (r == -EINVAL)
		pr_err("%s: core-%u.img: FPU/XSAVE state is corrupt", cd->src->label, tid);
	if (!r)
		r = put_signals(tc, task, t);
	if (r == -EINVAL)
		pr_err("%s: core-%u.img: a queued signal is corrupt", cd->src->label, tid);
	return r;
}

int cthreads_make(const struct cmem *m, const Criu__PstreeEntry *ps,
		  const Criu__CoreEntry *leader, ThreadEntry ***out, size_t *n)
{
	const struct cdump *cd = m->cd;
	ThreadEntry **th = calloc(ps->n_threads ? ps->n_threads : 1, sizeof(*th));
	size_t k = 1;
	int r = 0;

	*out = th;
	*n = 0;
	if (!th)
		return -ENOMEM;
	/* th[0] is the leader, whatever place pstree.img gives it. */
	r = make_thread(m, ps->pid, leader, leader->tc, &th[0]);
	*n = 1;
	for (size_t i = 0; i < ps->n_threads && !r; i++) {
		Criu__CoreEntry *core;

		if (ps->threads[i] == ps->pid)
			continue;
		if (k == ps->n_threads) {
			pr_err("%s: pstree.img: process %u does not list itself among its threads",
			       cd->src->label, ps->pid);
			return -EINVAL;
		}
		r = cimg_read_one(cd->src, CIMG_CORE, ps->threads[i], true, (void **)&core);
		if (r < 0)
			break;
		r = make_thread(m, ps->threads[i], core, NULL, &th[k++]);
		*n = k;
		cimg_free(core);
	}
	return r;
}
