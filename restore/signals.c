/* Signal state: dispositions (set by the child itself, with raw
 * rt_sigaction so that the dumped sa_restorer is kept rather than
 * glibc's), pending signals with their full siginfo (queued by the process
 * to itself, which the kernel allows for any si_code), and interval timers.
 * Everything is queued while the thread blocks all signals; the dumped
 * mask, set last (regs.c), lets them through once the tree runs. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "images/log.h"
#include "restore/rst.h"

#define SIGINFO_LEN 128

struct ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

int rst_sigactions_child(const ProcEntry *pe, struct rst_status *st)
{
	for (size_t i = 0; i < pe->n_sigactions; i++) {
		const SigactionEntry *s = pe->sigactions[i];
		struct ksigaction ka = { s->handler, s->flags, s->restorer, s->mask };

		if (s->sig == SIGKILL || s->sig == SIGSTOP || s->sig < 1 || s->sig > 64)
			continue;
		if (syscall(SYS_rt_sigaction, (int)s->sig, &ka, NULL, sizeof(uint64_t)))
			return rst_child_fail(st, errno, "cannot restore the action of signal %u: %s",
					      s->sig, strerror(errno));
	}
	return 0;
}

static int siginfo_signo(const ProtobufCBinaryData *b)
{
	int sig;

	if (b->len != SIGINFO_LEN)
		return -1;
	memcpy(&sig, b->data, sizeof(sig));
	return sig;
}

/* Queue one dumped siginfo: tid 0 for the process-wide queue. */
static int queue_one(struct rst_proc *p, struct rst_inj *j, pid_t tid, const ProtobufCBinaryData *b)
{
	int sig = siginfo_signo(b), r;

	/* A timer's own signal is sent by the timer itself (ptimers.c). */
	if (rst_ptimer_signal(p, b))
		return 0;
	if (sig < 1 || sig > 64 || sig == SIGKILL || sig == SIGSTOP) {
		if (sig != SIGKILL && sig != SIGSTOP)
			pr_warn("%d: ignoring a malformed pending signal", p->pid);
		return 0;
	}
	r = rst_poke(j, j->data, b->data, SIGINFO_LEN);
	if (r)
		return r;
	if (tid)
		return rst_sys_ok(j, "rt_tgsigqueueinfo", __NR_rt_tgsigqueueinfo, NULL,
				  (uint64_t)rst_seen_tid(p, 0), (uint64_t)tid, (uint64_t)sig, j->data, 0, 0);
	return rst_sys_ok(j, "rt_sigqueueinfo", __NR_rt_sigqueueinfo, NULL, (uint64_t)rst_seen_tid(p, 0),
			  (uint64_t)sig, j->data, 0, 0, 0);
}

int rst_shared_signals(struct rst_proc *p, struct rst_inj *j)
{
	for (size_t i = 0; i < p->pe->n_shared_pending; i++) {
		int r = queue_one(p, j, 0, &p->pe->shared_pending[i]);

		if (r)
			return r;
	}
	return 0;
}

int rst_thread_signals(struct rst_proc *p, size_t i, struct rst_inj *j)
{
	const ThreadEntry *te = p->th[i];

	for (size_t k = 0; k < te->n_pending; k++) {
		int r = queue_one(p, j, rst_seen_tid(p, i), &te->pending[k]);

		if (r)
			return r;
	}
	return 0;
}

/* Armed last of all, so that the time they lose to the restore is small. */
int rst_itimers(struct rst_proc *p, struct rst_inj *j)
{
	for (size_t i = 0; i < p->pe->n_itimers; i++) {
		const ItimerEntry *it = p->pe->itimers[i];
		struct itimerval v = {
			.it_interval = { (time_t)(it->interval_us / 1000000),
					 (suseconds_t)(it->interval_us % 1000000) },
			.it_value = { (time_t)(it->value_us / 1000000),
				      (suseconds_t)(it->value_us % 1000000) },
		};
		int r;

		if (!it->value_us && !it->interval_us)
			continue;	/* disarmed */
		/* An interval timer that fired while the process was frozen
		 * reads 0 until its signal is dequeued (the kernel re-arms it
		 * then): that signal is in the restored pending queue; arm the
		 * next expiry one interval away. */
		if (!it->value_us)
			v.it_value = v.it_interval;
		r = rst_poke(j, j->data, &v, sizeof(v));
		if (!r)
			r = rst_sys_ok(j, "setitimer", __NR_setitimer, NULL, it->which, j->data, 0, 0,
				       0, 0);
		if (r)
			return r;
	}
	return 0;
}
