/* Holding a process still for the guardian: see guardian_hold.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "common/infect.h"
#include "criu-lite/survive/guardian_hold.h"
#include "images/log.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

#define TRIES		400	/* 5 ms apart: 2 s */

static void nap(void)
{
	struct timespec ts = { 0, 5 * 1000000L };

	nanosleep(&ts, NULL);
}

/* Seize tid (criu-lite may still be letting go of it) and bring it to an
 * event stop; a signal met on the way is passed on (it may be the
 * harmless closing signal of a batch that heals itself). */
static int seize_one(pid_t tid)
{
	int r = -EPERM, st;

	for (int i = 0; i < TRIES && r == -EPERM; i++) {
		r = infect_seize(tid) ? -errno : 0;
		if (r == -EPERM)
			nap();
	}
	if (!r)
		r = ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) ? -errno : 0;
	while (!r) {
		if (waitpid(tid, &st, __WALL) < 0)
			return -errno;
		if (!WIFSTOPPED(st))
			return -ESRCH;
		if (st >> 16 == PTRACE_EVENT_STOP)
			return 0;
		r = ptrace(PTRACE_CONT, tid, NULL, (void *)(long)((st >> 16) ? 0 : WSTOPSIG(st)))
			    ? -errno : 0;
	}
	return r;
}

static bool on_the_way(pid_t tid, const struct gh_busy *b)
{
	struct user_regs_struct regs;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs))
		return false;
	for (int i = 0; i < b->nr; i++)
		if (regs.rip >= b->ranges[i][0] && regs.rip < b->ranges[i][1])
			return true;
	/* at a `syscall; ret` gadget (rsp = frame) or in rt_sigreturn's
	 * gadget or our batch (rsp = frame + 8) */
	for (int i = 0; i < b->nf; i++)
		if (b->frames[i][0] == (uint64_t)tid &&
		    (regs.rsp == b->frames[i][1] || regs.rsp == b->frames[i][1] + 8))
			return true;
	return false;
}

static int seize_all(pid_t pid, struct gh_hold *h)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int r = 0;

	h->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -ESRCH;
	while (!r && (e = readdir(d)) && h->n < GH_MAX_THREADS) {
		pid_t tid = atoi(e->d_name);

		if (tid <= 0)
			continue;
		r = seize_one(tid);
		if (!r)
			h->tids[h->n++] = tid;
		else if (r == -ESRCH)
			r = 0;	/* exited meanwhile */
	}
	closedir(d);
	return r;
}

int gh_hold(pid_t pid, const struct gh_busy *busy_in, struct gh_hold *h)
{
	for (int t = 0; t < TRIES; t++) {
		int r = seize_all(pid, h);
		bool busy = false;
		const struct gh_busy *b = busy_in;

		for (int i = 0; !r && !busy && i < h->n; i++)
			busy = on_the_way(h->tids[i], b);
		if (!r && !busy && h->n)
			return 0;
		gh_release(h);
		if (r)
			return r;
		nap();	/* a thread still on its way home through our code */
	}
	pr_warn("guardian: a thread of %d stays inside criu-lite's code", pid);
	return -EBUSY;
}

void gh_release(struct gh_hold *h)
{
	for (int i = 0; i < h->n; i++)
		ptrace(PTRACE_DETACH, h->tids[i], NULL, NULL);
	h->n = 0;
}
