/* `criu-lite dump` end to end on real targets: what the images say (one
 * thread entry per thread, each parked thread's rip inside its function, the
 * tree's links) and what becomes of the target (running on and untraced by
 * default, stopped with -s, dead with --kill), plus bad input: one clear
 * line, non-zero exit, no inventory, target untouched. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "images/image.h"
#include "test/helpers.h"

static char dir[256];

static void setup(void)
{
	make_tmpdir(dir, sizeof(dir), "dump");
}

static void teardown(void)
{
	rm_rf(dir);
}

TestSuite(dump, .init = setup, .fini = teardown, .timeout = 60);

static bool has_file(const char *d, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", d, name);
	return access(path, F_OK) == 0;
}

static int dump(char *err, size_t errlen, pid_t pid, const char *extra1, const char *extra2)
{
	char spid[16];

	snprintf(spid, sizeof(spid), "%d", pid);
	return run_criu_lite(err, errlen, "dump", "-t", spid, "-D", dir, extra1, extra2, NULL);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Read every entry of a per-pid image into a malloc'ed array. */
static int read_all(enum img_kind kind, int pid, void ***out)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct img *img;
	void **arr = NULL, *msg;
	int n = 0;

	cr_assert_geq(dirfd, 0);
	img = img_open(dirfd, kind, pid, true);
	cr_assert_not_null(img, "cannot open image kind %d of %d", kind, pid);
	while (img_read(img, NULL, &msg) == 1) {
		arr = realloc(arr, (n + 1) * sizeof(*arr));
		arr[n++] = msg;
	}
	img_close_read(img);
	close(dirfd);
	*out = arr;
	return n;
}

static void free_all(void **arr, int n)
{
	for (int i = 0; i < n; i++)
		img_free(arr[i]);
	free(arr);
}

/* Lines printed before the freeze may still sit in the pipe: drain, then
 * new lines prove the target runs. */
static void assert_prints_on(struct target *t)
{
	char line[256];

	while (target_read_line(t, line, sizeof(line), 0))
		;
	for (int i = 0; i < 2; i++)
		cr_assert(target_read_line(t, line, sizeof(line), WAIT_MS), "target stopped printing");
}

Test(dump, single_threaded_runs_on)
{
	PstreeEntry **ps;
	ThreadEntry **te;
	struct target t;
	char err[4096];
	int n;

	target_start(&t, "dump_single", NULL);
	cr_assert_eq(dump(err, sizeof(err), t.pid, NULL, NULL), 0, "dump failed: %s", err);
	cr_expect(has_file(dir, "inventory.img"));
	cr_expect(proc_untraced_running(t.pid));
	assert_prints_on(&t);

	n = read_all(IMG_THREADS, t.pid, (void ***)&te);
	cr_assert_eq(n, 1);
	cr_expect_eq(te[0]->tid, (uint32_t)t.pid);
	cr_expect_eq(te[0]->gpregs.len, sizeof(struct user_regs_struct));
	cr_expect_eq(te[0]->fpregs.len, 512);
	cr_expect(te[0]->has_xstate && te[0]->xstate.len > 512);
	free_all((void **)te, n);
	n = read_all(IMG_PSTREE, 0, (void ***)&ps);
	cr_assert_eq(n, 1);
	cr_expect_eq(ps[0]->pid, (uint32_t)t.pid);
	cr_expect_eq(ps[0]->ppid, (uint32_t)getpid());
	cr_expect_eq(ps[0]->pgid, (uint32_t)t.pid);
	free_all((void **)ps, n);
	target_kill(&t);
}

/* Each of 8 threads spins in its own function: exactly one dumped thread
 * has its rip inside each function (start from the target, size from the
 * binary's symbol table). */
