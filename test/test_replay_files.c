/* A replay's files as of the dump (issue 14): a program holds a file open
 * O_RDWR and maps another MAP_SHARED (test/targets/replay_rewrite.c); it
 * is dumped while it runs, then rewrites both in place (not an append: a
 * pwrite at offset 0, a store through the mapping, whose page is already
 * dirty, so no timestamp moves). Its replay reads the bytes of the dump
 * through its fd and its mapping, in every dump mode; what the replay
 * writes reaches its copies only. A copy flipped or cut is refused in one
 * line; a file over --file-copy-limit is said at the dump and at the
 * replay, and read as it is at the replay; show --files lists them. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/replay_util.h"
#include "test/restore_util.h"

static char dir[256];

static void fini(void)
{
	rp_kill_leftovers();
	rt_kill_leftovers();
	if (dir[0])
		rm_rf(dir);
	dir[0] = '\0';
}

TestSuite(replay_files, .fini = fini);

struct job {
	struct target t;
	char a[300], b[300], img[300], pid_s[16];
};

/* a_size bytes of a (random: nothing to share with a hole), 4 KiB of b. */
static void job_start(struct job *j, size_t a_size)
{
	char cmd[700], out[256];

	make_tmpdir(dir, sizeof(dir), "rpfiles");
	snprintf(j->a, sizeof(j->a), "%s/db", dir);
	snprintf(j->b, sizeof(j->b), "%s/shared.data", dir);
	snprintf(j->img, sizeof(j->img), "%s/img", dir);
	snprintf(cmd, sizeof(cmd), "head -c %zu /dev/urandom > %s && head -c 4096 /dev/zero > %s",
		 a_size, j->a, j->b);
	cr_assert_eq(run_cmd(out, sizeof(out), "%s", cmd), 0);
	cr_assert_eq(mkdir(j->img, 0700), 0);
	rt_start(&j->t, target_path("replay_rewrite"), j->a, j->b, NULL);
	snprintf(j->pid_s, sizeof(j->pid_s), "%d", j->t.pid);
}

/* The original writes generation 2 into both files, in place. */
static void rewrite(struct job *j)
{
	char line[128];

	cr_assert_eq(kill(j->t.pid, SIGUSR1), 0);
	cr_assert(target_read_line(&j->t, line, sizeof(line), WAIT_MS), "no REWRITTEN");
	cr_assert_str_eq(line, "REWRITTEN g=2");
}

static long first_word(const char *path)
{
	long v = -1;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "cannot open %s", path);
	cr_assert_eq(pread(fd, &v, sizeof(v), 0), (ssize_t)sizeof(v));
	close(fd);
	return v;
}

/* What the replay reads through its fd (pread) and its mapping, and the
 * original's files after the replay wrote its own (generation 9). */
static void expect_replay_reads(struct rp *r, struct job *j, long a, long b)
{
	char out[16384], want[64];
	size_t a_len, b_len;
	char *a_before = rp_slurp(j->a, &a_len), *b_before = rp_slurp(j->b, &b_len);

	cr_assert(a_before && b_before);
	cr_assert_eq(rp_gdb(r->root, out, sizeof(out), "-ex 'print read_a()' "
			    "-ex 'print map_b[0]' -ex 'print rewrite(9)' -ex 'print read_a()' "
			    "-ex 'print map_b[0]'"), 0, "gdb:\n%s", out);
	snprintf(want, sizeof(want), "$1 = %ld\n", a);
	cr_expect(strstr(out, want), "the replay's fd does not read %ld:\n%s", a, out);
	snprintf(want, sizeof(want), "$2 = %ld\n", b);
	cr_expect(strstr(out, want), "the replay's mapping does not hold %ld:\n%s", b, out);
	cr_expect(strstr(out, "$3 = 0\n") && strstr(out, "$4 = 109\n") && strstr(out, "$5 = 209\n"),
		  "the replay could not write its files:\n%s", out);
	rp_expect_same(j->a, a_before, a_len);
	rp_expect_same(j->b, b_before, b_len);
	free(a_before);
	free(b_before);
}

static void dump_running(struct job *j, char *err, size_t len, const char *a1, const char *a2)
{
	int st = run_criu_lite(err, len, "dump", "-t", j->pid_s, "-D", j->img, a1, a2, NULL);

	cr_assert_eq(st, 0, "dump failed: %s", err);
}

