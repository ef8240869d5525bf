/* A restore killed half-way leaves no half-built process (issue 15): for
 * every marked step of a restore (CRIU_LITE_FAULT=list), criu-lite is
 * SIGKILLed there (die@N), or the step fails (fail@N). After each run no
 * process of the would-be tree is left, running, stopped or traced; the
 * release guard is gone too; the dumped pids are free again; a failure said
 * why in one line.
 *
 * The test is the subreaper of all it starts: whatever criu-lite leaves
 * behind is reparented to it, so "nothing left" is "no child at all", and
 * zombies are reaped here (this machine's init may not reap them).
 *
 * The default run takes every named restore step and one injected syscall
 * in five; CRIU_LITE_FAULT_SWEEP=full (make faults-restore) takes them all,
 * and adds a threaded target. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/restore_util.h"

#define MAX_STEPS 4096

struct sweep {
	char dir[256], img[300], exe[300], never[300], pidfile[320];
	const char *comm;
	pid_t pids[2];			/* as dumped */
	int n;				/* steps */
	char (*where)[64];		/* per step, 1-based */
	const char *extra;		/* --stopped, or NULL */
};

TestSuite(restore_fault, .fini = rt_fini, .timeout = 600);

static bool full_sweep(void)
{
	const char *v = getenv("CRIU_LITE_FAULT_SWEEP");

	return v && !strcmp(v, "full");
}

/* Everything this test started is gone and reaped within 10 s: true, or
 * false with what is left in why. */
static bool all_gone(struct sweep *s, char *why, size_t len)
{
	long waited = 0;

	for (;;) {
		pid_t r;

		while ((r = waitpid(-1, NULL, WNOHANG | __WALL)) > 0)
			;
		if (r < 0 && errno == ECHILD && !rt_count_comm(s->comm))
			break;
		if (waited >= 10000) {
			snprintf(why, len, "%d process(es) of the tree left, %s", rt_count_comm(s->comm),
				 r == 0 ? "and children of ours (a guard, a keeper?)" : "no children");
			return false;
		}
		usleep(5000);
		waited += 5;
	}
	for (int i = 0; i < 2; i++)
		if (kill(s->pids[i], 0) == 0 || errno != ESRCH) {
			snprintf(why, len, "dumped pid %d is still taken", s->pids[i]);
			return false;
		}
	return true;
}

static int restore(struct sweep *s, const char *fault, char *err, size_t len)
{
	int r;

	setenv("CRIU_LITE_FAULT", fault, 1);
	r = run_criu_lite(err, len, "restore", "-D", s->img, "-d", "--pidfile", s->pidfile,
			  s->extra, NULL);
	unsetenv("CRIU_LITE_FAULT");
	return r;
}

/* Each step's name, from a listing restore (then killed). */
static void list_steps(struct sweep *s)
{
	static char err[1 << 18];
	char why[256];
	const char *p = err;

	cr_assert_eq(restore(s, "list", err, sizeof(err)), 0, "restore with listing: %s", err);
	rt_signal_comm(s->comm, SIGKILL);
	cr_assert(all_gone(s, why, sizeof(why)), "after the listing restore: %s", why);
	s->n = 0;
	while ((p = strstr(p, "fault step ")) && s->n + 1 < MAX_STEPS) {
		const char *w = strstr(p, ": "), *e = w ? strchr(w, '\n') : NULL;

		cr_assert(w && e, "bad listing: %s", p);
		s->n++;
		snprintf(s->where[s->n], sizeof(s->where[0]), "%.*s", (int)(e - w - 2), w + 2);
		p = e;
	}
}

/* target: restore_pipe (parent and child, a pipe with bytes in it) or
 * restore_threads (8 threads). */
static void sweep_setup(struct sweep *s, const char *target, const char *extra)
{
	struct target t;
	char why[256];

	memset(s, 0, sizeof(*s));
	s->extra = extra;
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	make_tmpdir(s->dir, sizeof(s->dir), "rfault");
	snprintf(rt_dir, sizeof(rt_dir), "%s", s->dir);
	rt_copy_target(target, s->dir, s->exe, sizeof(s->exe));
	s->comm = rt_base(s->exe);
	snprintf(s->never, sizeof(s->never), "%s/never", s->dir);
	snprintf(s->img, sizeof(s->img), "%s/img", s->dir);
	snprintf(s->pidfile, sizeof(s->pidfile), "%s/pid", s->dir);
	if (!strcmp(target, "restore_pipe")) {
		rt_start(&t, s->exe, s->never, "5000", NULL);
		s->pids[1] = (pid_t)target_ready_u64(&t, "child");
	} else {
		rt_start(&t, s->exe, "1000000", NULL);	/* works for minutes */
		s->pids[1] = (pid_t)target_ready_u64(&t, "tid7");
	}
	s->pids[0] = t.pid;
	rt_dump_kill(&t, s->img);
	rt_target = 0;
	cr_assert(all_gone(s, why, sizeof(why)), "after the dump: %s", why);
	s->where = calloc(MAX_STEPS, sizeof(*s->where));
	cr_assert_not_null(s->where);
	list_steps(s);
	cr_assert_geq(s->n, 20, "a restore of two processes marks its steps (%d)", s->n);
}

static bool in_sweep(const struct sweep *s, int k)
{
	return full_sweep() || strcmp(s->where[k], "infect: syscall") || k % 5 == 0;
}

static void sweep(struct sweep *s, bool die)
{
	static char err[1 << 16];
	char fault[32], why[256];
	int runs = 0;

	for (int k = 1; k <= s->n; k++) {
		int r;

		if (!in_sweep(s, k))
			continue;
		snprintf(fault, sizeof(fault), "%s@%d", die ? "die" : "fail", k);
		r = restore(s, fault, err, sizeof(err));
		runs++;
		cr_assert_neq(r, 0, "%s (%s): the restore succeeded", fault, s->where[k]);
		cr_assert(all_gone(s, why, sizeof(why)), "%s (%s): %s", fault, s->where[k], why);
		if (die)
			continue;
		cr_assert(strstr(err, "fault injected"), "%s (%s): %s", fault, s->where[k], err);
		cr_assert_eq(rt_error_lines(err), 1, "%s (%s): not one line: %s", fault, s->where[k],
			     err);
	}
	cr_log_info("restore %s%s: %d of %d steps, 0 left", die ? "die" : "fail",
		    s->extra ? " --stopped" : "", runs, s->n);
}

Test(restore_fault, a_restore_killed_at_any_step_leaves_nothing)
{
	struct sweep s;

	sweep_setup(&s, "restore_pipe", NULL);
	sweep(&s, true);
	free(s.where);
}

Test(restore_fault, a_restore_failing_at_any_step_says_so_and_leaves_nothing)
{
	struct sweep s;

	sweep_setup(&s, "restore_pipe", NULL);
	sweep(&s, false);
	free(s.where);
}

/* -d --stopped: a keeper copy of criu-lite restores and stays the root's
 * parent; killed, it takes the half-built tree with it. */
Test(restore_fault, a_keeper_killed_at_any_step_leaves_nothing)
{
	struct sweep s;

	sweep_setup(&s, "restore_pipe", "--stopped");
	sweep(&s, true);
	free(s.where);
}

/* Threads made by injection come traced with PTRACE_O_EXITKILL too. */
Test(restore_fault, a_threaded_restore_killed_at_any_step_leaves_nothing)
{
	struct sweep s;

	if (!full_sweep())
		cr_skip_test("the threaded sweep runs in make faults-restore");
	sweep_setup(&s, "restore_threads", NULL);
	sweep(&s, true);
	sweep(&s, false);
	free(s.where);
}
