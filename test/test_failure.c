/* Failure paths of `criu-lite dump` with real processes: the target changes
 * or dies under the dumper, the disk fills up, the dumper is interrupted,
 * the caller lacks privilege. Whatever happens, the target is left as it was
 * (running, untraced, unfrozen) unless it died on its own, and a dump that
 * did not complete leaves no inventory.img and says why on stderr.
 *
 * Races are not timed: each test drives the dump into the window it wants
 * by watching the dump directory, and when a run ends on the other side of
 * the race (the dump completed first) it checks that outcome instead. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "images/image.h"
#include "test/helpers.h"

static char dir[256];

/* Processes a test started, killed in teardown if an assertion cut the test
 * short (a failed cr_assert leaves the test function at once). */
static pid_t started[16];
static char cgdir[300];		/* a cgroup a test made, removed in teardown */

static void track(pid_t pid)
{
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (!started[i]) {
			started[i] = pid;
			return;
		}
}

static void untrack(pid_t pid)
{
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (started[i] == pid)
			started[i] = 0;
}

static void start(struct target *t, const char *name, const char *a1, const char *a2)
{
	target_start(t, name, a1, a2, NULL);
	track(t->pid);
}

static void stop(struct target *t)
{
	untrack(t->pid);
	target_kill(t);
}

static void setup(void)
{
	make_tmpdir(dir, sizeof(dir), "failure");
}

static void teardown(void)
{
	char cmd[512];

	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (started[i] > 0) {
			kill(-started[i], SIGKILL);
			kill(started[i], SIGKILL);
			waitpid(started[i], NULL, 0);
			started[i] = 0;
		}
	/* Killing the targets emptied it; then it can go. */
	if (cgdir[0]) {
		rmdir(cgdir);
		cgdir[0] = '\0';
	}
	/* The tmpfs test mounts inside dir. */
	snprintf(cmd, sizeof(cmd), "umount -l '%s/small' 2>/dev/null", dir);
	(void)!system(cmd);
	rm_rf(dir);
}

/* No dump here needs more than a few seconds, even under ASan on a busy machine. */
#define DUMP_TIMEOUT_MS 60000

TestSuite(failure, .init = setup, .fini = teardown, .timeout = 120);

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool file_exists(const char *d, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", d, name);
	return access(path, F_OK) == 0;
}

static off_t file_size(const char *d, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", d, name);
	return stat(path, &st) ? -1 : st.st_size;
}

/* A dumper running in the background, its stderr going to a file. */
struct dumper {
	pid_t pid;
	char errpath[512];
};

