/* criu-lite replay of real programs (issue 14): Debian's redis-server,
 * dumped while it serves, replayed while it serves on; and a job writing to
 * SQLite (Debian's libsqlite3, test/targets/sqlite_job.c) replayed beside
 * the original, each going on with its own copy of the database. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/replay_util.h"
#include "test/restore_util.h"
#include "test/sk_util.h"

static char dir[256];
static pid_t redis;

static void apps_fini(void)
{
	rp_kill_leftovers();
	rt_kill_leftovers();
	if (redis > 0) {
		kill(redis, SIGKILL);
		waitpid(redis, NULL, 0);
	}
	redis = 0;
	if (dir[0])
		rm_rf(dir);
	dir[0] = '\0';
}

TestSuite(replay_apps, .fini = apps_fini);

/* redis-cli's answer to cmd, one line. */
static char *cli(int port, const char *cmd, char *out, size_t len)
{
	cr_assert_eq(run_cmd(out, len, "redis-cli -p %d %s 2>&1", port, cmd), 0,
		     "redis-cli %s: %s", cmd, out);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

/* redis-server with no fd but /dev/null on 0-2, in a group of its own,
 * its AOF (appended to, O_APPEND) and log in dir. The AOF is written
 * before each reply (appendfsync always): with everysec, a write can wait
 * behind a busy fsync and land seconds after the reply, in the middle of
 * the test's check that the replay leaves the original's files alone (31
 * bytes of "set k5 five", and a line about it in the log). */
static void redis_start(int port)
{
	char p[16], out[256];
	int i;

	snprintf(p, sizeof(p), "%d", port);
	redis = fork();
	cr_assert_geq(redis, 0);
	if (redis == 0) {
		int null = open("/dev/null", O_RDWR);
		char logf[300];

		snprintf(logf, sizeof(logf), "%s/redis.log", dir);
		setpgid(0, 0);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir",
		       dir, "--logfile", logf,
		       "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < WAIT_MS / 20; i++) {
		if (!run_cmd(out, sizeof(out), "redis-cli -p %d ping 2>&1", port) &&
		    !strncmp(out, "PONG", 4))
			return;
		usleep(20000);
	}
	cr_assert_fail("redis-server did not answer on port %d", port);
}

struct kept {
	char path[400];
	char *buf;
	size_t len;
};

static void keep(struct kept *k, const char *fmt, const char *arg)
{
	snprintf(k->path, sizeof(k->path), fmt, dir, arg);
	k->buf = rp_slurp(k->path, &k->len);
	cr_assert_not_null(k->buf, "cannot read %s", k->path);
}

Test(replay_apps, redis_replayed_while_it_serves, .timeout = 180)
{
	char out[16384], img[300], pid_s[16], err[4096], aof[256];
	struct kept log, inc, man;
	int port = sk_free_port();
	struct rp r;

	make_tmpdir(dir, sizeof(dir), "rpredis");
	redis_start(port);
	cr_expect_str_eq(cli(port, "set k1 one", out, sizeof(out)), "OK");
	cr_expect_str_eq(cli(port, "set k2 two", out, sizeof(out)), "OK");
	cr_expect_str_eq(cli(port, "set k3 three", out, sizeof(out)), "OK");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(pid_s, sizeof(pid_s), "%d", redis);
	cr_assert_eq(mkdir(img, 0700), 0);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid_s, "-D", img, NULL), 0,
		     "dump of redis-server: %s", err);
	/* The original goes on: two keys more, appended to its AOF. */
	cr_expect_str_eq(cli(port, "set k4 four", out, sizeof(out)), "OK");
	cr_expect_str_eq(cli(port, "set k5 five", out, sizeof(out)), "OK");
	cr_assert_eq(run_cmd(aof, sizeof(aof), "ls %s/appendonlydir | grep incr", dir), 0);
	aof[strcspn(aof, "\n")] = '\0';
	keep(&log, "%s/redis.log%s", "");
	keep(&inc, "%s/appendonlydir/%s", aof);
	keep(&man, "%s/appendonlydir/%s", "appendonly.aof.manifest");

	rp_start(&r, img, NULL);
	/* A function of redis over its keyspace, and one that logs (a new
	 * open of the log by path: read-only in the replay). */
	cr_assert_eq(rp_gdb(r.root, out, sizeof(out),
			    "-ex 'print (long long)dbTotalServerKeyCount()' "
			    "-ex 'call (void)_serverLog(3, \"written by the replay\")' "
			    "-ex 'print (long long)dbTotalServerKeyCount()'"), 0, "gdb:\n%s", out);
	cr_expect(strstr(out, "$1 = 3\n"), "the replay does not hold the 3 keys dumped:\n%s", out);
	cr_expect_eq(strtol(cli(port, "dbsize", err, sizeof(err)), NULL, 10), 5,
		     "the original does not answer with its 5 keys");
	cr_expect_str_eq(cli(port, "get k5", err, sizeof(err)), "five");
	rp_expect_same(log.path, log.buf, log.len);
	rp_expect_same(inc.path, inc.buf, inc.len);
	rp_expect_same(man.path, man.buf, man.len);
	rp_end(&r);
	cr_expect_eq(strtol(cli(port, "dbsize", err, sizeof(err)), NULL, 10), 5);
	free(log.buf);
	free(inc.buf);
	free(man.buf);
}

