/* Issue 15's sweep: for each mode of dump, criu-lite is told to die
 * (SIGKILL, as an OOM kill) and, apart, to fail at each of its steps in
 * turn (CRIU_LITE_FAULT, common/fault.h), and, apart again, to kill the
 * whole v2 cgroup it runs in (killcg@N: systemd stopping a unit; the
 * guardian must have left that cgroup), against survive_check, a target
 * (a parent and its child) that each check their own registers, memory and
 * counter. After each run both must be as a user would want them: running,
 * untraced, not stopped,
 * the same maps, fds, children and blocked masks as before, still counting
 * right, its cgroup not frozen; after a killcg run, nothing of criu-lite
 * left either: its cgroup empty, no guardian, no cgroup made for one.
 *
 * `make test` runs an evenly spread subset of the steps (SUBSET per mode
 * and kind, SUBSET_KILLCG for killcg); CRIU_LITE_FAULT_SWEEP=full (`make
 * faults`) runs every step. Each mode prints "sweep MODE: N steps; die R
 * runs H harmed, fail R runs H harmed, killcg R runs H harmed". */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "test/helpers.h"

#define SUBSET 16
#define SUBSET_KILLCG 8
#define CG_ROOT "/sys/fs/cgroup/unified"
#define MAX_STEPS 512
#define SNAP_LEN (1 << 16)

struct mode {
	const char *name, *verb, *a0, *a1;
	bool cgroup;
};

static const struct mode modes[] = {
	{ "default", "dump", NULL, NULL, false },
	{ "cgroup", "dump", "--freezer", "cgroup", true },
	{ "sigstop", "dump", "--freezer", "sigstop", false },
	{ "fork", "dump", "--snapshot", "fork", false },
	{ "wp", "dump", "--snapshot", "wp", false },
	{ "track", "pre-dump", "--track-mem", NULL, false },
};

static const char *const kinds[] = { "die", "fail", "killcg" };

static char dir[256], cg[256], dumper_cg[256];
static pid_t victim;

/* Bounded: a killed process leaves its cgroup as it is reaped. */
static bool rmdir_cg(char *path)
{
	for (int i = 0; path[0] && i < WAIT_MS / 10 && rmdir(path); i++)
		usleep(10000);
	if (path[0] && access(path, F_OK))
		path[0] = 0;
	return !path[0];
}

static void fini(void)
{
	test_cleanup(&victim, dir);
	rmdir_cg(cg);
	rmdir_cg(dumper_cg);
}

/* What a process's state is made of, as text to compare. */
static size_t snapshot_one(pid_t pid, char *out, size_t len)
{
	char path[400], buf[SNAP_LEN / 4], link[256];
	size_t used = 0;
	struct dirent *e;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	cr_assert(f, "target %d gone", pid);
	used = fread(out, 1, len / 2, f);
	fclose(f);
	out[used] = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, e->d_name);
		k = readlink(path, link, sizeof(link) - 1);
		link[k > 0 ? k : 0] = 0;
		used += snprintf(out + used, len - used, "fd %s %s\n", e->d_name, k > 0 ? link : "");
	}
	if (d)
		closedir(d);
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		pid_t tid = atoi(e->d_name);
		int fd;
		ssize_t k;

		if (tid <= 0)
			continue;
		cr_assert(proc_status_field(tid, "SigBlk", buf, sizeof(buf)));
		used += snprintf(out + used, len - used, "thread %d blocked %s\n", tid, buf);
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tid);
		fd = open(path, O_RDONLY);
		k = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		buf[k > 0 ? k : 0] = 0;
		used += snprintf(out + used, len - used, "thread %d children %s\n", tid, buf);
	}
	if (d)
		closedir(d);
	return used;
}

/* The tree's: the parent's, then its child's. */
static void snapshot(const struct target *t, char *out, size_t len)
{
	size_t used = snapshot_one(t->pid, out, len / 2);

	snapshot_one((pid_t)target_ready_u64(t, "kid"), out + used, len - used);
}

