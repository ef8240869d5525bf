/* A killed coredump-server never leaves core_pattern pointing at its dead
 * socket (issue 15): with nobody listening the kernel drops every later
 * crash's core. Killed by SIGKILL after --install, or at any of its marked
 * steps (CRIU_LITE_FAULT=die@N), the pattern it found is back and a crash
 * after that is dumped the old way. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/crash_util.h"

/* The previous pattern: plain core files in a fresh directory. */
struct old_way {
	char dir[200], sock[240], store[240], log[240], pattern[256], server[256];
	struct guard g;
};

static void old_way_begin(struct old_way *o)
{
	snprintf(o->dir, sizeof(o->dir), "/tmp/clg-XXXXXX");
	cr_assert_not_null(mkdtemp(o->dir));
	snprintf(o->sock, sizeof(o->sock), "%s/sock", o->dir);
	snprintf(o->store, sizeof(o->store), "%s/store", o->dir);
	snprintf(o->log, sizeof(o->log), "%s/server.log", o->dir);
	o->g.lock = -1;
	guard_begin(&o->g);
	guard_set(&o->g, "%s/core.%%p", o->dir);
	snprintf(o->pattern, sizeof(o->pattern), "%s", o->g.ours);
	snprintf(o->server, sizeof(o->server), "@@%s", o->sock);
	/* What the server will write: our watchdog covers it too. */
	watchdog(o->g.old, o->server);
}

static void old_way_end(struct old_way *o)
{
	guard_end(&o->g);
	rm_rf(o->dir);
}

/* The pattern comes back to want within ms (the watcher wakes on the
 * server's pidfd, not on a timer). */
static bool pattern_becomes(const char *want, int ms)
{
	long end = now_ms() + ms;
	char now[256];

	do {
		pattern_read(now, sizeof(now));
		if (!strcmp(now, want))
			return true;
		usleep(10 * 1000);
	} while (now_ms() < end);
	return false;
}

/* A crash now is dumped the old way: a core file. */
static void expect_old_way(struct old_way *o)
{
	struct rlimit unl = { RLIM_INFINITY, RLIM_INFINITY }, was;
	char core[300];
	struct stat st;
	struct target t;
	int status;

	getrlimit(RLIMIT_CORE, &was);
	setrlimit(RLIMIT_CORE, &unl);
	crasher_start(&t, "0");
	setrlimit(RLIMIT_CORE, &was);
	snprintf(core, sizeof(core), "%s/core.%d", o->dir, t.pid);
	kill(t.pid, SIGUSR1);
	status = wait_end(t.pid, 30000);
	t.pid = 0;
	cr_assert_neq(status, -1, "the crasher never ended");
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV && WCOREDUMP(status),
		  "status %#x: no core dumped", status);
	cr_expect_eq(stat(core, &st), 0, "no %s", core);
	cr_expect_gt(st.st_size, 0);
}

static pid_t server_run(struct old_way *o, const char *fault)
{
	const char *argv[] = { criu_lite_path(), "coredump-server", "-S", o->store, "--socket",
			       o->sock, "--install", "--only-pid", "1", NULL };
	pid_t pid;

	unlink(o->log);	/* a line of the last run must not pass for this one's */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		FILE *f = freopen(o->log, "w", stderr);

		if (!f || dup2(2, 1) < 0)
			_exit(127);
		if (fault)
			setenv("CRIU_LITE_FAULT", fault, 1);
		else
			unsetenv("CRIU_LITE_FAULT");
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

Test(crash_guard, a_killed_server_puts_the_pattern_back, .timeout = 90)
{
	struct old_way o;
	char now[256];
	int st;
	pid_t srv;

	old_way_begin(&o);
	srv = server_run(&o, NULL);
	cr_assert(file_has(o.log, "serving crashes", 10000), "the server did not start");
	pattern_read(now, sizeof(now));
	cr_expect_str_eq(now, o.server, "--install did not set the pattern");
	kill(srv, SIGKILL);
	st = wait_end(srv, 10000);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
	cr_expect(pattern_becomes(o.pattern, 5000), "core_pattern still points at the dead server");
	expect_old_way(&o);
	old_way_end(&o);
}

/* Steps a server goes through, start to SIGTERM (CRIU_LITE_FAULT=list). */
static int count_steps(struct old_way *o)
{
	pid_t srv = server_run(o, "list");
	char cmd[300], out[64];

	cr_assert(file_has(o->log, "serving crashes", 10000), "the server did not start");
	kill(srv, SIGTERM);
	cr_assert_eq(wait_end(srv, 15000), 0, "the listing server did not stop cleanly");
	cr_assert(pattern_becomes(o->pattern, 5000));
	snprintf(cmd, sizeof(cmd), "grep -c '^fault step' '%s'", o->log);
	cr_assert_eq(run_cmd(out, sizeof(out), "%s", cmd), 0);
	return atoi(out);
}

/* Steps up to serving end the server by themselves; the last ones need a
 * stop. Its wait status, or -1. */
static int end_or_stop(pid_t srv, const char *log)
{
	long end = now_ms() + 20000;
	int st;

	while (now_ms() < end) {
		if (waitpid(srv, &st, WNOHANG) == srv)
			return st;
		if (file_has(log, "serving crashes", 0)) {
			kill(srv, SIGTERM);
			return wait_end(srv, 15000);
		}
		usleep(10 * 1000);
	}
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	return -1;
}

Test(crash_guard, a_server_dying_at_any_step_leaves_the_old_pattern, .timeout = 180)
{
	struct old_way o;
	char fault[32];
	int n, st;

	old_way_begin(&o);
	n = count_steps(&o);
	cr_assert_geq(n, 4, "the server marks its watcher, pattern write, serving and stop (%d)",
		      n);
	for (int k = 1; k <= n; k++) {
		pid_t srv;

		snprintf(fault, sizeof(fault), "die@%d", k);
		srv = server_run(&o, fault);
		st = end_or_stop(srv, o.log);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "step %d: status %#x", k, st);
		cr_expect(pattern_becomes(o.pattern, 5000), "step %d left core_pattern pointing at "
			  "a dead server", k);
		unlink(o.sock);
	}
	expect_old_way(&o);
	old_way_end(&o);
}
