/* Files as programs hold them, dumped with --kill and restored: open file
 * descriptions shared by dup and fork (one offset, one set of flags), fs
 * info shared by CLONE_FS and an fd table by CLONE_FILES, pipes with their size and per-description
 * O_NONBLOCK, a supervisor's pipes (one passed back in with --inherit-fd,
 * one nobody uses), and a log that grew while the program was away. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/restore_util.h"

TestSuite(restore_files, .fini = rt_kill_leftovers);

struct case_dir {
	char dir[256], img[300], go[300];
};

static void case_dir(struct case_dir *c, const char *tag)
{
	make_tmpdir(c->dir, sizeof(c->dir), tag);
	snprintf(c->img, sizeof(c->img), "%s/img", c->dir);
	snprintf(c->go, sizeof(c->go), "%s/go", c->dir);
}

/* Restore in the foreground, let the target go on: its line of results
 * (its READY came before the dump). */
static void restore_and_read(struct case_dir *c, char *line, size_t len)
{
	char err[4096];
	struct rt_run r;

	rt_restore_start(&r, c->dir, "-D", c->img, NULL);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", c->go), 0);
	cr_assert(target_read_line(&r.out, line, len, 10000), "no output from the restored tree");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
}

Test(restore_files, shared_descriptions_pipes_and_cwd_stay_shared)
{
	struct case_dir c;
	char line[256];
	struct target t;

	case_dir(&c, "rst-share");
	rt_start(&t, target_path("files_share"), c.go, c.dir, NULL);
	rt_dump_kill(&t, c.img);
	for (int i = 0; i < 500 && (kill((pid_t)target_ready_u64(&t, "child"), 0) == 0 ||
				    kill((pid_t)target_ready_u64(&t, "files_child"), 0) == 0); i++)
		usleep(10000);
	restore_and_read(&c, line, sizeof(line));
	cr_expect_str_eq(line, "SHARE dup=1 sep=1 flags=1 fork=1 fs=1 files=1 nonblock=1 size=1 "
			 "data=hello");
	rm_rf(c.dir);
}

/* ---- a supervisor's pipes ---- */

struct supervised {
	struct target t;	/* out_fd: the read end of its stdout */
	int out_w;		/* the write end, ours too */
	int extra_w;		/* write end of the pipe at its fd 251 */
};

static void start_supervised(struct supervised *s, const char *go)
{
	const char *bin = target_path("files_supervised");
	int out[2], extra[2];
	char line[256];

	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(extra, O_CLOEXEC), 0);
	s->t.pid = fork();
	cr_assert_geq(s->t.pid, 0);
	if (s->t.pid == 0) {
		int null = open("/dev/null", O_RDWR);

		setpgid(0, 0);
		if (dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(null, 2) < 0 ||
		    dup2(extra[0], 251) < 0)
			_exit(126);
		syscall(SYS_close_range, 3, 250, 0);
		syscall(SYS_close_range, 252, ~0U, 0);
		execl(bin, bin, go, (char *)NULL);
		_exit(127);
	}
	rt_target = s->t.pid;
	close(extra[0]);
	s->t.out_fd = out[0];
	s->out_w = out[1];
	s->extra_w = extra[1];
	cr_assert(target_read_line(&s->t, line, sizeof(line), 10000), "no READY");
	cr_assert_eq(strncmp(line, "READY", 5), 0, "unexpected: %s", line);
}

/* The last "LINE n" queued in the pipe, once nothing more comes. */
static long drain_lines(struct target *t)
{
	char line[256];
	long last = -1;

	while (target_read_line(t, line, sizeof(line), 300))
		if (!strncmp(line, "LINE ", 5))
			last = strtol(line + 5, NULL, 10);
	return last;
}

/* criu-lite restore -d with our write end of its stdout at fd 100, passed
 * in for the pipe the dump saw there. */