/* Dumped in one mode, rewritten, replayed: the dump's bytes. */
static void as_of_the_dump(const char *a1, const char *a2)
{
	char err[4096];
	struct job j;
	struct rp r;

	job_start(&j, 64 << 10);
	dump_running(&j, err, sizeof(err), a1, a2);
	rewrite(&j);
	cr_assert_eq(first_word(j.a), 102);
	cr_assert_eq(first_word(j.b), 202);
	rp_start(&r, j.img, NULL);
	expect_replay_reads(&r, &j, 101, 201);
	rp_end(&r);
	cr_expect_eq(first_word(j.a), 102, "the replay wrote the original's file");
	cr_expect_eq(first_word(j.b), 202, "the replay wrote the original's mapped file");
}

Test(replay_files, plain_dump, .timeout = 120)
{
	as_of_the_dump(NULL, NULL);
}

Test(replay_files, snapshot_fork, .timeout = 120)
{
	as_of_the_dump("--snapshot", "fork");
}

Test(replay_files, snapshot_wp, .timeout = 120)
{
	as_of_the_dump("--snapshot", "wp");
}

/* Not rewritten: the live files are as dumped (the fd's from itself). */
Test(replay_files, unchanged_files, .timeout = 120)
{
	char err[4096];
	struct job j;
	struct rp r;

	job_start(&j, 64 << 10);
	dump_running(&j, err, sizeof(err), NULL, NULL);
	rp_start(&r, j.img, NULL);
	expect_replay_reads(&r, &j, 101, 201);
	rp_end(&r);
}

/* The copy of the 64 KiB file (its size tells it from the 4 KiB one). */
static void copy_of_a(const struct job *j, char path[400])
{
	char out[64];

	cr_assert_eq(run_cmd(out, sizeof(out), "cd %s && for f in fcopy-*.data; do "
			     "[ $(stat -c %%s $f) = 65536 ] && echo $f; done; true", j->img), 0);
	out[strcspn(out, "\n")] = '\0';
	cr_assert(out[0], "no copy of %s in %s", j->a, j->img);
	snprintf(path, 400, "%.300s/%.60s", j->img, out);
}

static void expect_refused(const struct job *j, const char *what)
{
	char err[4096];
	int st = run_criu_lite(err, sizeof(err), "restore", "-D", j->img, "--replay", "-d", NULL);

	cr_expect_neq(st, 0, "a replay of a %s copy ran", what);
	cr_expect_eq(rt_error_lines(err), 1, "not one line for a %s copy:\n%s", what, err);
	cr_expect(strstr(err, "fcopy-"), "the line does not name the copy:\n%s", err);
}

Test(replay_files, corrupt_copy_refused, .timeout = 120)
{
	char err[4096], copy[400];
	struct job j;
	long v;
	int fd;

	job_start(&j, 64 << 10);
	dump_running(&j, err, sizeof(err), NULL, NULL);
	rewrite(&j);
	copy_of_a(&j, copy);
	fd = open(copy, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &v, sizeof(v), 40000), (ssize_t)sizeof(v));
	v ^= 1;
	cr_assert_eq(pwrite(fd, &v, sizeof(v), 40000), (ssize_t)sizeof(v));
	close(fd);
	expect_refused(&j, "flipped");
	cr_assert_eq(truncate(copy, 4096), 0);
	expect_refused(&j, "cut");
}

Test(replay_files, over_the_limit_is_said, .timeout = 120)
{
	char err[4096], want[400], out[8192];
	struct job j;
	struct rp r;

	job_start(&j, 1 << 20);
	dump_running(&j, err, sizeof(err), "--file-copy-limit", "64K");
	snprintf(want, sizeof(want), "%s (1048576 bytes) not copied: over the limit", j.a);
	cr_expect(strstr(err, want), "the dump did not say it left %s out:\n%s", j.a, err);
	cr_expect_null(strstr(err, j.b), "the dump left %s out:\n%s", j.b, err);
	/* show lists both, the one left out with why. */
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' show -D '%s' --files", criu_lite_path(),
			     j.img), 0, "%s", out);
	snprintf(want, sizeof(want), "1048576  not copied       %s\n", j.a);
	cr_expect(strstr(out, want) && strstr(out, "(over the limit)"),
		  "show does not list %s as left out:\n%s", j.a, out);
	snprintf(want, sizeof(want), "4096  fcopy-");
	cr_expect(strstr(out, want) && strstr(out, " (mapped shared)"),
		  "show does not list the copy of %s:\n%s", j.b, out);
	rewrite(&j);
	rp_start(&r, j.img, NULL);
	snprintf(want, sizeof(want), "%s was not copied at the dump (over the limit)", j.a);
	cr_expect(strstr(rp_said, want), "the replay did not say so:\n%s", rp_said);
	/* Over the limit: as the replay found it. The mapped file fit. */
	expect_replay_reads(&r, &j, 102, 201);
	rp_end(&r);
}