static void dumper_start(struct dumper *d, const char *const *extra, const char *user,
			 pid_t target, const char *ddir)
{
	const char *argv[32];
	char pidstr[16];
	int argc = 0, fd;

	snprintf(pidstr, sizeof(pidstr), "%d", target);
	snprintf(d->errpath, sizeof(d->errpath), "%s.stderr", ddir);
	if (user) {
		/* setpriv drops to the user's ids with no capabilities left. */
		argv[argc++] = "/usr/bin/setpriv";
		argv[argc++] = user;
		argv[argc++] = "--regid=nogroup";
		argv[argc++] = "--clear-groups";
		argv[argc++] = "--inh-caps=-all";
	}
	argv[argc++] = criu_lite_path();
	argv[argc++] = "dump";
	argv[argc++] = "-t";
	argv[argc++] = pidstr;
	argv[argc++] = "-D";
	argv[argc++] = ddir;
	for (; extra && *extra && argc < 30; extra++)
		argv[argc++] = *extra;
	argv[argc] = NULL;

	fd = open(d->errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	d->pid = fork();
	cr_assert_geq(d->pid, 0);
	if (d->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(fd, 2);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	track(d->pid);
	close(fd);
}

/* Exit status (-sig if a signal killed it) and stderr of a finished dumper. */
static int dumper_wait(struct dumper *d, char *err, size_t len)
{
	int st, fd;
	ssize_t n;

	long deadline = now_ms() + DUMP_TIMEOUT_MS;
	pid_t r;

	/* Criterion's own timeout would kill this test process and leave the
	 * dumper (and the target it holds) behind: give up first, and say so. */
	while ((r = waitpid(d->pid, &st, WNOHANG)) == 0 && now_ms() < deadline)
		usleep(2000);
	if (r == 0) {
		char path[64], stack[256] = "";
		int sfd;

		snprintf(path, sizeof(path), "/proc/%d/wchan", d->pid);
		sfd = open(path, O_RDONLY | O_CLOEXEC);
		if (sfd >= 0) {
			(void)!read(sfd, stack, sizeof(stack) - 1);
			close(sfd);
		}
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &st, 0);
		untrack(d->pid);
		cr_assert_fail("the dumper did not finish in %d s (wchan %s); killed",
			       DUMP_TIMEOUT_MS / 1000, stack[0] ? stack : "?");
	}
	cr_assert_eq(r, d->pid);
	untrack(d->pid);
	fd = open(d->errpath, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	n = read(fd, err, len - 1);
	err[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(d->errpath);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

static int dump_sync(const char *ddir, pid_t target, const char *const *extra, char *err,
		     size_t len)
{
	struct dumper d;

	dumper_start(&d, extra, NULL, target, ddir);
	return dumper_wait(&d, err, len);
}

/* Wait until `name` exists in ddir with at least min_size bytes, or the
 * dumper exited (then false). */
static bool wait_dump_progress(const struct dumper *d, const char *ddir, const char *name,
			       off_t min_size)
{
	long deadline = now_ms() + 60000;

	while (now_ms() < deadline) {
		siginfo_t si = { 0 };

		if (file_size(ddir, name) >= min_size)
			return true;
		/* WNOWAIT: dumper_wait() still collects the status. */
		if (!waitid(P_PID, d->pid, &si, WEXITED | WNOHANG | WNOWAIT) && si.si_pid)
			return false;
		usleep(500);
	}
	cr_assert_fail("the dump made no progress on %s in 60 s", name);
	return false;
}

/* Once the dump is under way, stop the dumper where it is, so that the
 * blow a test strikes next lands mid-copy however fast the copy runs;
 * dumper_resume lets it go on and meet it. False if the dumper finished
 * before it could be stopped (dumper_wait still collects it). */
static bool dumper_pause(const struct dumper *d, const char *ddir, const char *name,
			 off_t min_size)
{
	siginfo_t si = { 0 };

	if (!wait_dump_progress(d, ddir, name, min_size))
		return false;
	cr_assert_eq(kill(d->pid, SIGSTOP), 0);
	/* WNOWAIT: an exit stays for dumper_wait(), a stop is only looked at. */
	cr_assert_eq(waitid(P_PID, d->pid, &si, WSTOPPED | WEXITED | WNOWAIT), 0);
	return si.si_code == CLD_STOPPED;
}

static void dumper_resume(const struct dumper *d)
{
	cr_assert_eq(kill(d->pid, SIGCONT), 0);
}

static bool alive(pid_t pid)
{
	char st[64];

	/* A zombie has exited: it is not left stopped by anyone. */
	return proc_status_field(pid, "State", st, sizeof(st)) && st[0] != 'Z' && st[0] != 'X';
}

/* Run time the scheduler gave the process, in ns (first field of schedstat). */
static unsigned long long run_ns(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

/* The cgroup (v2 and v1 freezer) that pid sits in is not frozen. */
static bool cgroup_thawed(pid_t pid)
{
	char out[4096], *line, *save = NULL;
	bool ok = true;

	if (run_cmd(out, sizeof(out), "cat /proc/%d/cgroup", pid))
		return true;	/* gone meanwhile */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char path[1024], state[64] = "";
		const char *cg = strrchr(line, ':');

		if (!cg)
			continue;
		if (!strncmp(line, "0::", 3))
			snprintf(path, sizeof(path), "/sys/fs/cgroup/unified%s/cgroup.freeze", cg + 1);
		else if (strstr(line, ":freezer:"))
			snprintf(path, sizeof(path), "/sys/fs/cgroup/freezer%s/freezer.state", cg + 1);
		else
			continue;
		if (run_cmd(state, sizeof(state), "cat '%s' 2>/dev/null", path))
			continue;
		if (!strncmp(state, "1", 1) || !strncmp(state, "FROZEN", 6) ||
		    !strncmp(state, "FREEZING", 8))
			ok = false;
	}
	return ok;
}

/* The target is as the dump found it, or dead on its own: every thread
 * untraced and not stopped, its cgroup not frozen, and it still gets CPU. */
static void assert_target_released(pid_t pid, const char *what)
{
	unsigned long long t0;
	char why[128] = "";
	long deadline;

	if (!alive(pid))
		return;
	cr_assert(proc_threads_untraced(pid, true, why, sizeof(why)) || !alive(pid),
		  "%s: target %d left %s", what, pid, why);
	cr_assert(cgroup_thawed(pid) || !alive(pid), "%s: target %d left frozen", what, pid);
	t0 = run_ns(pid);
	deadline = now_ms() + WAIT_MS;
	while (alive(pid) && run_ns(pid) == t0 && now_ms() < deadline)
		usleep(1000);
	cr_assert(run_ns(pid) != t0 || !alive(pid), "%s: target %d does not run", what, pid);
}

/* A failed dump: non-zero exit (not a crash), a clear message, and nothing
 * that claims the dump is complete. */
static void assert_failed_cleanly_sig(int status, const char *err, const char *ddir,
				      const char *what, int sig)
{
	/* A dumper stopped by SIGINT/SIGTERM may, once it has cleaned up, die by
	 * that signal again so that its parent sees why (as a shell expects). */
	cr_assert(status >= 0 || -status == sig, "%s: dumper killed by signal %d\n%s", what,
		  -status, err);
	cr_assert(status != 0, "%s: dumper exited 0\n%s", what, err);
	cr_assert(strstr(err, "criu-lite: error: "), "%s: no error message:\n%s", what, err);
	cr_assert(!file_exists(ddir, "inventory.img"), "%s: inventory.img left behind", what);
	cr_assert(!file_exists(ddir, "inventory.img.tmp"), "%s: inventory.img.tmp left", what);
}

static void assert_failed_cleanly(int status, const char *err, const char *ddir,
				  const char *what)
{
	assert_failed_cleanly_sig(status, err, ddir, what, 0);
}

/* A completed dump: exit 0 and an inventory naming the target. */
static void assert_dumped(int status, const char *err, const char *ddir, pid_t pid,
			  const char *what)
{
	InventoryEntry *inv;
	int dfd;

	cr_assert_eq(status, 0, "%s: dumper exit status %d\n%s", what, status, err);
	dfd = open(ddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_read_one(dfd, IMG_INVENTORY, 0, true, (void **)&inv), 0,
		     "%s: exit 0 without a readable inventory", what);
	cr_assert_eq(inv->root_pid, (uint32_t)pid, "%s", what);
	img_free(inv);
	close(dfd);
}

/* Dump a churning target several times; each run must end one of the two
 * clean ways, and the target must come out untouched. */
static void dump_while_churning_ex(const char *mode, const char *arg, int rounds, bool may_die,
				   const char *const *extra)
{
	int ok = 0, failed = 0;

	for (int i = 0; i < rounds; i++) {
		struct target t;
		char ddir[300], err[8192], what[128];
		int st;

		start(&t, "fail_churn", mode, arg);
		static int seq;

		snprintf(ddir, sizeof(ddir), "%s/d%d", dir, seq++);
		cr_assert_eq(mkdir(ddir, 0700), 0);
		snprintf(what, sizeof(what), "%s round %d", mode, i);
		st = dump_sync(ddir, t.pid, extra, err, sizeof(err));
		if (st == 0) {
			assert_dumped(st, err, ddir, t.pid, what);
			ok++;
		} else {
			assert_failed_cleanly(st, err, ddir, what);
			cr_log_info("%s: %s", what, strstr(err, "criu-lite: error: "));
			/* A target that died on its own: the user must learn that, not
			 * a guess about something else. */
			if (!alive(t.pid))
				cr_assert(strstr(err, "exited"),
					  "%s: the target exited, the message does not say so:\n%s",
					  what, err);
			failed++;
		}
		if (!may_die)
			cr_assert(alive(t.pid), "%s: target died", what);
		assert_target_released(t.pid, what);
		stop(&t);
	}
	cr_log_info("%s: %d dumps complete, %d refused", mode, ok, failed);
}

static void dump_while_churning(const char *mode, const char *arg, int rounds, bool may_die)
{
	dump_while_churning_ex(mode, arg, rounds, may_die, NULL);
}

static const char *const snapshot_wp[] = { "--snapshot", "wp", NULL };

/* Threads are created and joined all the time: seize must catch the ones
 * born while it works, and the dump should succeed. */
Test(failure, target_creates_threads)
{
	dump_while_churning("threads", NULL, 4, false);
}

Test(failure, target_forks)
{
	dump_while_churning("fork", NULL, 4, false);
}

Test(failure, target_execs)
{
	dump_while_churning("exec", NULL, 4, false);
}

/* The process exits after a few ms of spinning threads: some dumps land
 * before, some while, the exit happens. */
Test(failure, target_exits)
{
	static const char *const delays[] = { "0", "50", "150", "300", "600" };

	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++)
		dump_while_churning("exit", delays[i], 1, true);
}

/* The target exits the moment it sees a tracer: while it is being seized. */
Test(failure, target_exits_while_seized)
{
	dump_while_churning("exit-traced", NULL, 4, true);
}

/* --snapshot wp reads memory after the thaw: memory discarded, moved or
 * unmapped before it was read, or an exec or exit, must end in a refusal
 * that says so (or a dump that read everything first), never in wrong
 * pages; the process is left as it was, no fd and no registration added. */
Test(failure, snapshot_wp_target_unmaps)
{
	dump_while_churning_ex("unmap", NULL, 4, false, snapshot_wp);
}

Test(failure, snapshot_wp_target_execs)
{
	dump_while_churning_ex("exec", NULL, 4, false, snapshot_wp);
}

Test(failure, snapshot_wp_target_exits)
{
	static const char *const delays[] = { "0", "150", "600" };

	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++)
		dump_while_churning_ex("exit", delays[i], 1, true, snapshot_wp);
}

/* An unprivileged process may not create a userfaultfd that catches the
 * kernel's writes too: --snapshot wp says so and points to fork, and the
 * process is left as it was (no fd of ours left in it). */
Test(failure, snapshot_wp_refused_for_unprivileged_target)
{
	const char *argv[] = { "/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
			       "--clear-groups", "--inh-caps=-all", target_path("fail_heap"), "1",
			       NULL };
	struct target t;
	char ddir[300], err[8192];
	int fds;
	int st;

	target_start_clean(&t, argv);
	track(t.pid);
	fds = proc_dir_count(t.pid, "fd");
	snprintf(ddir, sizeof(ddir), "%s/wp-nobody", dir);
	cr_assert_eq(mkdir(ddir, 0700), 0);
	st = dump_sync(ddir, t.pid, snapshot_wp, err, sizeof(err));
	assert_failed_cleanly(st, err, ddir, "--snapshot wp of an unprivileged process");
	cr_assert(strstr(err, "--snapshot fork"), "the refusal does not say what to use:\n%s", err);
	cr_assert(alive(t.pid));
	assert_target_released(t.pid, "--snapshot wp of an unprivileged process");
	cr_assert_eq(proc_dir_count(t.pid, "fd"), fds, "an fd was left in the target");
	stop(&t);
}

/* SIGKILL the target once the dumper is copying its memory. */
Test(failure, target_sigkilled_mid_dump)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		struct target t;
		struct dumper d;
		char ddir[300], pages[64], err[8192];
		int st;

		start(&t, "fail_heap", "256", NULL);
		snprintf(ddir, sizeof(ddir), "%s/k%d", dir, attempt);
		cr_assert_eq(mkdir(ddir, 0700), 0);
		snprintf(pages, sizeof(pages), "pages-%d.img", t.pid);
		dumper_start(&d, NULL, NULL, t.pid, ddir);
		if (!dumper_pause(&d, ddir, pages, 1 << 20)) {
			/* Finished before we could strike: check that, try again. */
			st = dumper_wait(&d, err, sizeof(err));
			assert_dumped(st, err, ddir, t.pid, "heap, no kill");
			stop(&t);
			continue;
		}
		kill(t.pid, SIGKILL);
		dumper_resume(&d);
		st = dumper_wait(&d, err, sizeof(err));
		if (st == 0 && file_exists(ddir, "inventory.img")) {
			/* The last bytes were already read when the kill landed. */
			assert_dumped(st, err, ddir, t.pid, "killed after the copy");
			stop(&t);
			continue;
		}
		assert_failed_cleanly(st, err, ddir, "target SIGKILLed mid-dump");
		stop(&t);
		return;
	}
	cr_assert_fail("the dump always finished before the kill landed");
}