static int restore_inherit(const char *dir, const char *img, int out_w, char *err, size_t len)
{
	char arg[64], pidfile[300];
	struct stat st;
	int e[2], status;
	size_t n = 0;
	ssize_t k;
	pid_t pid;

	cr_assert_eq(fstat(out_w, &st), 0);
	snprintf(arg, sizeof(arg), "fd[100]:pipe:[%llu]", (unsigned long long)st.st_ino);
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", dir);
	snprintf(pidfile, sizeof(pidfile), "%s", rt_pidfile);
	cr_assert_eq(pipe2(e, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (dup2(out_w, 100) < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
		    dup2(e[1], 2) < 0)
			_exit(126);
		execl(criu_lite_path(), criu_lite_path(), "restore", "-D", img, "-d",
		      "--pidfile", pidfile, "--inherit-fd", arg, (char *)NULL);
		_exit(127);
	}
	close(e[1]);
	while (n + 1 < len && (k = read(e[0], err + n, len - n - 1)) > 0)
		n += (size_t)k;
	err[n] = '\0';
	close(e[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Test(restore_files, supervisor_reads_on_on_its_pipe, .timeout = 60)
{
	char dir[256], img[300], go[300], pid[16], err[4096], line[256], want[64];
	struct supervised s;
	long last;
	int r;

	make_tmpdir(dir, sizeof(dir), "rst-super");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	start_supervised(&s, go);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", s.t.pid);
	/* Neither pipe's other end is in the tree: still restorable. */
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill", NULL);
	cr_assert_eq(r, 0, "dump --kill refused a supervised program: %s", err);
	cr_assert_eq(waitpid(s.t.pid, NULL, 0), s.t.pid);
	rt_target = 0;
	last = drain_lines(&s.t);
	cr_assert_geq(last, 0, "no line before the dump");
	/* Nobody writes the fd 251 pipe any more: it comes back at EOF. */
	close(s.extra_w);

	r = restore_inherit(dir, img, s.out_w, err, sizeof(err));
	cr_assert_eq(r, 0, "restore failed: %s", err);
	cr_expect(strstr(err, "fd 251") || strstr(err, "pipe:["),
		  "the unused pipe was recreated without a word: %s", err);
	snprintf(want, sizeof(want), "LINE %ld", last + 1);
	cr_assert(target_read_line(&s.t, line, sizeof(line), 10000), "nothing on the same pipe");
	cr_expect_str_eq(line, want, "lines lost or repeated across the restore");
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", go), 0);
	while (target_read_line(&s.t, line, sizeof(line), 10000) && strncmp(line, "FD251", 5))
		;
	cr_expect_str_eq(line, "FD251 eof");
	rt_kill_leftovers();
	close(s.t.out_fd);
	close(s.out_w);
	rm_rf(dir);
}

/* ---- a log that grew ---- */

Test(restore_files, append_log_that_grew_gets_the_next_line_at_its_end)
{
	char log[300], line[256], buf[256] = "";
	struct case_dir c;
	struct target t;
	FILE *f;
	size_t n;

	case_dir(&c, "rst-log");
	snprintf(log, sizeof(log), "%s/app.log", c.dir);
	rt_start(&t, target_path("files_log"), c.go, log, NULL);
	rt_dump_kill(&t, c.img);
	/* Another writer while the program was away. */
	cr_assert_eq(run_cmd(NULL, 0, "echo grown >> '%s'", log), 0);
	restore_and_read(&c, line, sizeof(line));
	cr_expect_str_eq(line, "LOG end=19");
	f = fopen(log, "re");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	cr_expect_str_eq(buf, "before\ngrown\nafter\n");
	rm_rf(c.dir);
}

/* ---- files that exist only while held ---- */

Test(restore_files, deleted_files_dirs_fifos_and_o_path_come_back, .timeout = 60)
{
	static const char *const gone[] = { "ghost", "gone", "fifo", "big", "cwd" };
	char pid[16], err[4096], line[512], want[512], path[400];
	struct case_dir c;
	struct target t;
	int r;

	case_dir(&c, "rst-ghost");
	rt_start(&t, target_path("files_ghost"), c.go, c.dir, "big", NULL);
	cr_assert_eq(mkdir(c.img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	/* 2 MiB deleted: over the default limit, refused while it still runs. */
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", c.img, "--kill", NULL);
	cr_expect_neq(r, 0, "dump --kill took a deleted file over --ghost-limit");
	cr_expect(strstr(err, "fd 9") && strstr(err, "--ghost-limit"), "unclear: %s", err);
	cr_assert_eq(kill(t.pid, 0), 0, "dump --kill killed a tree it refused");
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", c.img, "--kill",
			  "--ghost-limit", "3M", NULL);
	cr_assert_eq(r, 0, "dump --kill --ghost-limit 3M failed: %s", err);
	rt_reap(&t);
	for (int i = 0; i < 500 && kill((pid_t)target_ready_u64(&t, "child"), 0) == 0; i++)
		usleep(10000);

	restore_and_read(&c, line, sizeof(line));
	snprintf(want, sizeof(want), "GHOST file=1 hole=1 pos=1 map=1 dir=1 cwd=1 fifo=queued "
		 "path=1 dirpath=1 link=f big=%#llx", (unsigned long long)target_ready_u64(&t, "big"));
	cr_expect_str_eq(line, want);
	/* What restore made for them to open is gone again. */
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c.dir, gone[i]);
		cr_expect(access(path, F_OK), "%s was left behind", path);
	}
	rm_rf(c.dir);
}

/* ---- locks ---- */

/* What another process's F_GETLK (or F_OFD_GETLK) sees on path. */
static struct flock getlk(const char *dir, const char *name, int cmd, short type, off_t start,
			  off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fcntl(fd, cmd, &fl), 0);
	close(fd);
	return fl;
}

static bool flock_taken(const char *dir)
{
	char path[400];
	bool taken;
	int fd;

	snprintf(path, sizeof(path), "%s/flock", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	taken = flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd);
	return taken;
}

static bool lease_held_by(pid_t pid)
{
	char out[4096], want[64];

	snprintf(want, sizeof(want), "LEASE  ACTIVE    READ %d ", pid);
	cr_assert_eq(run_cmd(out, sizeof(out), "cat /proc/locks"), 0);
	return strstr(out, want);
}

Test(restore_files, locks_are_held_again_and_seen_by_others)
{
	char line[256], err[4096];
	struct case_dir c;
	struct target t;
	struct rt_run r;
	struct flock fl;
	pid_t pid;

	case_dir(&c, "rst-locks");
	rt_start(&t, target_path("files_locks"), c.go, c.dir, NULL);
	rt_dump_kill(&t, c.img);
	for (int i = 0; i < 500 && kill((pid_t)target_ready_u64(&t, "child"), 0) == 0; i++)
		usleep(10000);
	cr_assert(!flock_taken(c.dir), "the flock outlived the dumped tree");

	rt_restore_start(&r, c.dir, "-D", c.img, NULL);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	cr_expect(flock_taken(c.dir), "the flock is not held after the restore");
	fl = getlk(c.dir, "posix", F_GETLK, F_WRLCK, 10, 10);
	cr_expect(fl.l_type == F_WRLCK && fl.l_pid == pid, "POSIX write lock: type %d pid %d",
		  fl.l_type, fl.l_pid);
	fl = getlk(c.dir, "posix", F_GETLK, F_WRLCK, 5000, 1);
	cr_expect(fl.l_type == F_RDLCK && fl.l_pid == pid, "POSIX read lock to EOF: type %d pid %d",
		  fl.l_type, fl.l_pid);
	fl = getlk(c.dir, "posix", F_GETLK, F_WRLCK, 20, 80);
	cr_expect_eq(fl.l_type, F_UNLCK, "a lock where there was none");
	fl = getlk(c.dir, "ofd", F_OFD_GETLK, F_RDLCK, 0, 1);
	cr_expect(fl.l_type == F_WRLCK && fl.l_pid == -1, "OFD lock: type %d pid %d", fl.l_type,
		  fl.l_pid);
	cr_expect(lease_held_by(pid), "no read lease held by %d", pid);
	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", c.go), 0);
	cr_assert(target_read_line(&r.out, line, sizeof(line), 10000), "no output");
	cr_expect_str_eq(line, "LOCKS own=1 sig=1 child=1");
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore failed: %s", err);
	rm_rf(c.dir);
}

/* ---- memfd ---- */

/* Free huge pages, for the hugetlb memfd (none configured: not tried). */
static long huge_pages_free(void)
{
	char out[64] = "";

	run_cmd(out, sizeof(out), "awk '/HugePages_Free/ { print $2 }' /proc/meminfo");
	return strtol(out, NULL, 10);
}

Test(restore_files, memfd_contents_seals_offsets_and_shared_maps)
{
	bool huge = huge_pages_free() >= 1;
	char line[256], want[128];
	struct case_dir c;
	struct target t;

	case_dir(&c, "rst-memfd");
	rt_start(&t, target_path("files_memfd"), c.go, huge ? "huge" : "-", NULL);
	rt_dump_kill(&t, c.img);
	for (int i = 0; i < 500 && kill((pid_t)target_ready_u64(&t, "child"), 0) == 0; i++)
		usleep(10000);
	restore_and_read(&c, line, sizeof(line));
	snprintf(want, sizeof(want), "MEMFD name=1 data=1 seals=1 pos=1 map=1 child=1 huge=%s",
		 huge ? "1" : "-");
	cr_expect_str_eq(line, want);
	rm_rf(c.dir);
}

Test(restore_files, program_run_from_a_memfd_comes_back_from_one)
{
	char line[256];
	struct case_dir c;
	struct target t;

	case_dir(&c, "rst-mexec");
	rt_start(&t, target_path("files_memfd_exec"), c.go, NULL);
	rt_dump_kill(&t, c.img);
	restore_and_read(&c, line, sizeof(line));
	cr_expect_str_eq(line, "EXEC exe=/memfd:crl-exe (deleted)");
	rm_rf(c.dir);
}

Test(restore_files, fd_table_sharing_restore_cannot_recreate_is_refused_before_the_kill)
{
	char dir[256], img[300], pid[16], err[4096];
	struct target t;
	int r;

	make_tmpdir(dir, sizeof(dir), "rst-table");
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(mkdir(img, 0700), 0);
	rt_start(&t, target_path("files_table_child"), NULL);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill", NULL);
	cr_expect_neq(r, 0, "dump --kill took a tree restore would refuse");
	cr_expect(strstr(err, "CLONE_FILES") && strstr(err, "has a child"), "unclear: %s", err);
	cr_expect_eq(kill(t.pid, 0), 0, "dump --kill killed a tree it refused");
	cr_expect_eq(kill((pid_t)target_ready_u64(&t, "sharer"), 0), 0);
	rm_rf(dir);
}
