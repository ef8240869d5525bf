/* Event and notification fds through a real dump --kill and restore: the
 * restored program's next epoll_wait returns what the original's does (the
 * same target is run undumped for comparison), eventfd counts, timerfds
 * fire when they would have and keep their expirations not read, signalfd
 * takes the signals still pending. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "images/image.h"
#include "test/restore_util.h"

TestSuite(anon, .fini = rt_kill_leftovers);

/* The dumped entry of pid at fd (freed with the test's process). */
static FdEntry *image_entry(const char *img, pid_t pid, unsigned int fd)
{
	int dfd = open(img, O_RDONLY | O_DIRECTORY);
	FdEntry **e = NULL;
	size_t n = 0;

	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_read_all(dfd, IMG_FILES, pid, true, NULL, (void ***)&e, &n), 0);
	close(dfd);
	for (size_t i = 0; i < n; i++)
		if (e[i]->fd == fd)
			return e[i];
	cr_assert_fail("no fd %u in files-%d.img", fd, pid);
	return NULL;
}

/* Lines starting with one of tags, in the order the tags are given. */
static void read_tagged(struct target *out, const char *const *tags, size_t n, char (*got)[256])
{
	for (size_t seen = 0; seen < n;) {
		char line[256];

		cr_assert(target_read_line(out, line, sizeof(line), 30000),
			  "no more output after %zu of %zu lines", seen, n);
		for (size_t i = 0; i < n; i++)
			if (!strncmp(line, tags[i], strlen(tags[i])) && line[strlen(tags[i])] == ' ') {
				snprintf(got[i], sizeof(got[i]), "%s", line);
				seen++;
			}
	}
}

static void touch(const char *path)
{
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", path), 0);
}

/* Restore img in the foreground, and tell the tree to go once it runs. */
static pid_t restore_and_go(struct rt_run *r, const char *dir, const char *img, const char *go)
{
	pid_t pid;

	rt_restore_start(r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	touch(go);
	return pid;
}

static long clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static long field(const char *line, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), " %s=", key);
	p = strstr(line, k);
	cr_assert_not_null(p, "no %s in '%s'", key, line);
	return strtol(p + strlen(k), NULL, 0);
}

/* The fdinfo line `key` of the restored pid's fd. */
static void fdinfo_line(pid_t pid, int fd, const char *key, char *out, size_t len)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "grep '^%s:' /proc/%d/fdinfo/%d", key, pid, fd);
	cr_assert_eq(run_cmd(out, len, "%s", cmd), 0, "%s", cmd);
	out[strcspn(out, "\n")] = '\0';
}