/* The dumper itself is told to stop: it must detach and thaw on the way out. */
static void cg_move(const char *cg, pid_t pid)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	f = fopen(path, "we");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fprintf(f, "%d\n", pid);
	cr_assert_eq(fclose(f), 0, "cannot move %d into %s", pid, cg);
}

/* `cgroot`: put the target in a fresh cgroup of its own under it first, so
 * that the dumper uses the cgroup freezer. */
static void dumper_signalled_in(int sig, const char *const *extra, const char *cgroot)
{
	char cg[300] = "";

	if (cgroot) {
		snprintf(cg, sizeof(cg), "%s/criu-lite-test-failure-%d", cgroot, getpid());
		cr_assert_eq(mkdir(cg, 0755), 0, "mkdir %s: %s", cg, strerror(errno));
		snprintf(cgdir, sizeof(cgdir), "%s", cg);
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		struct target t;
		struct dumper d;
		char ddir[300], pages[64], err[8192], what[64];
		int st;

		snprintf(what, sizeof(what), "dumper got %s", strsignal(sig));
		start(&t, "fail_heap", "256", NULL);
		if (cg[0])
			cg_move(cg, t.pid);
		snprintf(ddir, sizeof(ddir), "%s/s%d", dir, attempt);
		cr_assert_eq(mkdir(ddir, 0700), 0);
		snprintf(pages, sizeof(pages), "pages-%d.img", t.pid);
		dumper_start(&d, extra, NULL, t.pid, ddir);
		if (!dumper_pause(&d, ddir, pages, 1 << 20)) {
			st = dumper_wait(&d, err, sizeof(err));
			assert_dumped(st, err, ddir, t.pid, what);
			stop(&t);
			continue;
		}
		kill(d.pid, sig);	/* taken as it resumes */
		dumper_resume(&d);
		st = dumper_wait(&d, err, sizeof(err));
		if (st == 0 && file_exists(ddir, "inventory.img")) {
			assert_dumped(st, err, ddir, t.pid, what);
			assert_target_released(t.pid, what);
			stop(&t);
			continue;
		}
		assert_failed_cleanly_sig(st, err, ddir, what, sig);
		cr_assert(alive(t.pid), "%s: target died", what);
		assert_target_released(t.pid, what);
		stop(&t);
		return;
	}
	cr_assert_fail("the dump always finished before the signal landed");
}