/* The tree, both processes, in a v2 cgroup of its own. */
static void own_cgroup(const struct target *t)
{
	char path[300];

	snprintf(cg, sizeof(cg), CG_ROOT "/criu-lite-survive-%d-%d", getpid(), t->pid);
	cr_assert_eq(mkdir(cg, 0755), 0, "mkdir %s: %m", cg);
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(path, "we");

		cr_assert(f);
		fprintf(f, "%d\n", i ? (int)target_ready_u64(t, "kid") : t->pid);
		cr_assert_eq(fclose(f), 0);
	}
}

/* The steps a run of `m` goes through, from CRIU_LITE_FAULT=list, on a
 * target of its own (a pre-dump leaves its tracker in it); die_only[k]
 * for those that fail@ cannot break. */
static int count_steps(const struct mode *m, const char *target, bool *die_only)
{
	static char err[1 << 17];
	struct target t;
	char pidstr[16];
	int n = 0;

	target_start(&t, target, NULL);
	victim = t.pid;
	snprintf(pidstr, sizeof(pidstr), "%d", t.pid);
	if (m->cgroup)
		own_cgroup(&t);
	setenv("CRIU_LITE_FAULT", "list", 1);
	make_tmpdir(dir, sizeof(dir), "survive");
	cr_assert_eq(run_criu_lite(err, sizeof(err), m->verb, "-t", pidstr, "-D", dir, m->a0,
				   m->a1, NULL),
		     0, "%s with fault listing failed: %s", m->name, err);
	for (char *s = err; n < MAX_STEPS && (s = strstr(s, "fault step ")); s++) {
		char *eol = strchr(s, '\n');

		die_only[++n] = eol && eol - s > 10 && !strncmp(eol - 10, "(die only)", 10);
	}
	fini();
	return n;
}

static void drain(struct target *t)
{
	char line[256];

	while (target_read_line(t, line, sizeof(line), 0))
		;
}

/* Empty if unharmed, else what is wrong. */
static void harm(struct target *t, const char *before, char *why, size_t len)
{
	static char now[SNAP_LEN];
	char line[320], buf[512];
	int ticks = 0, kid_ticks = 0;

	why[0] = 0;
	if (!proc_threads_untraced(t->pid, false, why, len) ||
	    !proc_threads_untraced((pid_t)target_ready_u64(t, "kid"), false, why, len))
		return;
	snapshot(t, now, sizeof(now));
	if (strcmp(before, now)) {
		snprintf(why, len, "state changed:\n--- before\n%.*s--- after\n%.*s",
			 (int)(len / 2 - 64), before, (int)(len / 2 - 64), now);
		return;
	}
	while (ticks < 2 || kid_ticks < 2) {
		if (!target_read_line(t, line, sizeof(line), WAIT_MS)) {
			snprintf(why, len, "stopped counting");
			return;
		}
		if (!strncmp(line, "ERR", 3)) {
			snprintf(why, len, "target says %s", line);
			return;
		}
		ticks += !strncmp(line, "TICK", 4);
		kid_ticks += !strncmp(line, "KID", 3);
	}
	if (cg[0]) {
		snprintf(line, sizeof(line), "%s/cgroup.events", cg);
		FILE *f = fopen(line, "re");

		buf[f ? fread(buf, 1, sizeof(buf) - 1, f) : 0] = 0;
		if (f)
			fclose(f);
		if (!strstr(buf, "frozen 0"))
			snprintf(why, len, "cgroup left frozen: %s", buf);
	}
}

/* A live process whose environment says it was started by the run in
 * dumper_cg (a guardian forked by that criu-lite carries it too). */
static pid_t env_holder(const char *tag)
{
	static char env[1 << 16];
	char path[64];
	struct dirent *e;
	pid_t found = 0;
	DIR *d = opendir("/proc");

	while (d && !found && (e = readdir(d))) {
		pid_t pid = atoi(e->d_name);
		ssize_t k;
		int fd;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/environ", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		k = fd < 0 ? 0 : read(fd, env, sizeof(env) - 1);
		if (fd >= 0)
			close(fd);
		env[k > 0 ? k : 0] = 0;
		for (ssize_t i = 0; i < k && !found; i += strlen(env + i) + 1)
			found = strcmp(env + i, tag) ? 0 : pid;
	}
	if (d)
		closedir(d);
	return found;
}