Test(dump, threads_rip_in_their_functions)
{
	ThreadEntry **te;
	struct target t;
	char err[4096];
	int n;

	target_start(&t, "dump_threads8", NULL);
	cr_assert_eq(dump(err, sizeof(err), t.pid, NULL, NULL), 0, "dump failed: %s", err);
	cr_expect(proc_untraced_running(t.pid));
	assert_prints_on(&t);
	n = read_all(IMG_THREADS, t.pid, (void ***)&te);
	cr_assert_eq(n, 9, "one entry per thread");
	cr_expect_eq(te[0]->tid, (uint32_t)t.pid, "leader first");
	for (int f = 0; f < 8; f++) {
		char name[16];
		uint64_t size = 0, start;
		int inside = 0;

		snprintf(name, sizeof(name), "spin_%d", f);
		cr_assert_neq(elf_symbol(target_path("dump_threads8"), name, &size), 0);
		cr_assert_gt(size, 0);
		start = target_ready_u64(&t, name);
		for (int i = 0; i < n; i++) {
			const struct user_regs_struct *r = (const void *)te[i]->gpregs.data;

			inside += r->rip >= start && r->rip < start + size;
		}
		cr_expect_eq(inside, 1, "%d threads in %s [%#lx, +%lu)", inside, name, start, size);
	}
	free_all((void **)te, n);
	target_kill(&t);
}

Test(dump, family_tree_links)
{
	PstreeEntry **ps;
	struct target t;
	char err[4096];
	pid_t child, grandchild;
	int n;

	target_start(&t, "dump_family", NULL);
	child = target_ready_u64(&t, "child");
	grandchild = target_ready_u64(&t, "grandchild");
	cr_assert_eq(dump(err, sizeof(err), t.pid, NULL, NULL), 0, "dump failed: %s", err);
	n = read_all(IMG_PSTREE, 0, (void ***)&ps);
	cr_assert_eq(n, 3);
	cr_expect_eq(ps[0]->pid, (uint32_t)t.pid);
	cr_expect_eq(ps[1]->pid, (uint32_t)child);
	cr_expect_eq(ps[1]->ppid, (uint32_t)t.pid);
	cr_expect_eq(ps[2]->pid, (uint32_t)grandchild);
	cr_expect_eq(ps[2]->ppid, (uint32_t)child);
	for (int i = 0; i < n; i++) {
		char name[64];

		cr_expect_eq(ps[i]->n_threads, 1);
		cr_expect_eq(ps[i]->threads[0], ps[i]->pid);
		snprintf(name, sizeof(name), "threads-%u.img", ps[i]->pid);
		cr_expect(has_file(dir, name), "%s missing", name);
		snprintf(name, sizeof(name), "proc-%u.img", ps[i]->pid);
		cr_expect(has_file(dir, name), "%s missing", name);
	}
	free_all((void **)ps, n);
	cr_expect(proc_untraced_running(t.pid));
	cr_expect(proc_untraced_running(child));
	cr_expect(proc_untraced_running(grandchild));
	assert_prints_on(&t);
	target_kill(&t);
}

static const char *const *threads8_argv(void)
{
	static const char *argv[2];

	argv[0] = target_path("dump_threads8");
	return argv;
}

Test(dump, leave_stopped)
{
	struct target t;
	char err[4096], buf[64];

	/* Clean: the test runner's own fds (a deleted arena file) would be in
	 * the way of a restore, and --leave-stopped refuses what restore would. */
	target_start_clean(&t, threads8_argv());
	cr_assert_eq(dump(err, sizeof(err), t.pid, "--leave-stopped", NULL), 0, "dump failed: %s", err);
	cr_expect(has_file(dir, "inventory.img"));
	cr_assert(proc_status_field(t.pid, "State", buf, sizeof(buf)));
	cr_expect_eq(buf[0], 'T', "state %s", buf);
	cr_assert(proc_status_field(t.pid, "TracerPid", buf, sizeof(buf)));
	cr_expect_str_eq(buf, "0");
	kill(t.pid, SIGCONT);
	assert_prints_on(&t);
	target_kill(&t);
}

