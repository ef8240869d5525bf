/* POSIX timers, created inside the restored process with their dumped ids
 * (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15+: timer_create then takes the
 * id to use from *created_timer_id), clock, notification (the thread of a
 * SIGEV_THREAD_ID timer by its restored tid) and sigev_value, then armed
 * with the time they had left and their interval, last of all.
 *
 * A timer whose signal was pending at the dump must not get a copy queued
 * (signals.c skips it): the kernel queues a timer's signal once and counts
 * further expiries as overruns, while a copy plus the timer's own next
 * expiry would deliver a realtime signal twice. So such a timer is made to
 * fire at once, by an absolute expiry one interval before the dumped next
 * one: its own signal is pending again, and when the process takes it the
 * kernel moves the next expiry to where it was. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "common/procfs.h"
#include "images/clock.h"
#include "images/log.h"
#include "restore/rst.h"

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#endif
#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif
#define SIGINFO_LEN 128
#define PENDING_WAIT_MS 1000
#define NSEC 1000000000ull

/* The kernel's struct sigevent (64 bytes). */
struct ksigevent {
	uint64_t value;
	int32_t signo, notify, tid;
	int32_t pad[11];
};

struct kitimerspec {
	int64_t int_sec, int_nsec, val_sec, val_nsec;
};

/* Where timer k's arguments go in the data area. */
struct slot {
	struct ksigevent sev;
	int32_t id, pad;
	struct kitimerspec its;
};

static const PtTimerEntry *timer_of(const struct rst_proc *p, int32_t id)
{
	for (size_t i = 0; i < p->pe->n_posix_timers; i++)
		if (p->pe->posix_timers[i]->id == id)
			return p->pe->posix_timers[i];
	return NULL;
}

static bool is_timer_signal(const PtTimerEntry *t, int signo)
{
	return t && (t->notify & ~SIGEV_THREAD_ID) != SIGEV_NONE && (int)t->signo == signo;
}

bool rst_ptimer_signal(const struct rst_proc *p, const ProtobufCBinaryData *si)
{
	int32_t signo, code, id;

	if (si->len != SIGINFO_LEN)
		return false;
	memcpy(&signo, si->data, 4);
	memcpy(&code, si->data + 8, 4);
	memcpy(&id, si->data + 16, 4);	/* si_tid: the timer's id */
	return code == SI_TIMER && is_timer_signal(timer_of(p, id), signo);
}

static bool signal_of(const struct rst_proc *p, const ProtobufCBinaryData *si,
		      const PtTimerEntry *t)
{
	int32_t id;

	if (!rst_ptimer_signal(p, si))
		return false;
	memcpy(&id, si->data + 16, 4);
	return id == t->id;
}

/* Was its signal pending at the dump (on the process or a thread)? */
static bool signal_pending(const struct rst_proc *p, const PtTimerEntry *t)
{
	for (size_t i = 0; i < p->pe->n_shared_pending; i++)
		if (signal_of(p, &p->pe->shared_pending[i], t))
			return true;
	for (size_t k = 0; k < p->nr_th; k++)
		for (size_t i = 0; i < p->th[k]->n_pending; i++)
			if (signal_of(p, &p->th[k]->pending[i], t))
				return true;
	return false;
}

/* The restored tid for a dumped one, 0 if that thread is not there. */
static pid_t real_tid(const struct rst_proc *p, uint32_t tid)
{
	for (size_t k = 0; k < p->nr_th; k++)
		if (p->th[k]->tid == tid)
			return p->tids[k];
	return 0;
}

/* ... as the process names it (a replay: in its own pid namespace). */
static pid_t seen_tid(const struct rst_proc *p, uint32_t tid)
{
	for (size_t k = 0; k < p->nr_th; k++)
		if (p->th[k]->tid == tid)
			return rst_seen_tid(p, k);
	return 0;
}

static int create_one(struct rst_proc *p, struct rst_inj *j, struct rst_batch *b, size_t k,
		      uint64_t at)
{
	const PtTimerEntry *t = p->pe->posix_timers[k];
	struct slot s;

	memset(&s, 0, sizeof(s));
	s.sev.value = t->sival;
	s.sev.signo = (int32_t)t->signo;
	s.sev.notify = (int32_t)t->notify;
	s.id = t->id;
	if (t->notify & SIGEV_THREAD_ID) {
		s.sev.tid = seen_tid(p, t->notify_tid);
		if (!s.sev.tid) {
			/* Its thread had exited: the kernel drops its signals. */
			pr_warn("process %d: timer %d signals thread %u, which is gone: it stays "
				"silent", p->pid, t->id, t->notify_tid);
			s.sev.notify = SIGEV_NONE;
		}
	}
	if (rst_poke(j, at, &s, sizeof(s)))
		return -EIO;
	return rst_batch_add(j, b, "timer_create", __NR_timer_create, (uint64_t)(int64_t)t->clock,
			     at + offsetof(struct slot, sev), at + offsetof(struct slot, id), 0, 0, 0);
}

