/* The SQLite scenario of issue 13, as a user would run it: a job writing to
 * SQLite in WAL mode (test/targets/sqlite_job.c, Debian's libsqlite3) is
 * dumped with --kill; a reader (Debian's sqlite3) opens the database while
 * the job is away and stays; the job is restored. The job must hold its
 * locks again (other processes see them), so that the reader, closing,
 * knows it is not alone and deletes nothing; the job goes on committing
 * into the same files; every row it committed is in the table, which
 * passes integrity_check. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/restore_util.h"

static void sqlite_fini(void);

TestSuite(restore_sqlite, .fini = sqlite_fini);

/* sqlite3 on db, reading SQL from us on in, answering on out. */
struct reader {
	pid_t pid;
	int in;
	struct target out;	/* out_fd only */
};

static pid_t reader_pid;

static void reader_start(struct reader *r, const char *db)
{
	int in[2], out[2];

	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	r->pid = fork();
	cr_assert_geq(r->pid, 0);
	if (r->pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
			_exit(126);
		execlp("sqlite3", "sqlite3", db, (char *)NULL);
		_exit(127);
	}
	reader_pid = r->pid;
	close(in[0]);
	close(out[1]);
	r->in = in[1];
	memset(&r->out, 0, sizeof(r->out));
	r->out.out_fd = out[0];
}

static long reader_count(struct reader *r)
{
	static const char q[] = "select count(*) from t;\n";
	char line[256];

	cr_assert_eq(write(r->in, q, strlen(q)), (ssize_t)strlen(q));
	cr_assert(target_read_line(&r->out, line, sizeof(line), 10000), "the reader did not answer");
	return strtol(line, NULL, 10);
}

/* .quit, and its exit status. */
static int reader_quit(struct reader *r)
{
	int st;

	cr_assert_eq(write(r->in, ".quit\n", 6), 6);
	close(r->in);
	cr_assert_eq(waitpid(r->pid, &st, 0), r->pid);
	reader_pid = 0;
	close(r->out.out_fd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static ino_t inode(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : st.st_ino;
}

/* Lines of /proc/locks held by pid on inode ino. */
static int locks_of(pid_t pid, ino_t ino)
{
	char line[256], want[64];
	FILE *f = fopen("/proc/locks", "re");
	int n = 0;

	cr_assert_not_null(f);
	snprintf(want, sizeof(want), " %d ", pid);
	while (fgets(line, sizeof(line), f)) {
		char *dev = strstr(line, want);

		if (strstr(line, "POSIX") && dev &&
		    strtoull(strrchr(strtok(dev + strlen(want), " "), ':') + 1, NULL, 10) == ino)
			n++;
	}
	fclose(f);
	return n;
}

/* Read "ROW n" lines until one at least `want` (or "DONE n"): its n. */
static long rows_until(struct target *out, long want, bool done)
{
	char line[256];

	while (target_read_line(out, line, sizeof(line), 20000)) {
		cr_assert(strncmp(line, "ERROR", 5), "the job failed: %s", line);
		if (done && !strncmp(line, "DONE ", 5))
			return strtol(line + 5, NULL, 10);
		if (!done && !strncmp(line, "ROW ", 4) && strtol(line + 4, NULL, 10) >= want)
			return strtol(line + 4, NULL, 10);
	}
	cr_assert_fail("the job stopped talking (waiting for %s %ld)", done ? "DONE" : "ROW", want);
	return -1;
}

static void sql(const char *db, const char *q, char *out, size_t len)
{
	cr_assert_eq(run_cmd(out, len, "sqlite3 '%s' '%s'", db, q), 0, "sqlite3 %s failed", q);
	out[strcspn(out, "\n")] = '\0';
}

Test(restore_sqlite, wal_job_keeps_its_locks_and_every_row, .timeout = 120)
{
	char dir[256], img[300], db[300], wal[320], shm[320], stop[300], err[4096], out[256];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 128, .l_len = 1 };
	struct reader rd;
	struct target t;
	struct rt_run r;
	long before, seen, done;
	pid_t pid;
	int fd;

	make_tmpdir(dir, sizeof(dir), "rst-sqlite");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(db, sizeof(db), "%s/jobs.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(shm, sizeof(shm), "%s-shm", db);
	snprintf(stop, sizeof(stop), "%s/stop", dir);
	rt_start(&t, target_path("sqlite_job"), db, stop, NULL);
	before = rows_until(&t, 100, false);
	rt_dump_kill(&t, img);

	/* The job is away: a reader comes, counts, and stays. */
	reader_start(&rd, db);
	seen = reader_count(&rd);
	cr_assert_geq(seen, before, "rows the job printed as committed are missing");

	rt_restore_start(&r, dir, "-D", img, NULL);
	cr_assert(rt_wait_pidfile(&pid), "no pidfile from the restore");
	cr_expect_geq(locks_of(pid, inode(shm)), 1, "the job holds no lock on %s", shm);
	cr_expect_geq(locks_of(pid, inode(db)), 1, "the job holds no lock on %s", db);
	rows_until(&r.out, seen + 50, false);

	/* The reader leaves: with the job's locks held it is not the last
	 * connection, so it checkpoints and deletes nothing. */
	cr_assert_eq(reader_quit(&rd), 0);
	cr_expect_eq(access(wal, F_OK), 0, "the reader deleted %s under the running job", wal);
	cr_expect_eq(access(shm, F_OK), 0, "the reader deleted %s under the running job", shm);
	fd = open(shm, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fcntl(fd, F_GETLK, &fl), 0);
	close(fd);
	cr_expect(fl.l_type == F_RDLCK && fl.l_pid == pid,
		  "F_GETLK on the wal-index: type %d pid %d, not the job's read lock", fl.l_type,
		  fl.l_pid);
	rows_until(&r.out, seen + 100, false);

	cr_assert_eq(run_cmd(NULL, 0, "touch '%s'", stop), 0);
	done = rows_until(&r.out, 0, true);
	cr_assert_eq(rt_restore_finish(&r, err, sizeof(err)), 0, "restore or job failed: %s", err);
	sql(db, "pragma integrity_check", out, sizeof(out));
	cr_expect_str_eq(out, "ok");
	sql(db, "select count(*) || \" \" || max(id) from t", out, sizeof(out));
	snprintf(err, sizeof(err), "%ld %ld", done, done);
	cr_expect_str_eq(out, err, "the job committed %ld rows", done);
	rm_rf(dir);
}

/* With what restore_util kills, a reader left by a failed assertion. */
static void sqlite_fini(void)
{
	if (reader_pid > 0) {
		kill(reader_pid, SIGKILL);
		waitpid(reader_pid, NULL, 0);
	}
	rt_kill_leftovers();
}