Test(dump, kill_after_dump)
{
	struct target t;
	char err[4096];
	int st;

	target_start_clean(&t, threads8_argv());
	cr_assert_eq(dump(err, sizeof(err), t.pid, "--kill", NULL), 0, "dump failed: %s", err);
	cr_expect(has_file(dir, "inventory.img"));
	cr_assert_eq(waitpid(t.pid, &st, 0), t.pid);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	t.pid = 0;
	target_kill(&t);
}

Test(dump, stats_and_inventory)
{
	InventoryEntry *inv;
	StatsEntry *se;
	struct target t;
	char err[4096];
	int dirfd;

	target_start(&t, "dump_threads8", NULL);
	cr_assert_eq(dump(err, sizeof(err), t.pid, NULL, NULL), 0, "dump failed: %s", err);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(img_read_one(dirfd, IMG_STATS, 0, true, (void **)&se), 0);
	cr_expect(se->freeze_start_ns <= se->frozen_ns && se->frozen_ns <= se->thaw_ns &&
		  se->thaw_ns <= se->end_ns);
	cr_expect_eq(se->downtime_ns, se->thaw_ns - se->freeze_start_ns);
	cr_expect_eq(se->nr_procs, 1);
	cr_expect_eq(se->nr_threads, 9);
	img_free(se);
	cr_assert_eq(img_read_one(dirfd, IMG_INVENTORY, 0, true, (void **)&inv), 0);
	cr_expect_eq(inv->root_pid, (uint32_t)t.pid);
	cr_expect_eq(inv->format_version, IMG_FORMAT_VERSION);
	cr_expect_eq(inv->page_size, (uint32_t)getpagesize());
	cr_expect_neq(inv->xcr0 & 3, 0, "x87 and SSE are always enabled");
	for (size_t i = 0; i < inv->n_xsave_layout; i++)
		cr_expect((inv->xcr0 >> inv->xsave_layout[i]->feature) & 1);
	img_free(inv);
	close(dirfd);
	target_kill(&t);
}

/* Bad input: non-zero exit, exactly one line on stderr naming the problem,
 * no inventory (even one left by an earlier dump). */
static void expect_refused(const char *err, int rc, const char *needle)
{
	cr_expect_neq(rc, 0);
	cr_expect_eq(count_lines(err), 1, "not one line: %s", err);
	cr_expect(strstr(err, needle), "'%s' not in: %s", needle, err);
	cr_expect(!has_file(dir, "inventory.img"));
}

static void plant_inventory(void)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/inventory.img", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
}

Test(dump, no_such_pid)
{
	char err[4096];
	pid_t gone = fork();
	int rc;

	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	plant_inventory();
	rc = dump(err, sizeof(err), gone, NULL, NULL);
	expect_refused(err, rc, "no such process");
}

Test(dump, zombie)
{
	char err[4096];
	pid_t z = fork();
	int rc;

	if (z == 0)
		_exit(0);
	cr_assert_eq(waitid(P_PID, z, NULL, WEXITED | WNOWAIT), 0);
	plant_inventory();
	rc = dump(err, sizeof(err), z, NULL, NULL);
	expect_refused(err, rc, "zombie");
	waitpid(z, NULL, 0);
}

/* dump_single dumped into imgdir, which a test made unusable: the exit
 * status, stderr in err. */
static int dump_single_into(struct target *t, const char *imgdir, char *err, size_t len)
{
	char spid[16];

	target_start(t, "dump_single", NULL);
	snprintf(spid, sizeof(spid), "%d", t->pid);
	return run_criu_lite(err, len, "dump", "-t", spid, "-D", imgdir, NULL);
}

/* Refused, and the target runs on as if never touched. */
static void expect_refused_untouched(struct target *t, const char *err, int rc, const char *needle)
{
	expect_refused(err, rc, needle);
	cr_expect(proc_untraced_running(t->pid));
	target_kill(t);
}

Test(dump, dir_missing)
{
	struct target t;
	char err[4096], missing[300];
	int rc;

	snprintf(missing, sizeof(missing), "%s/nope", dir);
	rc = dump_single_into(&t, missing, err, sizeof(err));
	expect_refused_untouched(&t, err, rc, missing);
}

