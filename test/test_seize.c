/* Freezing a tree (criu-lite/seize.c) on real targets, in-process: every
 * thread of every process ends up in a ptrace-stop, nothing born meanwhile
 * escapes, and release leaves each thread running (or stopped) and untraced,
 * whichever freezer did the work: ptrace, SIGSTOP, cgroup v2, cgroup v1. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "criu-lite/freeze/seize.h"
#include "test/helpers.h"

#define CG2_ROOT "/sys/fs/cgroup/unified"
#define CG1_ROOT "/sys/fs/cgroup/freezer"

/* Every thread of every process in the tree is traced by us and stopped,
 * and the tree lists exactly the threads /proc has. */
static void assert_all_seized(const struct dump_tree *tree)
{
	char buf[64], me[16];

	snprintf(me, sizeof(me), "%d", getpid());
	for (int n = 0; n < tree->nr_procs; n++) {
		const struct dump_proc *p = &tree->procs[n];

		cr_assert_eq(p->tids[0], p->pid, "leader not first in %d", p->pid);
		cr_assert_eq(proc_dir_count(p->pid, "task"), p->nr_threads, "process %d: /proc has %d threads, tree %d",
			     p->pid, proc_dir_count(p->pid, "task"), p->nr_threads);
		for (int i = 0; i < p->nr_threads; i++) {
			cr_assert(proc_status_field(p->tids[i], "TracerPid", buf, sizeof(buf)));
			cr_assert_str_eq(buf, me, "thread %d not traced by us", p->tids[i]);
			cr_assert(proc_status_field(p->tids[i], "State", buf, sizeof(buf)));
			cr_assert_eq(buf[0], 't', "thread %d in state %s", p->tids[i], buf);
		}
	}
}

static void assert_prints_on(struct target *t)
{
	char line[256];

	/* Lines printed before the freeze may still be in the pipe: two reads
	 * beyond those prove it runs. Drain first. */
	while (target_read_line(t, line, sizeof(line), 0))
		;
	for (int i = 0; i < 2; i++)
		cr_assert(target_read_line(t, line, sizeof(line), WAIT_MS), "target stopped printing");
}

Test(seize, threads_all_stopped_then_released)
{
	struct seize_opts o = { .freezer = FREEZER_PTRACE };
	struct dump_tree tree;
	struct target t;

	target_start(&t, "dump_threads8", NULL);
	cr_assert_eq(seize_tree(t.pid, &o, &tree), 0);
	cr_expect_eq(tree.used, FREEZER_PTRACE);
	cr_assert_eq(tree.nr_procs, 1);
	cr_expect_eq(tree.procs[0].nr_threads, 9);
	assert_all_seized(&tree);
	seize_release(&tree, RELEASE_RUN);
	seize_release(&tree, RELEASE_RUN);	/* twice is harmless */
	cr_expect(proc_untraced_running(t.pid));
	assert_prints_on(&t);
	dump_tree_free(&tree);
	target_kill(&t);
}

Test(seize, family_parents_first)
{
	struct seize_opts o = { .freezer = FREEZER_AUTO };
	struct dump_tree tree;
	struct target t;
	pid_t child, grandchild;

	target_start(&t, "dump_family", NULL);
	child = target_ready_u64(&t, "child");
	grandchild = target_ready_u64(&t, "grandchild");
	cr_assert_eq(seize_tree(t.pid, &o, &tree), 0);
	cr_assert_eq(tree.nr_procs, 3);
	cr_expect_eq(tree.procs[0].pid, t.pid);
	cr_expect_eq(tree.procs[0].ppid, getpid());
	cr_expect_eq(tree.procs[1].pid, child);
	cr_expect_eq(tree.procs[1].ppid, t.pid);
	cr_expect_eq(tree.procs[2].pid, grandchild);
	cr_expect_eq(tree.procs[2].ppid, child);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(tree.procs[i].pgid, t.pid, "target_start puts the target in its own group");
		cr_expect(strchr("SR", tree.procs[i].state), "state %c", tree.procs[i].state);
	}
	assert_all_seized(&tree);
	seize_release(&tree, RELEASE_RUN);
	cr_expect(proc_untraced_running(t.pid));
	cr_expect(proc_untraced_running(child));
	cr_expect(proc_untraced_running(grandchild));
	dump_tree_free(&tree);
	target_kill(&t);
}

/* Threads and children are born without pause: whatever the moment, the
 * frozen tree holds every thread /proc shows. */
Test(seize, catches_threads_born_while_seizing, .timeout = 60)
{
	struct seize_opts o = { .freezer = FREEZER_PTRACE };
	struct target t;

	target_start(&t, "dump_spawner", NULL);
	for (int round = 0; round < 10; round++) {
		struct dump_tree tree;

		cr_assert_eq(seize_tree(t.pid, &o, &tree), 0, "round %d", round);
		assert_all_seized(&tree);
		seize_release(&tree, RELEASE_RUN);
		dump_tree_free(&tree);
		cr_assert(proc_threads_untraced(t.pid, true, NULL, 0), "round %d", round);
	}
	assert_prints_on(&t);
	target_kill(&t);
}