static size_t per_round(const struct rst_inj *j)
{
	size_t n = j->data_len / sizeof(struct slot);

	return n < RST_BATCH_MAX ? n : RST_BATCH_MAX;
}

static int create_all(struct rst_proc *p, struct rst_inj *j, struct rst_batch *b)
{
	size_t n = p->pe->n_posix_timers, round = per_round(j);
	int r = rst_sys_ok(j, "PR_TIMER_CREATE_RESTORE_IDS", __NR_prctl, NULL,
			   PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0, 0);

	/* /proc/PID/timers lists the newest first: made oldest first again. */
	for (size_t k = 0; !r && k < n; k += round) {
		for (size_t i = k; !r && i < n && i < k + round; i++)
			r = create_one(p, j, b, n - 1 - i, j->data + (i - k) * sizeof(struct slot));
		if (!r)
			r = rst_batch_run(j, b);
	}
	b->n = 0;
	if (rst_sys(j, __NR_prctl, NULL, PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0, 0) && !r)
		r = -EIO;
	return r;
}

static struct kitimerspec spec(uint64_t value_ns, uint64_t interval_ns)
{
	return (struct kitimerspec){ (int64_t)(interval_ns / NSEC), (int64_t)(interval_ns % NSEC),
				     (int64_t)(value_ns / NSEC), (int64_t)(value_ns % NSEC) };
}

static bool now_pending(const struct rst_proc *p, const PtTimerEntry *t)
{
	char path[64], *text;
	uint64_t mask = 0;
	pid_t tid = t->notify & SIGEV_THREAD_ID ? real_tid(p, t->notify_tid) : p->pid;
	bool thread = t->notify & SIGEV_THREAD_ID;

	snprintf(path, sizeof(path), "task/%d/status", tid);
	if (procfs_read(p->pid, path, &text, NULL))
		return false;
	procfs_field_u64(text, thread ? "SigPnd" : "ShdPnd", 16, &mask);
	free(text);
	return mask >> (t->signo - 1) & 1;
}

/* Fire it now, its next expiry after this one where it was (see above). */
static int fire(struct rst_proc *p, struct rst_inj *j, const PtTimerEntry *t)
{
	struct kitimerspec its, now;
	uint64_t exp = 1, now_ns;
	long deadline;
	int r = rst_sys_ok(j, "clock_gettime", __NR_clock_gettime, NULL,
			   (uint64_t)(int64_t)t->clock, j->data, 0, 0, 0, 0);

	if (!r)
		r = infect_read(&j->inf, j->data, &now, 2 * sizeof(int64_t));
	if (r)
		return r;
	now_ns = (uint64_t)now.int_sec * NSEC + (uint64_t)now.int_nsec;
	if (t->interval_ns && now_ns + t->value_ns > t->interval_ns + 1)
		exp = now_ns + t->value_ns - t->interval_ns;
	its = spec(exp, t->interval_ns);
	r = rst_poke(j, j->data, &its, sizeof(its));
	if (!r)
		r = rst_sys_ok(j, "timer_settime", __NR_timer_settime, NULL, (uint64_t)t->id,
			       TIMER_ABSTIME, j->data, 0, 0, 0);
	for (deadline = mono_ms() + PENDING_WAIT_MS; !r && !now_pending(p, t);) {
		if (mono_ms() > deadline) {
			pr_err("process %d: timer %d did not fire again", p->pid, t->id);
			return -ETIMEDOUT;
		}
		usleep(100);
	}
	return r;
}

static int arm_all(struct rst_proc *p, struct rst_inj *j, struct rst_batch *b)
{
	size_t n = p->pe->n_posix_timers, round = j->data_len / sizeof(struct kitimerspec);
	int r = 0;

	if (round > RST_BATCH_MAX)
		round = RST_BATCH_MAX;
	for (size_t k = 0; !r && k < n; k += round) {
		for (size_t i = k; !r && i < n && i < k + round; i++) {
			const PtTimerEntry *t = p->pe->posix_timers[i];
			struct kitimerspec its = spec(t->value_ns, t->interval_ns);
			uint64_t at = j->data + (i - k) * sizeof(its);

			if (!t->value_ns || signal_pending(p, t))
				continue;	/* disarmed, or fired below */
			r = rst_poke(j, at, &its, sizeof(its));
			if (!r)
				r = rst_batch_add(j, b, "timer_settime", __NR_timer_settime,
						  (uint64_t)t->id, 0, at, 0, 0, 0);
		}
		if (!r)
			r = rst_batch_run(j, b);
	}
	b->n = 0;
	for (size_t i = 0; !r && i < n; i++)
		if (signal_pending(p, p->pe->posix_timers[i]))
			r = fire(p, j, p->pe->posix_timers[i]);
	return r;
}

int rst_ptimers(struct rst_proc *p, struct rst_inj *j)
{
	static struct rst_batch b;	/* restore is single-threaded */
	int r;

	if (!p->pe->n_posix_timers)
		return 0;
	b.n = 0;
	r = create_all(p, j, &b);
	return r ? r : arm_all(p, j, &b);
}