static long read_rows(struct target *t, long want, bool *error)
{
	char line[256];
	long n = -1;

	while (n < want && target_read_line(t, line, sizeof(line), WAIT_MS)) {
		if (!strncmp(line, "ERROR", 5))
			*error = true;
		if (sscanf(line, "ROW %ld", &n) != 1 && sscanf(line, "DONE %ld", &n) == 1)
			break;
	}
	return n;
}

static ino_t inode(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s is gone", path);
	return st.st_ino;
}

/* The replay's copy of path has grown by `by` bytes (by 0: was written). */
static void wait_copy_written(pid_t root, const char *path, off_t by)
{
	struct stat st, first = { .st_size = -1 };
	char p[400];

	snprintf(p, sizeof(p), "/proc/%d/root%s", root, path);
	for (int i = 0; i < WAIT_MS / 10; i++) {
		cr_assert_eq(stat(p, &st), 0, "the replay has no %s", path);
		if (first.st_size < 0)
			first = st;
		else if (by ? st.st_size >= first.st_size + by :
			 st.st_mtim.tv_nsec != first.st_mtim.tv_nsec ||
			 st.st_mtim.tv_sec != first.st_mtim.tv_sec)
			return;
		usleep(10000);
	}
	cr_assert_fail("the replay did not write its copy of %s", path);
}

Test(replay_apps, sqlite_job_replayed_beside_the_original, .timeout = 180)
{
	char db[300], stopf[300], img[300], pid_s[16], err[4096], out[1024];
	static const char *const suffix[] = { "", "-wal", "-shm" };
	struct kept k[3];
	ino_t ino[3];
	bool error = false;
	struct target t;
	long n;
	struct rp r;

	make_tmpdir(dir, sizeof(dir), "rpsqlite");
	snprintf(db, sizeof(db), "%s/job.db", dir);
	snprintf(stopf, sizeof(stopf), "%s/stop", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(mkdir(img, 0700), 0);
	rt_start(&t, target_path("sqlite_job"), db, stopf, NULL);
	n = read_rows(&t, 20, &error);
	/* Held still for the dump and the first compare only: the copy starts
	 * from the files as dumped, and no writer but the replay could have
	 * changed them meanwhile. */
	kill(t.pid, SIGSTOP);
	snprintf(pid_s, sizeof(pid_s), "%d", t.pid);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid_s, "-D", img, NULL), 0,
		     "dump: %s", err);
	for (int i = 0; i < 3; i++) {
		keep(&k[i], "%s/job.db%s", suffix[i]);
		ino[i] = inode(k[i].path);
	}
	rp_start(&r, img, NULL);
	kill(r.root, SIGCONT);
	wait_copy_written(r.root, k[1].path, 20 * (4096 + 24));
	for (int i = 0; i < 3; i++)
		rp_expect_same(k[i].path, k[i].buf, k[i].len);
	/* Both go on, each with its files: had they one database, both would
	 * insert the same row ids, and one would fail. */
	kill(t.pid, SIGCONT);
	n = read_rows(&t, n + 100, &error);
	wait_copy_written(r.root, k[1].path, 0);
	rp_end(&r);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(inode(k[i].path), ino[i], "%s was replaced", k[i].path);
		free(k[i].buf);
	}
	cr_assert_eq(close(open(stopf, O_CREAT | O_WRONLY, 0644)), 0);
	n = read_rows(&t, 1L << 40, &error);
	cr_expect(!error, "the original met an error while the replay ran");
	cr_assert_eq(run_cmd(out, sizeof(out), "sqlite3 %s 'select count(*), max(id) from t; "
			     "pragma integrity_check'", db), 0);
	snprintf(err, sizeof(err), "%ld|%ld\nok\n", n, n);
	cr_expect_str_eq(out, err, "the original's table is not its %ld rows", n);
}