Test(seize, sigstop_freezer_stops_and_continues)
{
	struct seize_opts o = { .freezer = FREEZER_SIGSTOP };
	struct dump_tree tree;
	struct target t;
	char buf[64];

	target_start(&t, "dump_threads8", NULL);
	cr_assert_eq(seize_tree(t.pid, &o, &tree), 0);
	cr_expect_eq(tree.used, FREEZER_SIGSTOP);
	assert_all_seized(&tree);
	seize_release(&tree, RELEASE_RUN);
	cr_expect(proc_untraced_running(t.pid));
	assert_prints_on(&t);
	dump_tree_free(&tree);

	cr_assert_eq(seize_tree(t.pid, &o, &tree), 0);
	seize_release(&tree, RELEASE_STOPPED);
	cr_assert(proc_status_field(t.pid, "State", buf, sizeof(buf)));
	cr_expect_eq(buf[0], 'T', "state %s", buf);
	cr_assert(proc_status_field(t.pid, "TracerPid", buf, sizeof(buf)));
	cr_expect_str_eq(buf, "0");
	dump_tree_free(&tree);
	target_kill(&t);
}

static void cg_make(char *dir, size_t len, const char *root)
{
	snprintf(dir, len, "%s/criu-lite-test-%d", root, getpid());
	cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %m", dir);
}

static void cg_move(const char *dir, pid_t pid)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "we");
	cr_assert_not_null(f);
	fprintf(f, "%d\n", pid);
	cr_assert_eq(fclose(f), 0, "cannot move %d into %s", pid, dir);
}

static bool cg_frozen(const char *dir, bool v2)
{
	char path[512], buf[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, v2 ? "cgroup.events" : "freezer.state");
	f = fopen(path, "re");
	cr_assert_not_null(f);
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
	fclose(f);
	return v2 ? !!strstr(buf, "frozen 1") : !strncmp(buf, "FROZEN", 6);
}

/* The target (and its descendants, forked after the move) sit in a fresh
 * cgroup of their own: auto picks the cgroup freezer for it. */
static void cgroup_case(const char *root, bool v2, bool explicit_path)
{
	struct seize_opts o = { .freezer = FREEZER_AUTO };
	struct dump_tree tree;
	struct target t;
	char dir[256];
	int r;

	cg_make(dir, sizeof(dir), root);
	target_start(&t, "dump_threads8", NULL);
	cg_move(dir, t.pid);
	if (explicit_path)
		o.freeze_cgroup = dir;
	r = seize_tree(t.pid, &o, &tree);
	if (!r) {
		cr_expect_eq(tree.used, FREEZER_CGROUP);
		cr_expect_eq(tree.cgroup_v2, v2);
		cr_expect_str_eq(tree.cgroup, dir);
		assert_all_seized(&tree);
		cr_expect(!cg_frozen(dir, v2), "tasks stay in ptrace-stop, the cgroup is thawed");
		seize_release(&tree, RELEASE_RUN);
		dump_tree_free(&tree);
		cr_expect(proc_untraced_running(t.pid));
		cr_expect(!cg_frozen(dir, v2));
		assert_prints_on(&t);
	}
	target_kill(&t);
	rmdir(dir);
	cr_assert_eq(r, 0);
}

Test(seize, cgroup_v2_own_cgroup) { cgroup_case(CG2_ROOT, true, false); }
Test(seize, cgroup_v1_own_cgroup) { cgroup_case(CG1_ROOT, false, false); }
Test(seize, cgroup_v2_given_path) { cgroup_case(CG2_ROOT, true, true); }

/* A cgroup shared with a process outside the tree is not the tree's own:
 * --freezer cgroup refuses, auto falls back to ptrace. */
Test(seize, shared_cgroup_is_not_own)
{
	struct seize_opts o = { .freezer = FREEZER_CGROUP };
	struct dump_tree tree;
	struct target t, other;
	char dir[256];
	int r1, r2;

	cg_make(dir, sizeof(dir), CG2_ROOT);
	target_start(&t, "dump_single", NULL);
	target_start(&other, "dump_single", NULL);
	cg_move(dir, t.pid);
	cg_move(dir, other.pid);
	r1 = seize_tree(t.pid, &o, &tree);
	o.freezer = FREEZER_AUTO;
	r2 = seize_tree(t.pid, &o, &tree);
	if (!r2) {
		cr_expect_eq(tree.used, FREEZER_PTRACE);
		seize_release(&tree, RELEASE_RUN);
		dump_tree_free(&tree);
	}
	cr_expect(proc_untraced_running(t.pid));
	cr_expect(proc_untraced_running(other.pid));
	target_kill(&t);
	target_kill(&other);
	rmdir(dir);
	cr_expect_neq(r1, 0);
	cr_expect_eq(r2, 0);
}

Test(seize, errors_leave_nothing_seized)
{
	struct seize_opts o = { .freezer = FREEZER_AUTO };
	struct dump_tree tree;
	pid_t zombie = fork();

	if (zombie == 0)
		_exit(0);
	/* wait until it is a zombie, without reaping it */
	cr_assert_eq(waitid(P_PID, zombie, NULL, WEXITED | WNOWAIT), 0);
	cr_expect_eq(seize_tree(zombie, &o, &tree), -EINVAL);
	waitpid(zombie, NULL, 0);
	cr_expect_eq(seize_tree(zombie, &o, &tree), -ESRCH, "reaped: no such process");
	cr_expect_eq(seize_tree(getpid(), &o, &tree), -EINVAL, "itself");
	cr_expect_eq(seize_tree(getppid(), &o, &tree), -EINVAL, "a tree containing the dumper");
	cr_expect(proc_untraced_running(getppid()));
}