Test(anon, epoll_wait_after_restore_returns_what_the_original_does)
{
	static const char *const tags[] = { "EP1", "EP2", "EPC" };
	char dir[256], img[300], go[300], err[4096], orig[3][256], back[3][256];
	struct target t;
	struct rt_run r;
	FdEntry *e;
	unsigned int moved_src = 0;

	make_tmpdir(dir, sizeof(dir), "anon-epoll");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);

	/* the original, never dumped */
	rt_start(&t, target_path("anon_epoll"), go, NULL);
	touch(go);
	read_tagged(&t, tags, 3, orig);
	rt_reap(&t);
	unlink(go);
	cr_expect_str_eq(orig[0], "EP1 11 22 34 44 45 55 77 88 aa");
	cr_expect_str_eq(orig[1], "EP2 11 44 45 55 77 88 aa");
	cr_expect_str_eq(orig[2], "EPC c1 c2");

	/* the same, dumped and restored */
	rt_start(&t, target_path("anon_epoll"), go, NULL);
	{
		pid_t pid = t.pid;
		unsigned int keep = (unsigned int)target_ready_u64(&t, "keep");

		rt_dump_kill(&t, img);
		e = image_entry(img, pid, 3);
		cr_assert_eq(e->type, FD_TYPE__FD_EPOLL);
		cr_assert_eq(e->n_epoll_src, e->n_epoll_tfds);
		/* the watch under the closed number is on the file kept at `keep` */
		for (size_t i = 0; i < e->n_epoll_tfds; i++)
			if (e->epoll_data[i] == 0x55)
				moved_src = e->epoll_src[i]->fd;
		cr_expect_eq(moved_src, keep, "watch 0x55 found at fd %u, not %u", moved_src, keep);
	}
	restore_and_go(&r, dir, img, go);
	read_tagged(&r.out, tags, 3, back);
	for (int i = 0; i < 3; i++)
		cr_expect_str_eq(back[i], orig[i]);
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(anon, eventfd_timerfd_signalfd_state_comes_back)
{
	char dir[256], img[300], go[300], err[4096], line[512], buf[128];
	struct target t;
	struct rt_run r;
	long t0, a_dump, e_dump, d_date;
	pid_t pid;
	int dfd;

	make_tmpdir(dir, sizeof(dir), "anon-timers");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("anon_timers"), go, NULL);
	pid = t.pid;
	dfd = (int)target_ready_u64(&t, "d");
	a_dump = (long)target_ready_u64(&t, "a");
	e_dump = (long)target_ready_u64(&t, "e");
	rt_dump_kill(&t, img);
	{
		const TimerfdInfo *a = image_entry(img, pid, (unsigned int)a_dump)->timerfd;
		const TimerfdInfo *e = image_entry(img, pid, (unsigned int)e_dump)->timerfd;
		const TimerfdInfo *b = image_entry(img, pid, (unsigned int)target_ready_u64(&t, "b"))->timerfd;
		const TimerfdInfo *d = image_entry(img, pid, (unsigned int)dfd)->timerfd;

		cr_assert(a && e && b && d);
		cr_assert(d->has_abs_value_ns, "the wall-clock date is not in the image");
		d_date = (long)(d->abs_value_ns / 1000000);
		a_dump = (long)(a->value_ns / 1000000);
		e_dump = (long)(e->value_ns / 1000000);
		cr_expect_eq(b->ticks, 1, "the expired periodic timer shows %llu ticks",
			     (unsigned long long)b->ticks);
		cr_expect_eq(b->value_ns, 0);
	}

	/* restored a second later: time left waited, the date did not */
	t0 = now_ms();
	while (now_ms() < t0 + 1000)
		usleep(10000);
	t0 = now_ms();
	pid = restore_and_go(&r, dir, img, go);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 30000), "no output");
	cr_assert_eq(strncmp(line, "TIMERS ", 7), 0, "%s", line);
	cr_expect_eq(field(line, "big"), 0x100000005, "%s", line);
	cr_expect_not_null(strstr(line, " sem=1,1,1,0 "), "%s", line);
	/* time left counts from the restore */
	cr_expect(field(line, "a_left") > 0 && field(line, "a_left") <= a_dump &&
		  field(line, "a_left") >= a_dump - (now_ms() - t0) - 20,
		  "a: %ld ms left at the dump, %s, %ld ms since the restore began", a_dump, line,
		  now_ms() - t0);
	cr_expect(field(line, "e_left") > 0 && field(line, "e_left") <= e_dump &&
		  field(line, "e_left") >= e_dump - (now_ms() - t0) - 20,
		  "e: %ld ms left at the dump, %s", e_dump, line);
	cr_expect_eq(field(line, "c"), 1, "the one-shot's expiration is lost: %s", line);
	cr_expect_geq(field(line, "b"), 1, "%s", line);
	cr_expect_geq(field(line, "b2"), 1, "the periodic timer stopped: %s", line);
	{
		long date = clock_ms(CLOCK_REALTIME) + field(line, "d_left");

		cr_expect(date >= d_date - 50 && date <= d_date + 500,
			  "the date moved by %ld ms: %s", date - d_date, line);
	}
	cr_expect_eq(field(line, "sig"), SIGUSR1, "the pending signal: %s", line);
	fdinfo_line(pid, dfd, "settime flags", buf, sizeof(buf));
	cr_expect_str_eq(buf, "settime flags: 03", "absolute, cancel on set: %s", buf);
	fdinfo_line(pid, dfd, "clockid", buf, sizeof(buf));
	cr_expect_str_eq(buf, "clockid: 0", "%s", buf);

	cr_assert_eq(kill(pid, SIGUSR2), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 30000), "no SIG2 line");
	cr_expect_str_eq(line, "SIG2 12");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

