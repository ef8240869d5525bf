/* Process state through dump --kill and restore, checked as a user would:
 * /proc of the restored processes (timers, states of the children, knobs)
 * and what the restored program itself finds once told to look (timers
 * ticking on the right thread, prctl answers, wait() statuses). And what
 * cannot come back exactly is named: a plain dump warns, dump --kill
 * refuses while the tree runs on, restore refuses unless --accept-loss. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "images/clock.h"
#include "images/image.h"
#include "test/restore_util.h"

TestSuite(procstate, .fini = rt_kill_leftovers);

/* The proc image of pid in dir (the caller frees it). */
static ProcEntry *dumped_proc(const char *dir, pid_t pid)
{
	ProcEntry *pe = NULL;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_geq(fd, 0);
	cr_assert_geq(img_read_one(fd, IMG_PROC, pid, true, (void **)&pe), 0);
	close(fd);
	return pe;
}

static const PtTimerEntry *dumped_timer(const ProcEntry *pe, int clock)
{
	for (size_t i = 0; i < pe->n_posix_timers; i++)
		if (pe->posix_timers[i]->clock == clock)
			return pe->posix_timers[i];
	cr_assert_fail("no timer on clock %d in the dump", clock);
	return NULL;
}

/* /proc/PID/timers with the pid or tid each timer notifies left out. */
static void timers_text(pid_t pid, char *out, size_t len)
{
	char path[64], line[256];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/timers", pid);
	f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *dot = strncmp(line, "notify:", 7) ? NULL : strrchr(line, '.');

		if (dot)
			strcpy(dot, "\n");
		n += snprintf(out + n, len - n, "%s", line);
	}
	fclose(f);
}

static long field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	cr_assert(p, "no %s in '%s'", key, line);
	return strtol(p + strlen(key), NULL, 10);
}

Test(procstate, posix_timers_and_itimers_come_back, .timeout = 60)
{
	char dir[256], img[300], go[300], line[512], err[4096], before[2048], after[2048];
	const PtTimerEntry *c;
	const ItimerEntry *virt;
	struct target t;
	struct rt_run r;
	ProcEntry *pe;
	long t0, left;
	pid_t pid;

	make_tmpdir(dir, sizeof(dir), "ps-timers");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("proc_timers"), go, NULL);
	pid = t.pid;
	timers_text(pid, before, sizeof(before));
	rt_dump_kill(&t, img);
	t0 = mono_ms();
	pe = dumped_proc(img, pid);
	cr_assert_eq(pe->n_posix_timers, 5, "timers dumped: %zu", pe->n_posix_timers);
	c = dumped_timer(pe, 7 /* CLOCK_BOOTTIME */);
	virt = pe->itimers[1];
	cr_assert_eq(virt->which, 1);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	timers_text(pid, after, sizeof(after));
	cr_expect_str_eq(after, before, "/proc/PID/timers differ after the restore");
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect(strstr(line, "a=1 a_val=1 b=1 "), "timers A/B do not tick right: %s", line);
	cr_expect(strstr(line, "d_off=1 e_queued=1 "), "timer D or E wrong: %s", line);
	left = field(line, "c_left_ms=");
	cr_expect(left <= (long)(c->value_ns / 1000000) &&
		  left >= (long)(c->value_ns / 1000000) - (mono_ms() - t0) - 1000,
		  "timer C has %ld ms left, %llu ms at the dump", left,
		  (unsigned long long)(c->value_ns / 1000000));
	cr_expect_eq(field(line, "c_int_ms="), 7000);
	/* CPU-time timers: no CPU went by; the kernel rounds to its tick. */
	left = field(line, "virt_left_ms=");
	cr_expect(left <= (long)(virt->value_us / 1000) + 10 &&
		  left >= (long)(virt->value_us / 1000) - 1000, "ITIMER_VIRTUAL %ld ms left, "
		  "%llu at the dump", left, (unsigned long long)(virt->value_us / 1000));
	cr_expect_eq(field(line, "virt_int_ms="), 3000);
	cr_expect_geq(field(line, "prof_left_ms="), 199000);
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	img_free(pe);
	rm_rf(dir);
}

static char state_of(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	p = strrchr(buf, ')');
	return p ? p[2] : 0;
}

static long knob(pid_t pid, const char *name)
{
	char path[64], buf[32] = "";
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		return -1;
	close(fd);
	return strtol(buf, NULL, 10);
}

