/* POSIX timers (timer_create): /proc/PID/timers lists each one's id,
 * signal, sigev_value, notification (process or thread) and clock; how long
 * until it fires, its interval and the overrun of the last expiry delivered
 * only the process can say: asked through injected timer_gettime and
 * timer_getoverrun, 32 timers per stop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "common/infect.h"
#include "common/procfs.h"
#include "criu-lite/capture/capture.h"
#include "criu-lite/capture/procinfo.h"
#include "images/log.h"

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

#define PER_BATCH 32

struct kitimerspec {
	int64_t int_sec, int_nsec, val_sec, val_nsec;
};
_Static_assert(PER_BATCH * sizeof(struct kitimerspec) <= SIGSTATE_EXTRA_LEN, "answers");
_Static_assert(PER_BATCH * 2 <= SIGSTATE_MAX_CALLS, "calls");

/* "notify: signal/tid.123": how, and whether a thread is named. */
static int parse_notify(const char *v, PtTimerEntry *t)
{
	static const struct { const char *name; uint32_t how; } hows[] = {
		{ "signal/", SIGEV_SIGNAL }, { "none/", SIGEV_NONE }, { "thread/", SIGEV_THREAD },
	};
	const char *who = NULL;

	for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]) && !who; i++)
		if (!strncmp(v, hows[i].name, strlen(hows[i].name))) {
			t->notify = hows[i].how;
			who = v + strlen(hows[i].name);
		}
	if (!who)
		return -EINVAL;
	if (!strncmp(who, "tid.", 4)) {
		t->notify |= SIGEV_THREAD_ID;
		t->has_notify_tid = 1;
		t->notify_tid = (uint32_t)strtoul(who + 4, NULL, 10);
	} else if (strncmp(who, "pid.", 4)) {
		return -EINVAL;
	}
	return 0;
}

/* One "Key: value" line into the timer being read. */
static int parse_line(const char *line, PtTimerEntry *t)
{
	unsigned long long sival;
	int signo;

	if (!strncmp(line, "signal: ", 8)) {
		if (sscanf(line + 8, "%d/%llx", &signo, &sival) != 2)
			return -EINVAL;
		t->has_signo = t->has_sival = 1;
		t->signo = (uint32_t)signo;
		t->sival = sival;
		return 0;
	}
	if (!strncmp(line, "notify: ", 8))
		return parse_notify(line + 8, t);
	if (!strncmp(line, "ClockID: ", 9))
		t->clock = (int32_t)strtol(line + 9, NULL, 10);
	return 0;
}

static int add_timer(ProcEntry *pe, int id, PtTimerEntry **out)
{
	PtTimerEntry **n = realloc(pe->posix_timers, (pe->n_posix_timers + 1) * sizeof(*n));
	PtTimerEntry *t;

	if (!n)
		return -ENOMEM;
	pe->posix_timers = n;
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	pt_timer_entry__init(t);
	t->id = id;
	n[pe->n_posix_timers++] = t;
	*out = t;
	return 0;
}

static int parse_timers(pid_t pid, char *text, ProcEntry *pe)
{
	char *line, *save = NULL;
	PtTimerEntry *t = NULL;
	int r = 0;

	for (line = strtok_r(text, "\n", &save); line && !r; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "ID: ", 4))
			r = add_timer(pe, (int)strtol(line + 4, NULL, 10), &t);
		else if (t)
			r = parse_line(line, t);
	}
	if (r == -EINVAL)
		pr_err("/proc/%d/timers: cannot parse '%s'", pid, line ? line : "");
	return r;
}

static uint64_t ns(int64_t sec, int64_t nsec)
{
	return (uint64_t)sec * 1000000000ull + (uint64_t)nsec;
}

/* timer_gettime and timer_getoverrun of timers [from, from + n). */
static int ask_batch(pid_t pid, ProcEntry *pe, size_t from, size_t n)
{
	struct infect_call calls[PER_BATCH * 2];
	struct kitimerspec its[PER_BATCH];
	uint64_t area = sigstate_extra();
	int r;

	memset(calls, 0, sizeof(calls));
	for (size_t i = 0; i < n; i++) {
		calls[2 * i].nr = __NR_timer_gettime;
		calls[2 * i].args[0] = (uint64_t)pe->posix_timers[from + i]->id;
		calls[2 * i].args[1] = area + i * sizeof(its[0]);
		calls[2 * i + 1].nr = __NR_timer_getoverrun;
		calls[2 * i + 1].args[0] = (uint64_t)pe->posix_timers[from + i]->id;
	}
	r = sigstate_run(pid, calls, (int)(2 * n), its, n * sizeof(its[0]));
	for (size_t i = 0; !r && i < n; i++) {
		PtTimerEntry *t = pe->posix_timers[from + i];

		if ((int64_t)calls[2 * i].ret < 0 || (int64_t)calls[2 * i + 1].ret < 0) {
			pr_err("process %d: cannot read its timer %d: %s", pid, t->id,
			       strerror((int)-(int64_t)calls[2 * i].ret));
			return -EIO;
		}
		t->value_ns = ns(its[i].val_sec, its[i].val_nsec);
		t->interval_ns = ns(its[i].int_sec, its[i].int_nsec);
		t->has_overrun = 1;
		t->overrun = (int32_t)calls[2 * i + 1].ret;
	}
	return r;
}

int ptimers_fill(pid_t pid, ProcEntry *pe)
{
	char *text;
	int r = procfs_read(pid, "timers", &text, NULL);

	if (r == -ENOENT)
		return 0;	/* a kernel without CONFIG_CHECKPOINT_RESTORE */
	if (r < 0) {
		errno = -r;
		return pr_perror("cannot read /proc/%d/timers", pid);
	}
	r = parse_timers(pid, text, pe);
	free(text);
	for (size_t i = 0; !r && i < pe->n_posix_timers; i += PER_BATCH)
		r = ask_batch(pid, pe, i,
			      pe->n_posix_timers - i < PER_BATCH ? pe->n_posix_timers - i : PER_BATCH);
	return r;
}