/* The lines of /proc/PID/fdinfo/FD that start with prefix. */
static void fdinfo_lines(pid_t pid, int fd, const char *prefix, char *out, size_t len)
{
	cr_assert_eq(run_cmd(out, len, "grep '^%s' /proc/%d/fdinfo/%d", prefix, pid, fd), 0,
		     "no %s lines in fdinfo %d of %d", prefix, fd, pid);
}

Test(anon, inotify_and_fanotify_watch_the_same_paths_after_restore)
{
	char dir[256], img[300], go[300], err[4096], line[512], want[512], w[300];
	char ino_before[2048], fan_before[2048], ino_after[2048], fan_after[2048];
	struct target t;
	struct rt_run r;
	int ino, fan, dwd, fwd;
	pid_t pid;

	make_tmpdir(dir, sizeof(dir), "anon-notify");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	snprintf(w, sizeof(w), "%s/w", dir);	/* the dump's files are not watched */
	cr_assert_eq(mkdir(w, 0700), 0);
	rt_start(&t, target_path("notify_watch"), go, w, NULL);
	ino = (int)target_ready_u64(&t, "ino");
	fan = (int)target_ready_u64(&t, "fan");
	dwd = (int)target_ready_u64(&t, "dwd");
	fwd = (int)target_ready_u64(&t, "fwd");
	cr_assert_gt(fwd, dwd + 1, "no gap in the wds");
	fdinfo_lines(t.pid, ino, "inotify", ino_before, sizeof(ino_before));
	fdinfo_lines(t.pid, fan, "fanotify", fan_before, sizeof(fan_before));
	rt_dump_kill(&t, img);

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	/* the same watches, wds, masks, inodes and marks */
	fdinfo_lines(pid, ino, "inotify", ino_after, sizeof(ino_after));
	fdinfo_lines(pid, fan, "fanotify", fan_after, sizeof(fan_after));
	cr_expect_str_eq(ino_after, ino_before);
	cr_expect_str_eq(fan_after, fan_before);

	touch(go);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 30000) && !strcmp(line, "GO"),
		  "no GO");
	cr_assert_eq(run_cmd(NULL, 0, "mkdir '%s/new' && echo x >> '%s/file'", w, w), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 40000), "no NOTIFY line");
	snprintf(want, sizeof(want), "NOTIFY create=new@%d modify=%d ignored=0 fan=1", dwd, fwd);
	cr_expect_str_eq(line, want);
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}

Test(anon, pidfds_and_namespace_fds_name_the_same_processes)
{
	char dir[256], img[300], go[300], err[4096], line[512];
	struct target t;
	struct rt_run r;
	pid_t pid, child;
	FdEntry *e;

	make_tmpdir(dir, sizeof(dir), "anon-pids");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_start(&t, target_path("anon_pids"), go, NULL);
	pid = t.pid;
	child = (pid_t)target_ready_u64(&t, "child");
	rt_dump_kill(&t, img);
	e = image_entry(img, pid, (unsigned int)target_ready_u64(&t, "dead"));
	cr_assert_eq(e->type, FD_TYPE__FD_PIDFD);
	cr_expect_eq(e->pidfd_pid, -1);
	cr_expect(e->has_pidfd_exit && e->pidfd_exit == 42 << 8, "exit status %#x",
		  e->pidfd_exit);
	e = image_entry(img, pid, (unsigned int)target_ready_u64(&t, "uts"));
	cr_assert_eq(e->type, FD_TYPE__FD_NSFS);
	cr_expect_str_eq(e->nsfs->type, "uts");
	cr_expect_eq(e->nsfs->owner, (uint32_t)child, "the uts namespace is the child's");
	for (int i = 0; i < 3000 && rt_count_comm("anon_pids"); i++)
		usleep(10000);	/* the child is restored with its pid */

	restore_and_go(&r, dir, img, go);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 30000), "no output");
	cr_expect_str_eq(line, "PIDS self=1 ns_self=1 ns_child=1 child=1 dead=1 dead_status=0x2a00 "
			 "ep=0,1");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(dir);
}