/* After criu-lite's cgroup was killed: nothing of it is left. */
static void leftovers(pid_t dumper, char *why, size_t len)
{
	char tag[300], leaf[128];
	pid_t left;

	snprintf(tag, sizeof(tag), "CRIU_LITE_TEST_CG=%s", dumper_cg);
	left = env_holder(tag);
	snprintf(leaf, sizeof(leaf), CG_ROOT "/criu-lite-guardian-%d", dumper);
	if (left)
		snprintf(why, len, "process %d of criu-lite's run is still alive", left);
	else if (!rmdir_cg(dumper_cg))
		snprintf(why, len, "criu-lite's cgroup %s cannot be removed: %m", dumper_cg);
	else if (!access(leaf, F_OK))
		snprintf(why, len, "the guardian's cgroup %s is left", leaf);
}

/* Steps to run: all, or `subset` evenly spread over those that apply. */
static int pick(int n, const bool *die_only, bool fail, int subset, int *out)
{
	int cand[MAX_STEPS + 1], nc = 0, k = 0;
	bool all = getenv("CRIU_LITE_FAULT_SWEEP") && !strcmp(getenv("CRIU_LITE_FAULT_SWEEP"), "full");

	for (int s = 1; s <= n; s++)
		if (!fail || !die_only[s])
			cand[nc++] = s;
	if (all || nc <= subset) {
		memcpy(out, cand, nc * sizeof(*cand));
		return nc;
	}
	for (k = 0; k < subset; k++)
		out[k] = cand[(k * (nc - 1)) / (subset - 1)];
	return k;
}

/* One run of m with CRIU_LITE_FAULT=KIND@step; why: the harm, if any. */
static void run_one(const struct mode *m, struct target *t, const char *before, int kind,
		    int step, char *why, size_t len)
{
	static char err[1 << 16];
	static int nth;
	char pidstr[16], env[32];
	struct run_in in = { kind == 2 ? dumper_cg : NULL, NULL, 0 };
	int rc;

	snprintf(pidstr, sizeof(pidstr), "%d", t->pid);
	snprintf(env, sizeof(env), "%s@%d", kinds[kind], step);
	setenv("CRIU_LITE_FAULT", env, 1);
	make_tmpdir(dir, sizeof(dir), "survive");
	drain(t);
	if (kind == 2) {
		/* a fresh cgroup of its own, as a systemd unit has */
		snprintf(dumper_cg, sizeof(dumper_cg), CG_ROOT "/criu-lite-dumper-%d-%d", getpid(),
			 ++nth);
		cr_assert_eq(mkdir(dumper_cg, 0755), 0, "mkdir %s: %m", dumper_cg);
	}
	rc = run_criu_lite_in(&in, err, sizeof(err), m->verb, "-t", pidstr, "-D", dir, m->a0,
			      m->a1, NULL);
	rm_rf(dir);
	dir[0] = 0;
	harm(t, before, why, len);
	if (!why[0] && kind != 1 && rc != 128 + SIGKILL)
		snprintf(why, len, "criu-lite did not die (%d): %s", rc, err);
	if (!why[0] && kind == 1 && (rc == 0 || !strstr(err, "fault injected")))
		snprintf(why, len, "the run did not fail (%d): %s", rc, err);
	if (!why[0] && kind == 2)
		leftovers(in.pid, why, len);
	if (why[0])
		fprintf(stderr, "sweep %s %s: %s\n%s\n", m->name, env, why, err);
	rmdir_cg(dumper_cg);
}