/* Restored with -d: the stopped children must outlive criu-lite's exit. */
Test(procstate, stops_zombies_and_prctl_state_come_back, .timeout = 60)
{
	char dir[256], img[300], go[300], line[512], err[4096], want[512];
	struct target t, out = { 0 };
	pid_t kids[4], pid;
	struct rt_run r;
	long loginuid;

	make_tmpdir(dir, sizeof(dir), "ps-state");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("proc_state"), go, NULL);
	kids[0] = (pid_t)target_ready_u64(&t, "stopped");
	kids[1] = (pid_t)target_ready_u64(&t, "tstp");
	kids[2] = (pid_t)target_ready_u64(&t, "seven");
	kids[3] = (pid_t)target_ready_u64(&t, "termed");
	loginuid = knob(t.pid, "loginuid");
	rt_dump_kill(&t, img);
	for (int i = 0; i < 4; i++)	/* reaped by whoever inherited them */
		wait_gone(kids[i], "a killed child");

	rt_restore_start(&r, dir, "-D", img, "-d", NULL);
	out.out_fd = dup(r.out.out_fd);	/* the tree's stdout outlives criu-lite */
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	/* The dumped pids were free again (the originals were killed). */
	cr_expect_eq(state_of(kids[0]), 'T', "the SIGSTOPped child is not stopped");
	cr_expect_eq(state_of(kids[1]), 'T', "the SIGTSTPped child is not stopped");
	cr_expect_eq(state_of(kids[2]), 'Z', "the child that exited is not a zombie");
	cr_expect_eq(state_of(kids[3]), 'Z', "the child killed is not a zombie");
	cr_expect_eq(knob(pid, "oom_score_adj"), 345);
	cr_expect_eq(knob(pid, "loginuid"), loginuid);
	usleep(200 * 1000);
	cr_expect_eq(state_of(kids[0]), 'T', "the stopped child did not stay stopped");
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&out, line, sizeof(line), 10000), "no output");
	close(out.out_fd);
	snprintf(want, sizeof(want), "STATE subreaper=1 oom=345 loginuid=%ld thp=1 ksm=1 "
		 "membarrier=1 nnp=1 pdeath=%d stop=%d tstp=%d seven=7 termed=%d", loginuid,
		 SIGUSR2, SIGSTOP, SIGTSTP, SIGTERM);
	cr_expect_str_eq(line, want);
	rm_rf(dir);
}

static bool alive_untraced(pid_t pid)
{
	return kill(pid, 0) == 0 && proc_untraced_running(pid);
}

Test(procstate, a_timer_overrun_is_named_and_refused_unless_accepted, .timeout = 60)
{
	char dir[256], img[300], img2[300], err[4096], pid_s[16];
	struct target t;
	struct rt_run r;
	int overrun;
	pid_t pid;

	make_tmpdir(dir, sizeof(dir), "ps-overrun");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(img2, sizeof(img2), "%s/img2", dir);
	cr_assert_eq(mkdir(img, 0700), 0);
	rt_start(&t, target_path("proc_overrun"), NULL);
	overrun = (int)target_ready_u64(&t, "overrun");
	cr_assert_gt(overrun, 0, "the target's timer has no overrun to lose");
	snprintf(pid_s, sizeof(pid_s), "%d", t.pid);

	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid_s, "-D", img, NULL), 0,
		     "plain dump failed: %s", err);
	cr_expect(strstr(err, "restore will refuse it") && strstr(err, "timer-overrun"),
		  "a plain dump did not warn: %s", err);
	cr_assert_eq(mkdir(img2, 0700), 0);
	cr_assert_neq(run_criu_lite(err, sizeof(err), "dump", "-t", pid_s, "-D", img2, "--kill",
				    NULL), 0, "dump --kill went ahead");
	cr_expect(strstr(err, "dump --kill refused"), "%s", err);
	cr_assert(alive_untraced(t.pid), "the refused dump --kill did not leave it running");

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert_neq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore did not refuse");
	cr_expect(strstr(err, "overrun count") && strstr(err, "--accept-loss timer-overrun"),
		  "%s", err);
	target_kill(&t);
	rt_target = 0;
	rt_restore_start(&r, dir, "-D", img, "-d", "--accept-loss", "timer-overrun", NULL);
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "accepted, restore failed: %s",
		     err);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	rt_kill_wait(pid);
	rm_rf(dir);
}

/* A restorer whose own loginuid is set and that lacks CAP_AUDIT_CONTROL
 * cannot give the restored process the dumped one. */
