/* What only the process itself can tell: sigactions, itimers, and per
 * thread sigaltstack and clear_child_tid. Asked from inside the stopped
 * target through injected syscalls (infect.c) that write their answers into
 * a scratch page, read back through /proc/PID/mem. */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "criu-lite/capture/capture.h"
#include "common/infect.h"
#include "images/log.h"

#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif

#define NSIG_KERNEL 64

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

/* Scratch layout: the answers (a sigaction per signal, three itimers, the
 * per-thread ones), then the table of batched calls. */
#define OFF_SIGACT(sig)	((uint64_t)((sig) - 1) * sizeof(struct ksigaction))
#define OFF_ITIMER(w)	(2048 + (uint64_t)(w) * sizeof(struct kitimerval))
#define OFF_TABLE	4096
#define MAX_CALLS	(NSIG_KERNEL + 3)
/* Then a slot per thread served at once: its answers, then its table. */
#define OFF_SLOTS	(OFF_TABLE + MAX_CALLS * sizeof(struct infect_call))
#define SLOT_LEN	256
#define SLOT_ALTSTACK	0
#define SLOT_TIDADDR	32
#define SLOT_PDEATH	40
#define SLOT_TABLE	64
#define SLOT_CALLS	3
#define NR_SLOTS	64
/* Then room for the answers of sigstate_run's callers. */
#define OFF_EXTRA	(OFF_SLOTS + NR_SLOTS * SLOT_LEN)
#define SCRATCH_LEN	(OFF_EXTRA + SIGSTATE_EXTRA_LEN)

struct slot_answers {
	struct kstack ss;
	uint64_t pad;
	uint64_t tidaddr;
	int32_t pdeath;
};
_Static_assert(offsetof(struct slot_answers, tidaddr) == SLOT_TIDADDR, "slot layout");
_Static_assert(offsetof(struct slot_answers, pdeath) == SLOT_PDEATH, "slot layout");
_Static_assert(SLOT_TABLE + SLOT_CALLS * sizeof(struct infect_call) <= SLOT_LEN, "slot too small");
_Static_assert(SIGSTATE_MAX_CALLS <= MAX_CALLS, "sigstate_run's table");

_Static_assert(OFF_SIGACT(NSIG_KERNEL + 1) <= 2048, "sigactions overlap itimers");

/* The scratch and code pages shared by all threads of the process being
 * dumped; each thread is borrowed only for the length of one batch. */