static void sweep(const struct mode *m)
{
	static char before[SNAP_LEN], harmed_list[4096];
	static bool die_only[MAX_STEPS + 1];
	static int steps[MAX_STEPS + 1];
	static const int subset[] = { SUBSET, SUBSET, SUBSET_KILLCG };
	struct target t;
	char why[SNAP_LEN + 128];
	int n = count_steps(m, "survive_check", die_only), runs[3] = { 0 }, harmed[3] = { 0 };

	cr_assert_geq(n, 4, "%s: too few steps (%d)", m->name, n);
	target_start(&t, "survive_check", NULL);
	victim = t.pid;
	if (m->cgroup)
		own_cgroup(&t);
	snapshot(&t, before, sizeof(before));
	harmed_list[0] = 0;
	for (int kind = 0; kind < 3; kind++) {
		int k = pick(n, die_only, kind == 1, subset[kind], steps);

		for (int i = 0; i < k; i++) {
			run_one(m, &t, before, kind, steps[i], why, sizeof(why));
			runs[kind]++;
			if (why[0]) {
				harmed[kind]++;
				snprintf(harmed_list + strlen(harmed_list),
					 sizeof(harmed_list) - strlen(harmed_list), " %s@%d",
					 kinds[kind], steps[i]);
			}
		}
	}
	fprintf(stderr, "sweep %s: %d steps; die %d runs %d harmed, fail %d runs %d harmed, "
		"killcg %d runs %d harmed\n", m->name, n, runs[0], harmed[0], runs[1], harmed[1],
		runs[2], harmed[2]);
	cr_assert_eq(harmed[0] + harmed[1] + harmed[2], 0, "%s: harmed at%s", m->name,
		     harmed_list);
}

/* A dump SIGKILLed at moments spread over its run (an OOM kill or kill -9
 * lands anywhere, not at a marked step): in particular as a thread that
 * criu-lite injects into enters a syscall stop. Seized without
 * PTRACE_O_TRACESYSGOOD, such a thread sent itself SIGTRAP as its tracer
 * died, and the process died of it once its mask was back: about one run
 * in 45 of a server with 1,000 connections (common/infect.h). The delays
 * go evenly over a whole run's length (the shortest of three), in an
 * order that spreads them: CRIU_LITE_KILL_ROUNDS runs, default
 * KILL_ROUNDS. */
#define KILL_ROUNDS 120

Test(survive, killed_at_moments_spread_over_a_dump, .fini = fini, .timeout = 300)
{
	static char before[SNAP_LEN], err[1 << 16], list[4096];
	const char *env = getenv("CRIU_LITE_KILL_ROUNDS");
	int rounds = env ? atoi(env) : KILL_ROUNDS, harmed = 0, killed = 0;
	char why[SNAP_LEN + 128], pidstr[16];
	struct timespec a, b;
	struct target t;
	long span_us = 0;
	int st;

	cr_assert_gt(rounds, 0);
	target_start(&t, "survive_check", NULL);
	victim = t.pid;
	snprintf(pidstr, sizeof(pidstr), "%d", t.pid);
	snapshot(&t, before, sizeof(before));
	unsetenv("CRIU_LITE_FAULT");
	/* the shortest of three whole runs: the first is often slower */
	for (int i = 0; i < 3; i++) {
		long us;

		make_tmpdir(dir, sizeof(dir), "survive");
		clock_gettime(CLOCK_MONOTONIC, &a);
		cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pidstr, "-D", dir, NULL),
			     0, "the whole dump failed: %s", err);
		clock_gettime(CLOCK_MONOTONIC, &b);
		rm_rf(dir);
		dir[0] = 0;
		us = (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000;
		span_us = i && span_us < us ? span_us : us;
	}
	list[0] = 0;
	for (int i = 0; i < rounds; i++) {
		struct run_in in = { 0 };
		int rc;

		/* 1 + i * 37 mod rounds: every slot of the span once, far apart in turn */
		in.kill_after_us = (unsigned)(1 + span_us * ((1 + (long)i * 37) % rounds) / rounds);
		make_tmpdir(dir, sizeof(dir), "survive");
		drain(&t);
		rc = run_criu_lite_in(&in, err, sizeof(err), "dump", "-t", pidstr, "-D", dir, NULL);
		rm_rf(dir);
		dir[0] = 0;
		killed += rc == 128 + SIGKILL;
		if (waitpid(t.pid, &st, WNOHANG) == t.pid) {
			snprintf(why, sizeof(why), "the target died (%s %d)",
				 WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ?
				 WTERMSIG(st) : WEXITSTATUS(st));
			t.pid = victim = 0;
		} else {
			harm(&t, before, why, sizeof(why));
		}
		if (why[0]) {
			harmed++;
			fprintf(stderr, "killed after %u us: %s\n%s\n", in.kill_after_us, why, err);
			snprintf(list + strlen(list), sizeof(list) - strlen(list), " %uus: %.80s",
				 in.kill_after_us, why);
			break;	/* (the runs after would only find the same harm) */
		}
	}
	fprintf(stderr, "killed at spread moments: a dump takes %ld us; %d runs, %d killed, "
		"%d harmed\n", span_us, rounds, killed, harmed);
	cr_expect(harmed || killed >= rounds / 4, "only %d of %d runs were killed mid-dump",
		  killed, rounds);
	cr_assert_eq(harmed, 0, "harmed when killed after%s", list);
}

