/* What only the process itself can tell: sigactions, itimers, and per
 * thread sigaltstack and clear_child_tid. Asked from inside the stopped
 * target through injected syscalls (infect.c) that write their answers into
 * a scratch page, read back through /proc/PID/mem. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "criu-lite/dump.h"
#include "criu-lite/infect.h"
#include "images/log.h"

#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif

#define NSIG_KERNEL 64
#define SCRATCH_LEN 4096

/* x86_64 struct sigaction as the rt_sigaction syscall sees it. */
struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

struct kitimerval {
	int64_t int_sec, int_usec, val_sec, val_usec;
};

struct kstack {
	uint64_t sp;
	int32_t flags, pad;
	uint64_t size;
};

/* Scratch layout: a sigaction slot per signal, then the three itimers,
 * then the per-thread answers. */
#define OFF_SIGACT(sig)	((uint64_t)((sig) - 1) * sizeof(struct ksigaction))
#define OFF_ITIMER(w)	(2048 + (uint64_t)(w) * sizeof(struct kitimerval))
#define OFF_ALTSTACK	3072
#define OFF_TIDADDR	3136

_Static_assert(OFF_SIGACT(NSIG_KERNEL + 1) <= 2048, "sigactions overlap itimers");

/* The scratch page shared by all threads of the process being dumped. */
static struct {
	bool active;
	pid_t pid;
	uint64_t scratch, syscall_ip;
} ctx;

int sigstate_begin(pid_t pid)
{
	struct infect inf;
	int r;

	if (ctx.active)
		sigstate_end();
	r = infect_start(&inf, pid);
	if (!r)
		r = infect_map_scratch(&inf, SCRATCH_LEN);
	if (!r) {
		ctx.scratch = inf.scratch;
		ctx.syscall_ip = inf.syscall_ip;
		ctx.pid = pid;
		inf.scratch = 0;	/* stays mapped until sigstate_end */
	}
	if (infect_stop(&inf) && !r)
		r = -EIO;
	if (!r)
		ctx.active = true;
	return r;
}

int sigstate_end(void)
{
	struct infect inf;
	int r;

	if (!ctx.active)
		return 0;
	ctx.active = false;
	r = infect_start_at(&inf, ctx.pid, ctx.syscall_ip);
	if (r)
		return r;
	inf.scratch = ctx.scratch;
	inf.scratch_len = SCRATCH_LEN;
	return infect_stop(&inf);
}

/* Borrow tid; *scratch is where its answers go. */
static int enter(struct infect *inf, pid_t tid, uint64_t *scratch)
{
	int r;

	if (ctx.active) {
		r = infect_start_at(inf, tid, ctx.syscall_ip);
		*scratch = ctx.scratch;
		return r;
	}
	r = infect_start(inf, tid);
	if (!r)
		r = infect_map_scratch(inf, SCRATCH_LEN);
	if (r)
		infect_stop(inf);
	*scratch = inf->scratch;
	return r;
}

static int leave(struct infect *inf, int r)
{
	int r2 = infect_stop(inf);

	return r ? r : r2;
}

static int add_sigaction(ProcEntry *pe, int sig, const struct ksigaction *ka)
{
	SigactionEntry *e = malloc(sizeof(*e));

	if (!e)
		return -ENOMEM;
	sigaction_entry__init(e);
	e->sig = sig;
	e->handler = ka->handler;
	e->flags = ka->flags;
	e->restorer = ka->restorer;
	e->mask = ka->mask;
	pe->sigactions[pe->n_sigactions++] = e;
	return 0;
}

static int add_itimer(ProcEntry *pe, int which, const struct kitimerval *it)
{
	ItimerEntry *e = malloc(sizeof(*e));

	if (!e)
		return -ENOMEM;
	itimer_entry__init(e);
	e->which = which;
	e->interval_us = it->int_sec * 1000000 + it->int_usec;
	e->value_us = it->val_sec * 1000000 + it->val_usec;
	pe->itimers[pe->n_itimers++] = e;
	return 0;
}

