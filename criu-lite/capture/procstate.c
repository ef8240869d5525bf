/* The rest of a process's state that restore brings back: its POSIX timers
 * (ptimers.c), the job-control stop it was in, the children it has not
 * reaped, prctl settings only the process can read (child subreaper, THP
 * disable, KSM for the whole process), its membarrier registrations, and
 * from /proc its oom_score_adj and loginuid. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "common/infect.h"
#include "common/procfs.h"
#include "criu-lite/capture/capture.h"
#include "criu-lite/capture/procinfo.h"
#include "images/log.h"

#ifndef PR_GET_MEMORY_MERGE
#define PR_GET_MEMORY_MERGE 68
#endif
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)

/* proc(5) numbers of /proc/PID/stat fields. */
enum { ST_STATE = 3, ST_PPID = 4, ST_PGRP = 5, ST_SESSION = 6, ST_EXIT_SIGNAL = 38,
       ST_EXIT_CODE = 52 };

static void call4(struct infect_call *c, long nr, uint64_t a1, uint64_t a2)
{
	memset(c, 0, sizeof(*c));
	c->nr = (uint64_t)nr;
	c->args[0] = a1;
	c->args[1] = a2;
}

/* Each is optional: an older kernel answers EINVAL and nothing is recorded
 * (nothing to restore either). */
static int ask_prctls(pid_t pid, ProcEntry *pe)
{
	struct infect_call calls[4];
	int32_t subreaper = 0;
	int r;

	call4(&calls[0], __NR_prctl, PR_GET_CHILD_SUBREAPER, sigstate_extra());
	call4(&calls[1], __NR_prctl, PR_GET_THP_DISABLE, 0);
	call4(&calls[2], __NR_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0);
	call4(&calls[3], __NR_prctl, PR_GET_MEMORY_MERGE, 0);
	r = sigstate_run(pid, calls, 4, &subreaper, sizeof(subreaper));
	if (r)
		return r;
	if (!calls[0].ret)
		pe->has_child_subreaper = 1, pe->child_subreaper = (uint32_t)subreaper;
	if ((int64_t)calls[1].ret >= 0)
		pe->has_thp_disable = 1, pe->thp_disable = (uint32_t)calls[1].ret;
	if ((int64_t)calls[2].ret >= 0)
		pe->has_membarrier = 1, pe->membarrier = (uint32_t)calls[2].ret;
	if ((int64_t)calls[3].ret >= 0)
		pe->has_memory_merge = 1, pe->memory_merge = (uint32_t)calls[3].ret;
	return 0;
}

static int read_knob(pid_t pid, const char *name, long long *v)
{
	char path[64], buf[32], *end;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	r = procfs_read_small(path, buf, sizeof(buf));
	if (r)
		return r;
	*v = strtoll(buf, &end, 10);
	return end == buf ? -EINVAL : 0;
}

static int read_knobs(pid_t pid, ProcEntry *pe)
{
	long long v;
	int r = read_knob(pid, "oom_score_adj", &v);

	if (r) {
		errno = -r;
		return pr_perror("cannot read /proc/%d/oom_score_adj", pid);
	}
	pe->has_oom_score_adj = 1;
	pe->oom_score_adj = (int32_t)v;
	/* Absent without CONFIG_AUDIT: nothing to restore then. */
	if (!read_knob(pid, "loginuid", &v))
		pe->has_loginuid = 1, pe->loginuid = (uint32_t)v;
	return 0;
}

static int add_zombie(ProcEntry *pe, pid_t pid, const struct procfs_stat *st)
{
	ProcZombieEntry **n = realloc(pe->zombies, (pe->n_zombies + 1) * sizeof(*n));
	ProcZombieEntry *z;

	if (!n)
		return -ENOMEM;
	pe->zombies = n;
	z = malloc(sizeof(*z));
	if (!z)
		return -ENOMEM;
	proc_zombie_entry__init(z);
	n[pe->n_zombies++] = z;
	z->pid = (uint32_t)pid;
	z->exit_code = (uint32_t)procfs_stat_u64(st, ST_EXIT_CODE);
	z->has_pgid = z->has_sid = z->has_exit_signal = 1;
	z->pgid = (uint32_t)procfs_stat_u64(st, ST_PGRP);
	z->sid = (uint32_t)procfs_stat_u64(st, ST_SESSION);
	z->exit_signal = (uint32_t)procfs_stat_u64(st, ST_EXIT_SIGNAL);
	z->comm = strdup(st->field[1]);
	return z->comm ? 0 : -ENOMEM;
}

/* Is pid a zombie child of parent now? Its parent is frozen: it stays one. */
static int check_zombie(pid_t parent, pid_t pid, ProcEntry *pe)
{
	struct procfs_stat st;
	int r = procfs_stat_read(pid, &st);

	if (r < 0)
		return 0;	/* reaped before its parent was frozen */
	if (st.nr >= ST_EXIT_CODE && st.field[ST_STATE - 1][0] == 'Z' &&
	    (pid_t)procfs_stat_u64(&st, ST_PPID) == parent) {
		pr_info("process %d: its child %d is a zombie (status %#llx): dumped as one",
			parent, pid, (unsigned long long)procfs_stat_u64(&st, ST_EXIT_CODE));
		r = add_zombie(pe, pid, &st);
	}
	procfs_stat_free(&st);
	return r < 0 ? r : 0;
}

/* Zombies seen while seizing, and processes that exited meanwhile. */
static int fill_zombies(const struct dump_tree *tree, const struct dump_proc *p, ProcEntry *pe)
{
	int r = 0;

	for (int i = 0; !r && i < tree->nr_zombies; i++)
		r = check_zombie(p->pid, tree->zombies[i], pe);
	for (int i = 0; !r && i < tree->nr_gone; i++)
		r = check_zombie(p->pid, tree->gone[i], pe);
	return r;
}

int procstate_fill(const struct dump_tree *tree, const struct dump_proc *p, ProcEntry *pe)
{
	int r = read_knobs(p->pid, pe);

	/* Seizing a group-stopped process reports the signal that stopped it. */
	if (p->state == 'T') {
		pe->has_stop_signo = 1;
		pe->stop_signo = (uint32_t)(p->stop_signo ? p->stop_signo : SIGSTOP);
	}
	if (!r)
		r = ask_prctls(p->pid, pe);
	if (!r)
		r = ptimers_fill(p->pid, pe);
	if (!r)
		r = fill_zombies(tree, p, pe);
	return r;
}