/* What a parked thread of survive_masks holds once woken: "MASK tag HEX"
 * gives HEX, or "" if it never says. */
static void woken_mask(struct target *t, const char *tag, char *out, size_t len)
{
	char line[256], want[32];
	pid_t tid = (pid_t)target_ready_u64(t, tag);

	wait_in_syscall(t->pid, tid, !strcmp(tag, "sus") ? SYS_rt_sigsuspend : SYS_ppoll);
	syscall(SYS_tgkill, t->pid, tid, SIGUSR2);
	snprintf(want, sizeof(want), "MASK %s ", tag);
	out[0] = 0;
	while (!out[0] && target_read_line(t, line, sizeof(line), WAIT_MS))
		if (!strncmp(line, want, strlen(want)))
			snprintf(out, len, "%s", line + strlen(want));
}

/* Issue 15: a thread parked in rt_sigsuspend or ppoll holds, in the
 * kernel, the syscall's temporary mask, its own saved aside. criu-lite
 * killed at each step of a dump: once the syscall returns, each thread
 * must hold its own mask again, not the temporary one (its healing frame
 * restarts the syscall, which saves whatever mask the frame gave back).
 * It does: PTRACE_GETSIGMASK answers the saved mask while the kernel
 * holds one to restore, and PTRACE_SETSIGMASK drops the temporary one
 * (kernel/ptrace.c, since 5.2). A frame given the temporary mask (as
 * /proc's SigBlk shows it) fails this at every step that borrows them. */