Test(dump, dir_not_a_directory)
{
	struct target t;
	char err[4096], file[300];
	int rc;

	snprintf(file, sizeof(file), "%s/file", dir);
	close(open(file, O_CREAT | O_WRONLY, 0600));
	rc = dump_single_into(&t, file, err, sizeof(err));
	expect_refused_untouched(&t, err, rc, "Not a directory");
}

/* Root ignores permission bits, not a read-only mount. */
Test(dump, dir_read_only)
{
	struct target t;
	char err[4096], ro[300];
	int rc;

	snprintf(ro, sizeof(ro), "%s/ro", dir);
	cr_assert_eq(mkdir(ro, 0700), 0);
	cr_assert_eq(mount("tmpfs", ro, "tmpfs", MS_RDONLY, "size=1m"), 0, "mount: %m");
	rc = dump_single_into(&t, ro, err, sizeof(err));
	umount(ro);
	expect_refused_untouched(&t, err, rc, "not writable");
}

/* Someone else (a debugger) traces the target: refused, and the other
 * tracer keeps it. */
Test(dump, already_traced)
{
	struct target t;
	char err[4096], buf[64], want[16];
	int sync[2], rc;
	pid_t tracer;

	target_start(&t, "dump_single", NULL);
	cr_assert_eq(pipe(sync), 0);
	tracer = fork();
	if (tracer == 0) {
		char c = ptrace(PTRACE_SEIZE, t.pid, NULL, NULL) ? 'n' : 'y';

		(void)!write(sync[1], &c, 1);
		pause();
		_exit(0);
	}
	{
		char c = 0;

		cr_assert_eq(read(sync[0], &c, 1), 1);
		cr_assert_eq(c, 'y', "the other tracer could not seize");
	}
	plant_inventory();
	rc = dump(err, sizeof(err), t.pid, NULL, NULL);
	expect_refused(err, rc, "already traced");
	snprintf(want, sizeof(want), "%d", tracer);
	cr_assert(proc_status_field(t.pid, "TracerPid", buf, sizeof(buf)));
	cr_expect_str_eq(buf, want, "the other tracer lost the target");
	kill(tracer, SIGKILL);
	waitpid(tracer, NULL, 0);
	cr_expect(proc_untraced_running(t.pid));
	target_kill(&t);
}

Test(dump, bad_options)
{
	char err[4096];

	cr_expect_neq(run_criu_lite(err, sizeof(err), "dump", "-D", dir, NULL), 0);
	cr_expect(strstr(err, "-t PID"), "%s", err);
	cr_expect_neq(run_criu_lite(err, sizeof(err), "dump", "-t", "12x", "-D", dir, NULL), 0);
	cr_expect(strstr(err, "invalid pid"), "%s", err);
	cr_expect_neq(run_criu_lite(err, sizeof(err), "dump", "-t", "1", "-D", dir, "--freezer", "ice",
				    NULL), 0);
	cr_expect(strstr(err, "--freezer"), "%s", err);
	cr_expect_neq(run_criu_lite(err, sizeof(err), "dump", "-t", "1", "-D", dir, "--kill", "-s",
				    NULL), 0);
	cr_expect_eq(run_criu_lite(err, sizeof(err), "dump", "--help", NULL), 0);
	cr_expect(!has_file(dir, "inventory.img"));
}

/* The tree has a v2 cgroup of its own: the cgroup freezer is used, and the
 * cgroup is thawed and the target untraced afterwards. */
