/* Fault injection (common/fault.h) against a live target: every marked
 * step of a dump, told to fail, ends the dump with an error and leaves the
 * target as it was: untraced, running, its blocked read() restarted
 * (dump_ticker prints ERR if a read ever returns anything but its byte). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/helpers.h"

static char dir[256];
static pid_t victim;

static void fini(void)
{
	test_cleanup(&victim, dir);
}

/* Steps a dump of pid goes through, from CRIU_LITE_FAULT=list;
 * die_only[k] for those fail@ cannot break (mid-injection). */
static int count_steps(pid_t pid, bool *die_only, int max)
{
	static char err[1 << 16];
	char pidstr[16];
	int n = 0;

	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	setenv("CRIU_LITE_FAULT", "list", 1);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pidstr, "-D", dir, NULL), 0,
		     "dump with fault listing failed: %s", err);
	for (char *s = err; n < max && (s = strstr(s, "fault step ")); s++) {
		char *eol = strchr(s, '\n');

		die_only[++n] = eol && eol - s > 10 && !strncmp(eol - 10, "(die only)", 10);
	}
	rm_rf(dir);
	make_tmpdir(dir, sizeof(dir), "fault");
	return n;
}

/* Two more TICKs and no ERR: the target computes on as before. */
static void expect_ticking(struct target *t, int step)
{
	char line[128];

	for (int i = 0; i < 2; i++) {
		cr_assert(target_read_line(t, line, sizeof(line), WAIT_MS),
			  "step %d: the target stopped ticking", step);
		cr_assert_eq(strncmp(line, "TICK", 4), 0, "step %d: the target said %s", step, line);
	}
}

Test(fault, every_failed_step_leaves_the_target_running, .fini = fini, .timeout = 300)
{
	struct target t;
	char pidstr[16], env[32], err[4096], why[256];
	static bool die_only[512];
	int n;

	target_start(&t, "dump_ticker", NULL);
	victim = t.pid;
	snprintf(pidstr, sizeof(pidstr), "%d", t.pid);
	make_tmpdir(dir, sizeof(dir), "fault");
	n = count_steps(t.pid, die_only, 511);
	cr_assert_geq(n, 4, "a dump marks at least its freeze, injection and capture steps (%d)", n);
	for (int k = 1; k <= n; k++) {
		if (die_only[k])
			continue;
		snprintf(env, sizeof(env), "fail@%d", k);
		setenv("CRIU_LITE_FAULT", env, 1);
		cr_assert_neq(run_criu_lite(err, sizeof(err), "dump", "-t", pidstr, "-D", dir, NULL), 0,
			      "a dump told to fail at step %d succeeded", k);
		cr_assert(strstr(err, "fault injected"), "step %d: %s", k, err);
		cr_assert(proc_threads_untraced(t.pid, false, why, sizeof(why)),
			  "step %d left the target %s", k, why);
		expect_ticking(&t, k);
		rm_rf(dir);
		make_tmpdir(dir, sizeof(dir), "fault");
	}
}

Test(fault, a_misspelt_switch_is_refused, .fini = fini)
{
	char err[512];

	setenv("CRIU_LITE_FAULT", "die-at-3", 1);
	make_tmpdir(dir, sizeof(dir), "fault");
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", "1", "-D", dir, NULL), 2);
	cr_assert(strstr(err, "expected die@N"), "%s", err);
}

/* killcg@N is for a criu-lite in a v2 cgroup of its own (test_survive.c
 * runs it so); in the root cgroup, which has no cgroup.kill, it must not
 * pass for a run that tested something: one line, status 2, nothing
 * killed. (Run in the root on purpose: anywhere else it would kill
 * whatever shares criu-lite's cgroup, this suite included.) */
Test(fault, killcg_outside_a_cgroup_of_its_own_is_refused, .fini = fini)
{
	char err[512], pidstr[16];
	struct target t;

	target_start(&t, "dump_ticker", NULL);
	victim = t.pid;
	snprintf(pidstr, sizeof(pidstr), "%d", t.pid);
	setenv("CRIU_LITE_FAULT", "killcg@1", 1);
	make_tmpdir(dir, sizeof(dir), "fault");
	struct run_in in = { "/sys/fs/cgroup/unified", NULL, 0 };

	cr_assert_eq(run_criu_lite_in(&in, err, sizeof(err), "dump", "-t", pidstr, "-D", dir, NULL),
		     2, "%s", err);
	cr_assert(strstr(err, "killcg@1: cannot kill its own v2 cgroup"), "%s", err);
	cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "more than one line: %s", err);
	cr_assert(proc_untraced_running(t.pid));
}