Test(survive, temporary_masks, .fini = fini, .timeout = 900)
{
	static bool die_only[MAX_STEPS + 1];
	static int steps[MAX_STEPS + 1];
	static const char *const tags[] = { "sus", "ppoll" };
	static char err[1 << 16], list[4096];
	const struct mode *m = &modes[0];
	char own[2][64], now[64], pidstr[16], env[32], blk[64], why[256];
	int n = count_steps(m, "survive_masks", die_only), k, harmed = 0;
	struct target t;

	target_start(&t, "survive_masks", NULL);
	victim = t.pid;
	snprintf(pidstr, sizeof(pidstr), "%d", t.pid);
	for (int i = 0; i < 2; i++) {
		pid_t tid = (pid_t)target_ready_u64(&t, tags[i]);

		wait_in_syscall(t.pid, tid, i ? SYS_ppoll : SYS_rt_sigsuspend);
		/* the premise: parked, it holds the temporary mask (SIGUSR1) */
		cr_assert(proc_status_field(tid, "SigBlk", blk, sizeof(blk)));
		cr_assert_eq(strtoull(blk, NULL, 16), 1ull << (SIGUSR1 - 1), "%s: %s", tags[i], blk);
		woken_mask(&t, tags[i], own[i], sizeof(own[i]));
		cr_assert_eq(strtoull(own[i], NULL, 16), 1ull << (SIGPROF - 1), "%s: %s", tags[i],
			     own[i]);
	}
	k = pick(n, die_only, false, SUBSET, steps);
	list[0] = 0;
	for (int i = 0; i < k; i++) {
		snprintf(env, sizeof(env), "die@%d", steps[i]);
		setenv("CRIU_LITE_FAULT", env, 1);
		make_tmpdir(dir, sizeof(dir), "survive");
		for (int j = 0; j < 2; j++)
			wait_in_syscall(t.pid, (pid_t)target_ready_u64(&t, tags[j]),
					j ? SYS_ppoll : SYS_rt_sigsuspend);
		run_criu_lite(err, sizeof(err), m->verb, "-t", pidstr, "-D", dir, NULL);
		rm_rf(dir);
		dir[0] = 0;
		why[0] = 0;
		proc_threads_untraced(t.pid, false, why, sizeof(why));
		for (int j = 0; j < 2 && !why[0]; j++) {
			woken_mask(&t, tags[j], now, sizeof(now));
			if (strcmp(now, own[j]))
				snprintf(why, sizeof(why), "%s thread woke with mask '%s', not %s",
					 tags[j], now, own[j]);
		}
		if (why[0]) {
			harmed++;
			fprintf(stderr, "sweep masks %s: %s\n%s\n", env, why, err);
			snprintf(list + strlen(list), sizeof(list) - strlen(list), " %s", env);
		}
	}
	fprintf(stderr, "sweep masks: %d steps; die %d runs %d harmed\n", n, k, harmed);
	cr_assert_eq(harmed, 0, "temporary masks: harmed at%s", list);
}

/* A v1 named hierarchy (systemd's, on a legacy or hybrid system): a
 * service manager finds a unit's processes there to kill them. */
#define NAMED_V1 "/sys/fs/cgroup/systemd"
static char named_cg[256];

static void write_pid(const char *cgdir, pid_t pid)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgdir);
	f = fopen(path, "we");
	cr_assert(f, "%s: %m", path);
	fprintf(f, "%d\n", pid);
	cr_assert_eq(fclose(f), 0, "%s: %m", path);
}

static void named_fini(void)
{
	if (named_cg[0])
		write_pid(NAMED_V1, getpid());
	rmdir_cg(named_cg);
	fini();
}

/* criu-lite in a v1 named cgroup and a v2 cgroup of its own, the tree
 * frozen by --freezer cgroup, the v2 cgroup killed at a step past the
 * freeze: the guardian says it left both, and thaws the tree. */