Test(dump, cgroup_v2_freezer)
{
	StatsEntry *se;
	struct target t;
	char err[4096], cg[256], path[300], buf[512] = "";
	int dirfd, rc;
	FILE *f;

	snprintf(cg, sizeof(cg), "/sys/fs/cgroup/unified/criu-lite-dump-%d", getpid());
	cr_assert_eq(mkdir(cg, 0755), 0);
	target_start(&t, "dump_family", NULL);
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	/* move all three: the tree must have the cgroup to itself */
	for (const char *k = "pid"; k; k = !strcmp(k, "pid") ? "child" : !strcmp(k, "child") ? "grandchild" : NULL) {
		f = fopen(path, "we");
		fprintf(f, "%d\n", (int)target_ready_u64(&t, k));
		fclose(f);
	}
	rc = dump(err, sizeof(err), t.pid, "--freezer", "cgroup");
	if (rc == 0) {
		dirfd = open(dir, O_RDONLY | O_DIRECTORY);
		cr_assert_eq(img_read_one(dirfd, IMG_STATS, 0, true, (void **)&se), 0);
		cr_expect_str_eq(se->freezer, "cgroup");
		cr_expect_eq(se->nr_procs, 3);
		img_free(se);
		close(dirfd);
		cr_expect(proc_untraced_running(t.pid));
		assert_prints_on(&t);
	}
	snprintf(path, sizeof(path), "%s/cgroup.events", cg);
	f = fopen(path, "re");
	buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
	fclose(f);
	target_kill(&t);
	/* killed children leave the cgroup as init reaps them */
	for (int i = 0; i < WAIT_MS / 10 && rmdir(cg); i++)
		usleep(10000);
	cr_expect(access(cg, F_OK), "cgroup %s still busy after %d s", cg, WAIT_MS / 1000);
	cr_assert_eq(rc, 0, "dump failed: %s", err);
	cr_expect(strstr(buf, "frozen 0"), "cgroup left frozen: %s", buf);
}

/* Offsets in a raw x86_64 siginfo (rt/queue layout). */
#define OFF_SI_SIGNO 0
#define OFF_SI_VALUE 24

static int siginfo_int(const ProtobufCBinaryData *b, size_t off)
{
	int v;

	cr_assert_eq(b->len, 128);
	memcpy(&v, b->data + off, sizeof(v));
	return v;
}

static const SigactionEntry *find_sigaction(const ProcEntry *pe, uint32_t sig)
{
	for (size_t i = 0; i < pe->n_sigactions; i++)
		if (pe->sigactions[i]->sig == sig)
			return pe->sigactions[i];
	cr_assert_fail("no sigaction for %u", sig);
	return NULL;
}

/* Handlers, itimers, sigaltstack, queued signals (peeked, not consumed),
 * blocked masks, nice and policy, as the target set them up. */