static struct {
	bool active;
	pid_t pid;
	uint64_t scratch, code, syscall_ip;
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
	if (!r)
		r = infect_map_code(&inf);
	if (!r) {
		ctx.scratch = inf.scratch;
		ctx.code = inf.code;
		ctx.syscall_ip = inf.syscall_ip;
		ctx.pid = pid;
		inf.scratch = inf.code = 0;	/* stay mapped until sigstate_end */
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
	inf.code = ctx.code;
	return infect_stop(&inf);
}

/* Run calls inside tid (a sigstate_begin is in effect), then copy len
 * bytes of answers out of the scratch at offset `off`. */
static int ask(pid_t tid, struct infect_call *calls, int n, uint64_t off, void *page, size_t len)
{
	struct infect inf;
	int r, r2;

	r = infect_start_at(&inf, tid, ctx.syscall_ip);
	if (r)
		return r;
	inf.code = ctx.code;
	r = infect_batch(&inf, ctx.scratch + OFF_TABLE, calls, n);
	if (!r && len)
		r = infect_read(&inf, ctx.scratch + off, page, len);
	inf.code = 0;	/* not this thread's to unmap */
	r2 = infect_stop(&inf);
	return r ? r : r2;
}

/* Without a sigstate_begin in effect, a fill call maps its own pages. */
static int own_begin(pid_t tid, bool *own)
{
	*own = !ctx.active;
	return *own ? sigstate_begin(tid) : 0;
}

static int own_end(bool own, int r)
{
	int r2 = own ? sigstate_end() : 0;

	return r ? r : r2;
}

static void call(struct infect_call *c, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	memset(c, 0, sizeof(*c));
	c->nr = nr;
	c->args[0] = a1;
	c->args[1] = a2;
	c->args[2] = a3;
	c->args[3] = a4;
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

int sigstate_fill_proc(pid_t pid, ProcEntry *pe)
{
	struct infect_call calls[MAX_CALLS];
	unsigned char *page = malloc(OFF_TABLE);
	int sigs[MAX_CALLS], n = 0, r;

	bool own;

	if (!page)
		return -ENOMEM;
	r = own_begin(pid, &own);
	if (r) {
		free(page);
		return r;
	}
	for (int sig = 1; sig <= NSIG_KERNEL; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sigs[n] = sig;
		call(&calls[n++], __NR_rt_sigaction, sig, 0, ctx.scratch + OFF_SIGACT(sig),
		     sizeof(uint64_t));
	}
	for (int w = ITIMER_REAL; w <= ITIMER_PROF; w++) {
		sigs[n] = -1;
		call(&calls[n++], __NR_getitimer, w, ctx.scratch + OFF_ITIMER(w), 0, 0);
	}
	r = own_end(own, ask(pid, calls, n, 0, page, OFF_TABLE));
	if (!r) {
		pe->sigactions = calloc(NSIG_KERNEL, sizeof(*pe->sigactions));
		pe->itimers = calloc(3, sizeof(*pe->itimers));
		if (!pe->sigactions || !pe->itimers)
			r = -ENOMEM;
	}
	for (int i = 0, w = ITIMER_REAL; !r && i < n; i++) {
		if (calls[i].ret)
			continue;	/* e.g. EINVAL: nothing to record */
		if (sigs[i] > 0)
			r = add_sigaction(pe, sigs[i], (void *)(page + OFF_SIGACT(sigs[i])));
		else
			r = add_itimer(pe, w, (void *)(page + OFF_ITIMER(w)));
		w += sigs[i] < 0;
	}
	free(page);
	return r;
}

static int thread_answers(pid_t tid, const struct infect_call *calls,
			  const struct slot_answers *a, ThreadEntry *te)
{
	if (!calls[0].ret) {
		te->sigaltstack = malloc(sizeof(*te->sigaltstack));
		if (!te->sigaltstack)
			return -ENOMEM;
		sigaltstack_entry__init(te->sigaltstack);
		te->sigaltstack->sp = a->ss.sp;
		te->sigaltstack->flags = (uint32_t)a->ss.flags;
		te->sigaltstack->size = a->ss.size;
	}
	if (!calls[2].ret) {
		te->has_pdeath_signal = 1;
		te->pdeath_signal = (uint32_t)a->pdeath;
	}
	/* PR_GET_TID_ADDRESS needs CONFIG_CHECKPOINT_RESTORE: optional. */
	if (!calls[1].ret) {
		te->has_clear_child_tid = 1;
		te->clear_child_tid = a->tidaddr;
	} else {
		pr_debug("thread %d: PR_GET_TID_ADDRESS failed (%lld)", tid, (long long)calls[1].ret);
	}
	return 0;
}

/* Up to NR_SLOTS threads at once: every thread is sent its batch before
 * any is waited for, so their stops overlap instead of adding up. */
static int fill_group(const pid_t *tids, ThreadEntry **tes, int n)
{
	struct infect inf[NR_SLOTS];
	struct infect_call calls[NR_SLOTS][SLOT_CALLS];
	struct slot_answers a;
	int started = 0, sent = 0, r = 0, r2;

	for (; started < n && !r; started++) {
		uint64_t slot = ctx.scratch + OFF_SLOTS + (uint64_t)started * SLOT_LEN;

		r = infect_start_at(&inf[started], tids[started], ctx.syscall_ip);
		if (r)
			break;
		inf[started].code = ctx.code;
		call(&calls[started][0], __NR_sigaltstack, 0, slot + SLOT_ALTSTACK, 0, 0);
		call(&calls[started][1], __NR_prctl, PR_GET_TID_ADDRESS, slot + SLOT_TIDADDR, 0, 0);
		call(&calls[started][2], __NR_prctl, PR_GET_PDEATHSIG, slot + SLOT_PDEATH, 0, 0);
		r = infect_batch_send(&inf[started], slot + SLOT_TABLE, calls[started], SLOT_CALLS);
		sent += !r;
	}
	for (int i = 0; i < sent; i++) {
		uint64_t slot = ctx.scratch + OFF_SLOTS + (uint64_t)i * SLOT_LEN;

		r2 = infect_batch_recv(&inf[i], slot + SLOT_TABLE, calls[i], SLOT_CALLS);
		if (!r2)
			r2 = infect_read(&inf[i], slot, &a, sizeof(a));
		if (!r2)
			r2 = thread_answers(tids[i], calls[i], &a, tes[i]);
		r = r ? r : r2;
	}
	for (int i = 0; i < started; i++) {
		inf[i].code = 0;	/* the process's, not this thread's to unmap */
		r2 = infect_stop_send(&inf[i]);
		r = r ? r : r2;
	}
	for (int i = 0; i < started; i++) {
		r2 = infect_stop_recv(&inf[i]);
		r = r ? r : r2;
	}
	return r;
}

int sigstate_fill_threads(pid_t pid, int n, const pid_t *tids, ThreadEntry **tes)
{
	bool own;
	int r = own_begin(pid, &own);

	for (int i = 0; !r && i < n; i += NR_SLOTS)
		r = fill_group(tids + i, tes + i, n - i < NR_SLOTS ? n - i : NR_SLOTS);
	return own_end(own, r);
}

uint64_t sigstate_extra(void)
{
	return ctx.active ? ctx.scratch + OFF_EXTRA : 0;
}

int sigstate_run(pid_t tid, struct infect_call *calls, int n, void *out, size_t len)
{
	if (!ctx.active || n > SIGSTATE_MAX_CALLS || len > SIGSTATE_EXTRA_LEN)
		return -EINVAL;
	return ask(tid, calls, n, OFF_EXTRA, out, len);
}

int sigstate_fill_thread(pid_t tid, ThreadEntry *te)
{
	return sigstate_fill_threads(tid, 1, &tid, &te);
}