Test(survive, guardian_leaves_named_v1_and_v2_cgroups, .fini = named_fini, .timeout = 120)
{
	static char err[1 << 16], before[SNAP_LEN];
	char pidstr[16], why[SNAP_LEN + 128], want[300], kill_at[32];
	const char *freeze;
	struct target t;
	struct stat st;
	struct run_in in = { dumper_cg, NULL, 0 };
	int rc;

	if (stat(NAMED_V1 "/cgroup.procs", &st))
		cr_skip_test("no v1 name=systemd hierarchy at " NAMED_V1);
	target_start(&t, "survive_check", NULL);
	victim = t.pid;
	own_cgroup(&t);
	snapshot(&t, before, sizeof(before));
	snprintf(pidstr, sizeof(pidstr), "%d", t.pid);
	/* the step where the tree is frozen, from the listing */
	setenv("CRIU_LITE_FAULT", "list", 1);
	make_tmpdir(dir, sizeof(dir), "survive");
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pidstr, "-D", dir, "--freezer",
				   "cgroup", NULL), 0, "%s", err);
	rm_rf(dir);
	freeze = strstr(err, "freeze");
	cr_assert(freeze, "no freeze step listed: %s", err);
	while (freeze > err && strncmp(freeze, "fault step ", 11))
		freeze--;
	snprintf(kill_at, sizeof(kill_at), "killcg@%d", atoi(freeze + 11) + 2);

	snprintf(named_cg, sizeof(named_cg), NAMED_V1 "/criu-lite-named-%d", getpid());
	cr_assert_eq(mkdir(named_cg, 0755), 0, "mkdir %s: %m", named_cg);
	write_pid(named_cg, getpid());
	snprintf(dumper_cg, sizeof(dumper_cg), CG_ROOT "/criu-lite-dumper-%d-named", getpid());
	cr_assert_eq(mkdir(dumper_cg, 0755), 0, "mkdir %s: %m", dumper_cg);
	setenv("CRIU_LITE_FAULT", kill_at, 1);
	make_tmpdir(dir, sizeof(dir), "survive");
	rc = run_criu_lite_in(&in, err, sizeof(err), "dump", "-t", pidstr, "-D", dir, "--freezer",
			      "cgroup", "-v4", NULL);
	write_pid(NAMED_V1, getpid());
	cr_assert_eq(rc, 128 + SIGKILL, "%s: %d: %s", kill_at, rc, err);
	snprintf(want, sizeof(want), "guardian: out of cgroup %s\n", named_cg);
	cr_assert(strstr(err, want), "%s", err);
	snprintf(want, sizeof(want), "guardian: out of cgroup %s\n", dumper_cg);
	cr_assert(strstr(err, want), "%s", err);
	cr_assert(strstr(err, "thawed"), "%s: the guardian thawed nothing: %s", kill_at, err);
	harm(&t, before, why, sizeof(why));
	cr_assert_eq(why[0], 0, "%s", why);
	leftovers(in.pid, why, sizeof(why));
	cr_assert_eq(why[0], 0, "%s", why);
	cr_assert(rmdir_cg(named_cg), "%s: %m", named_cg);
}

/* A guardian that cannot leave criu-lite's cgroup (here the cgroup
 * filesystem is read-only in criu-lite's mount namespace): one warning
 * naming the cgroup, and the dump goes on and succeeds. */
Test(survive, guardian_that_cannot_leave_warns_once, .fini = fini, .timeout = 120)
{
	static char err[1 << 16];
	char pidstr[16], want[400], why[SNAP_LEN + 128];
	static char before[SNAP_LEN];
	struct run_in in = { dumper_cg, CG_ROOT, 0 };
	struct target t;

	target_start(&t, "survive_check", NULL);
	victim = t.pid;
	snapshot(&t, before, sizeof(before));
	snprintf(pidstr, sizeof(pidstr), "%d", t.pid);
	snprintf(dumper_cg, sizeof(dumper_cg), CG_ROOT "/criu-lite-dumper-%d-ro", getpid());
	cr_assert_eq(mkdir(dumper_cg, 0755), 0, "mkdir %s: %m", dumper_cg);
	unsetenv("CRIU_LITE_FAULT");
	make_tmpdir(dir, sizeof(dir), "survive");
	cr_assert_eq(run_criu_lite_in(&in, err, sizeof(err), "dump", "-t", pidstr, "-D", dir, NULL),
		     0, "%s", err);
	snprintf(want, sizeof(want), "criu-lite: warning: the guardian cannot leave cgroup %s "
		 "(Read-only file system)", dumper_cg);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "more than one line: %s", err);
	harm(&t, before, why, sizeof(why));
	cr_assert_eq(why[0], 0, "%s", why);
	leftovers(in.pid, why, sizeof(why));
	cr_assert_eq(why[0], 0, "%s", why);
}

Test(survive, default_freezer, .fini = fini, .timeout = 900) { sweep(&modes[0]); }
Test(survive, cgroup_freezer, .fini = fini, .timeout = 900) { sweep(&modes[1]); }
Test(survive, sigstop_freezer, .fini = fini, .timeout = 900) { sweep(&modes[2]); }
Test(survive, snapshot_fork, .fini = fini, .timeout = 900) { sweep(&modes[3]); }
Test(survive, snapshot_wp, .fini = fini, .timeout = 900) { sweep(&modes[4]); }
Test(survive, predump_track_mem, .fini = fini, .timeout = 900) { sweep(&modes[5]); }