static void dumper_signalled(int sig, const char *const *extra)
{
	dumper_signalled_in(sig, extra, NULL);
}

Test(failure, dumper_sigint)
{
	dumper_signalled(SIGINT, NULL);
}

Test(failure, dumper_sigterm)
{
	dumper_signalled(SIGTERM, NULL);
}

/* With --freezer sigstop the target is SIGSTOPped: an interrupted dump must
 * still SIGCONT it. */
Test(failure, dumper_sigterm_sigstop_freezer)
{
	static const char *const extra[] = { "--freezer", "sigstop", NULL };

	dumper_signalled(SIGTERM, extra);
}

/* The target in a cgroup (v2) of its own: the dumper freezes it through the
 * cgroup, and an interrupted dump must leave that cgroup thawed. */
Test(failure, dumper_sigterm_cgroup_freezer)
{
	dumper_signalled_in(SIGTERM, NULL, "/sys/fs/cgroup/unified");
}

/* The dump directory is a 1 MiB tmpfs; the target has 8 MiB of pages. */
Test(failure, dump_dir_fills_up)
{
	struct target t;
	char ddir[300], err[8192];
	int st;

	snprintf(ddir, sizeof(ddir), "%s/small", dir);
	cr_assert_eq(mkdir(ddir, 0700), 0);
	cr_assert_eq(mount("criu-lite-test", ddir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m"), 0,
		     "mount tmpfs: %s", strerror(errno));
	start(&t, "fail_heap", "8", NULL);
	st = dump_sync(ddir, t.pid, NULL, err, sizeof(err));
	assert_failed_cleanly(st, err, ddir, "dump dir full");
	cr_assert(strstr(err, "No space left") || strstr(err, "space"),
		  "the message does not say the disk is full:\n%s", err);
	cr_assert(alive(t.pid));
	assert_target_released(t.pid, "dump dir full");
	stop(&t);
	cr_assert_eq(umount2(ddir, MNT_DETACH), 0);
}

/* A non-root user may not dump root's process: refused with a clear word,
 * the target never touched. */
Test(failure, non_root_refused_for_root_target)
{
	struct target t;
	struct dumper d;
	char ddir[300], err[8192];
	int st;

	cr_assert_eq(chmod(dir, 0755), 0);
	snprintf(ddir, sizeof(ddir), "%s/nobody", dir);
	cr_assert_eq(mkdir(ddir, 0700), 0);
	cr_assert_eq(chown(ddir, 65534, 65534), 0);
	start(&t, "fail_heap", "1", NULL);
	dumper_start(&d, NULL, "--reuid=nobody", t.pid, ddir);
	st = dumper_wait(&d, err, sizeof(err));
	assert_failed_cleanly(st, err, ddir, "nobody dumps root's process");
	cr_assert(strcasestr(err, "permi") || strcasestr(err, "privilege") ||
		  strcasestr(err, "not allowed"),
		  "the refusal does not say why:\n%s", err);
	cr_assert(alive(t.pid));
	assert_target_released(t.pid, "nobody dumps root's process");
	stop(&t);
}