/* Ask everything first, then read the page once. */
static int ask_proc(struct infect *inf, uint64_t scratch, uint64_t *ok_sigs, uint64_t *ok_timers)
{
	uint64_t ret;
	int r;

	*ok_sigs = *ok_timers = 0;
	for (int sig = 1; sig <= NSIG_KERNEL; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		r = infect_syscall(inf, __NR_rt_sigaction, &ret, sig, 0, scratch + OFF_SIGACT(sig),
				   sizeof(uint64_t), 0, 0);
		if (r)
			return r;
		if (!ret)
			*ok_sigs |= 1ULL << (sig - 1);
	}
	for (int w = ITIMER_REAL; w <= ITIMER_PROF; w++) {
		r = infect_syscall(inf, __NR_getitimer, &ret, w, scratch + OFF_ITIMER(w), 0, 0, 0, 0);
		if (r)
			return r;
		if (!ret)
			*ok_timers |= 1u << w;
	}
	return 0;
}

int sigstate_fill_proc(pid_t pid, ProcEntry *pe)
{
	unsigned char *page = malloc(SCRATCH_LEN);
	uint64_t scratch, ok_sigs, ok_timers;
	struct infect inf;
	int r;

	if (!page)
		return -ENOMEM;
	r = enter(&inf, pid, &scratch);
	if (r) {
		free(page);
		return r;
	}
	r = ask_proc(&inf, scratch, &ok_sigs, &ok_timers);
	if (!r)
		r = infect_read(&inf, scratch, page, SCRATCH_LEN);
	r = leave(&inf, r);
	if (!r) {
		pe->sigactions = calloc(NSIG_KERNEL, sizeof(*pe->sigactions));
		pe->itimers = calloc(3, sizeof(*pe->itimers));
		if (!pe->sigactions || !pe->itimers)
			r = -ENOMEM;
	}
	for (int sig = 1; !r && sig <= NSIG_KERNEL; sig++)
		if ((ok_sigs >> (sig - 1)) & 1)
			r = add_sigaction(pe, sig, (void *)(page + OFF_SIGACT(sig)));
	for (int w = ITIMER_REAL; !r && w <= ITIMER_PROF; w++)
		if ((ok_timers >> w) & 1)
			r = add_itimer(pe, w, (void *)(page + OFF_ITIMER(w)));
	free(page);
	return r;
}

int sigstate_fill_thread(pid_t tid, ThreadEntry *te)
{
	uint64_t scratch, ret_ss = 1, ret_tid = 1, tidaddr = 0;
	struct kstack ss;
	struct infect inf;
	int r;

	r = enter(&inf, tid, &scratch);
	if (r)
		return r;
	r = infect_syscall(&inf, __NR_sigaltstack, &ret_ss, 0, scratch + OFF_ALTSTACK, 0, 0, 0, 0);
	if (!r)
		r = infect_syscall(&inf, __NR_prctl, &ret_tid, PR_GET_TID_ADDRESS,
				   scratch + OFF_TIDADDR, 0, 0, 0, 0);
	if (!r && !ret_ss)
		r = infect_read(&inf, scratch + OFF_ALTSTACK, &ss, sizeof(ss));
	if (!r && !ret_tid)
		r = infect_read(&inf, scratch + OFF_TIDADDR, &tidaddr, sizeof(tidaddr));
	r = leave(&inf, r);
	if (r)
		return r;
	if (!ret_ss) {
		te->sigaltstack = malloc(sizeof(*te->sigaltstack));
		if (!te->sigaltstack)
			return -ENOMEM;
		sigaltstack_entry__init(te->sigaltstack);
		te->sigaltstack->sp = ss.sp;
		te->sigaltstack->flags = (uint32_t)ss.flags;
		te->sigaltstack->size = ss.size;
	}
	/* PR_GET_TID_ADDRESS needs CONFIG_CHECKPOINT_RESTORE: optional. */
	if (!ret_tid) {
		te->has_clear_child_tid = 1;
		te->clear_child_tid = tidaddr;
	} else {
		pr_debug("thread %d: PR_GET_TID_ADDRESS failed (%lld)", tid, (long long)ret_tid);
	}
	return 0;
}