Test(dump, signal_and_sched_state)
{
	char err[4096], go[300], line[256];
	const SigactionEntry *sa;
	ThreadEntry **te, *main_te = NULL, *worker_te = NULL;
	ProcEntry *pe;
	struct target t;
	pid_t worker;
	int n, dirfd, got_usr1 = 0, got_usr2 = 0;

	snprintf(go, sizeof(go), "%s/go", dir);
	target_start(&t, "dump_sigstate", go, NULL);
	worker = target_ready_u64(&t, "worker");
	cr_assert_eq(dump(err, sizeof(err), t.pid, NULL, NULL), 0, "dump failed: %s", err);

	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(img_read_one(dirfd, IMG_PROC, t.pid, true, (void **)&pe), 0);
	close(dirfd);
	sa = find_sigaction(pe, SIGUSR1);
	cr_expect_eq(sa->handler, target_ready_u64(&t, "on_usr"));
	cr_expect_eq(sa->flags & (SA_SIGINFO | SA_RESTART), (uint64_t)(SA_SIGINFO | SA_RESTART));
	cr_expect_eq(sa->mask, 1ull << (SIGUSR2 - 1));
	cr_expect_eq(find_sigaction(pe, SIGHUP)->handler, (uint64_t)(uintptr_t)SIG_IGN);
	cr_expect_eq(find_sigaction(pe, SIGTERM)->handler, (uint64_t)(uintptr_t)SIG_DFL);
	cr_assert_eq(pe->n_itimers, 3);
	cr_expect_eq(pe->itimers[ITIMER_REAL]->interval_us, 50000000);
	cr_expect(pe->itimers[ITIMER_REAL]->value_us > 0 &&
		  pe->itimers[ITIMER_REAL]->value_us <= 100000000);
	cr_expect_eq(pe->itimers[ITIMER_VIRTUAL]->interval_us, 7000000);
	/* CPU-time timers count in ticks: 9 s may read back a tick above. */
	cr_expect(pe->itimers[ITIMER_VIRTUAL]->value_us > 8000000 &&
		  pe->itimers[ITIMER_VIRTUAL]->value_us <= 9100000);
	cr_expect_eq(pe->itimers[ITIMER_PROF]->value_us, 0);
	cr_assert_eq(pe->n_shared_pending, 1);
	cr_expect_eq(siginfo_int(&pe->shared_pending[0], OFF_SI_SIGNO), SIGUSR2);
	cr_expect_eq(siginfo_int(&pe->shared_pending[0], OFF_SI_VALUE), 4660);
	img_free(pe);

	n = read_all(IMG_THREADS, t.pid, (void ***)&te);
	cr_assert_eq(n, 2);
	for (int i = 0; i < n; i++) {
		if (te[i]->tid == (uint32_t)t.pid)
			main_te = te[i];
		if (te[i]->tid == (uint32_t)worker)
			worker_te = te[i];
	}
	cr_assert(main_te && worker_te);
	cr_assert_not_null(main_te->sigaltstack);
	cr_expect_eq(main_te->sigaltstack->sp, target_ready_u64(&t, "altstack"));
	cr_expect_eq(main_te->sigaltstack->size, target_ready_u64(&t, "altstack_size"));
	cr_expect_eq(main_te->n_pending, 0);
	cr_assert_eq(worker_te->n_pending, 1);
	cr_expect_eq(siginfo_int(&worker_te->pending[0], OFF_SI_SIGNO), SIGUSR1);
	cr_expect_eq(siginfo_int(&worker_te->pending[0], OFF_SI_VALUE), 22136);
	cr_expect_eq(worker_te->blocked & (3ull << (SIGUSR1 - 1) | 1ull << (SIGUSR2 - 1)),
		     1ull << (SIGUSR1 - 1) | 1ull << (SIGUSR2 - 1));
	cr_expect_eq(worker_te->nice, 5);
	cr_expect_eq(worker_te->sched_policy, SCHED_BATCH);
	cr_expect_eq(main_te->sched_policy, SCHED_OTHER);
	cr_expect_neq(worker_te->robust_list, 0);
	/* glibc registers an rseq area per thread (32 bytes or more) */
	cr_expect(worker_te->has_rseq_ptr && worker_te->rseq_ptr && worker_te->rseq_len >= 32);
	cr_expect_neq(worker_te->rseq_ptr, main_te->rseq_ptr, "one rseq area per thread");
	cr_expect(worker_te->has_clear_child_tid && worker_te->clear_child_tid != 0);
	free_all((void **)te, n);

	/* The queued signals are still there for the target to take. */
	close(open(go, O_CREAT | O_WRONLY, 0600));
	for (int i = 0; i < 2 && target_read_line(&t, line, sizeof(line), WAIT_MS); i++) {
		got_usr1 += !strcmp(line, "GOT 10 22136");
		got_usr2 += !strcmp(line, "GOT 12 4660");
	}
	cr_expect_eq(got_usr1, 1, "SIGUSR1 lost");
	cr_expect_eq(got_usr2, 1, "SIGUSR2 lost");
	cr_expect(proc_untraced_running(t.pid));
	/* still ignored: the dumper's injections left its dispositions alone */
	cr_assert(proc_status_field(t.pid, "SigIgn", line, sizeof(line)));
	cr_expect(strtoull(line, NULL, 16) & (1ull << (SIGTRAP - 1)), "SIGTRAP no longer ignored");
	target_kill(&t);
}