Test(procstate, a_loginuid_that_cannot_be_set_is_refused_unless_accepted, .timeout = 60)
{
	char dir[256], img[300], go[300], errf[300], out[4096], exe[300], extra[400];
	static const char restorer[] =
		"echo 99 > /proc/self/loginuid && setpriv --bounding-set -audit_control "
		"--inh-caps -audit_control %s restore -D %s %s > /dev/null 2> %s; echo rc=$?; "
		"cat %s";
	struct target t;
	pid_t pid;

	make_tmpdir(dir, sizeof(dir), "ps-loginuid");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	snprintf(errf, sizeof(errf), "%s/err", dir);
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", dir);
	rt_copy_target("proc_state", dir, exe, sizeof(exe));
	rt_start(&t, exe, go, NULL);
	if (knob(t.pid, "loginuid") != 1234)
		cr_skip_test("the target could not set its loginuid (audit rules make it immutable)");
	rt_dump_kill(&t, img);
	for (long deadline = mono_ms() + 10000; rt_count_comm(rt_base(exe));)
		cr_assert_lt(mono_ms(), deadline, "the dumped tree did not go away");

	cr_assert_eq(run_cmd(out, sizeof(out), restorer, criu_lite_path(), img, "", errf, errf), 0);
	cr_expect(strstr(out, "rc=1") && strstr(out, "its loginuid 1234 cannot be set here") &&
		  strstr(out, "--accept-loss loginuid"), "restore did not refuse: %s", out);
	cr_expect_eq(rt_count_comm(rt_base(exe)), 0, "a refused restore left processes");

	snprintf(extra, sizeof(extra), "-d --accept-loss loginuid --pidfile %s", rt_pidfile);
	cr_assert_eq(run_cmd(out, sizeof(out), restorer, criu_lite_path(), img, extra, errf, errf),
		     0);
	cr_assert(strstr(out, "rc=0"), "accepted, restore failed: %s", out);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	cr_expect_eq(knob(pid, "loginuid"), 99, "not the restorer's loginuid");
	rt_kill_wait(pid);
	rm_rf(dir);
}

/* smaps without inode numbers (a hugetlb or aio object is a new inode). */
static void smaps_text(pid_t pid, char *out, size_t len)
{
	char path[64], line[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) && n + 1 < len) {
		char range[64], perm[8], off[32], dev[16], name[400] = "";
		unsigned long ino;

		if (sscanf(line, "%63s %7s %31s %15s %lu %399[^\n]", range, perm, off, dev, &ino,
			   name) >= 5 && strchr(range, '-'))
			n += snprintf(out + n, len - n, "%s %s %s %s\n", range, perm, off, name);
		else if (!strncmp(line, "VmFlags:", 8) || !strncmp(line, "KernelPageSize:", 15))
			n += snprintf(out + n, len - n, "%s", line);
	}
	fclose(f);
}

/* At least n free huge pages of the default size (never lowers the pool:
 * other tests may be using it). */
static void want_hugepages(long n)
{
	char out[64];
	long total, free_now;

	cr_assert_eq(run_cmd(out, sizeof(out), "cat /proc/sys/vm/nr_hugepages"), 0);
	total = atol(out);
	cr_assert_eq(run_cmd(out, sizeof(out), "cat /sys/kernel/mm/hugepages/hugepages-2048kB/"
			     "free_hugepages"), 0);
	free_now = atol(out);
	if (free_now < n)
		run_cmd(NULL, 0, "echo %ld > /proc/sys/vm/nr_hugepages", total + n - free_now);
}

Test(procstate, memory_kinds_come_back, .timeout = 60)
{
	static char before[64 * 1024], after[64 * 1024];
	char dir[256], img[300], go[300], line[512], err[4096];
	struct target t;
	struct rt_run r;
	pid_t pid;

	want_hugepages(4);
	make_tmpdir(dir, sizeof(dir), "ps-mem");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("proc_mem"), go, NULL);
	cr_assert_eq(target_ready_u64(&t, "huge"), 1, "no huge pages for the target");
	smaps_text(t.pid, before, sizeof(before));
	rt_dump_kill(&t, img);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	smaps_text(pid, after, sizeof(after));
	cr_expect_str_eq(after, before, "the mappings' flags or page sizes differ");
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect_str_eq(line, "MEM adv=1 guard=1 drop=1 huge=1 aio=1");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

/* The snapshot modes read memory after the thaw: guard regions (whose
 * markers look swapped out) and the aio ring (whose file cannot be read)
 * must not make them fail, and what they wrote must restore the same. */
Test(procstate, memory_kinds_survive_snapshot_dumps, .timeout = 90)
{
	static const char *const modes[] = { "fork", "wp" };
	char dir[256], img[2][300], go[300], line[512], err[4096], pid_s[16];
	struct target t;

	want_hugepages(4);
	make_tmpdir(dir, sizeof(dir), "ps-memsnap");
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("proc_mem"), go, NULL);
	snprintf(pid_s, sizeof(pid_s), "%d", t.pid);
	for (int m = 0; m < 2; m++) {
		snprintf(img[m], sizeof(img[m]), "%s/img-%s", dir, modes[m]);
		cr_assert_eq(mkdir(img[m], 0700), 0);
		cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid_s, "-D", img[m],
					   "--snapshot", modes[m], NULL), 0,
			     "dump --snapshot %s failed: %s", modes[m], err);
	}
	target_kill(&t);
	rt_target = 0;
	for (int m = 0; m < 2; m++) {
		struct rt_run r;

		unlink(go);
		rt_restore_start(&r, dir, "-D", img[m], NULL);
		cr_assert(rt_wait_pidfile(&t.pid), "no pidfile from the restore");
		cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
		cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
		cr_expect_str_eq(line, "MEM adv=1 guard=1 drop=1 huge=1 aio=1", "--snapshot %s",
				 modes[m]);
		cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
		unlink(rt_pidfile);
	}
	rm_rf(dir);
}
