/* restore refusals: corrupt or incomplete images, a changed executable,
 * privately mapped file or open file, pids taken with --same-pids, an fd kind restore
 * cannot recreate, pages missing halfway: each fails with a clear message
 * and a failure status, and leaves no restored process behind. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test/restore_util.h"

TestSuite(restore_refuses, .fini = rt_kill_leftovers);

struct refusal {
	char dir[256], img[300], bin[300], file[300], go[300];
	struct target t;
};

static void refusal_dump(struct refusal *f, const char *target, bool with_data)
{
	make_tmpdir(f->dir, sizeof(f->dir), "rst-refuse");
	snprintf(f->img, sizeof(f->img), "%s/img", f->dir);
	snprintf(f->file, sizeof(f->file), "%s/file", f->dir);
	snprintf(f->go, sizeof(f->go), "%s/go", f->dir);
	rt_copy_target(target, f->dir, f->bin, sizeof(f->bin));
	if (with_data)
		cr_assert_eq(run_cmd(NULL, 0, "head -c 8192 /dev/zero | tr '\\0' F > '%s'", f->file), 0);
	rt_start(&f->t, f->bin, f->file, with_data ? f->go : "slow", NULL);
	if (!with_data)
		cr_assert_geq(rt_wait_lines(f->file, 5), 5);
	rt_dump_kill(&f->t, f->img);
}

static void expect_refused(struct refusal *f, const char *why)
{
	char err[4096];
	int r;

	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", f->dir);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", f->img, "-d", "--pidfile", rt_pidfile,
			  NULL);

	cr_expect_neq(r, 0, "restore succeeded where it should refuse");
	cr_expect(strstr(err, why), "expected '%s' in: %s", why, err);
	cr_expect_eq(rt_count_comm(rt_base(f->bin)), 0, "a restored process was left behind");
	rt_kill_leftovers();
	rm_rf(f->dir);
}

static void img_path(struct refusal *f, const char *fmt, char *out, size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), fmt, f->t.pid);
	snprintf(out, len, "%s/%s", f->img, name);
}

Test(restore_refuses, incomplete_dump_without_inventory)
{
	struct refusal f;
	char path[400];

	refusal_dump(&f, "restore_counter", false);
	img_path(&f, "inventory.img", path, sizeof(path));
	cr_assert_eq(unlink(path), 0);
	expect_refused(&f, "no inventory.img");
}

Test(restore_refuses, corrupt_image)
{
	struct refusal f;
	char path[400];
	int fd;

	refusal_dump(&f, "restore_counter", false);
	img_path(&f, "mm-%d.img", path, sizeof(path));
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "\xff\xff\xff\x7f garbage", 12, 4), 12);
	close(fd);
	expect_refused(&f, "mm-");
}

Test(restore_refuses, changed_executable)
{
	struct refusal f;

	refusal_dump(&f, "restore_counter", false);
	cr_assert_eq(run_cmd(NULL, 0, "echo extra >> '%s'", f.bin), 0);
	expect_refused(&f, "executable");
}

Test(restore_refuses, changed_mapped_file)
{
	struct refusal f;

	refusal_dump(&f, "restore_mapped", true);
	/* Same size, other bytes (and mtime). */
	cr_assert_eq(run_cmd(NULL, 0, "printf G | dd of='%s' conv=notrunc status=none", f.file), 0);
	expect_refused(&f, "modified since the dump");
}

/* Its offset past the new end: it would go on where nothing was. (A file
 * that grew is taken as it is: test_restore_files.c.) */
Test(restore_refuses, output_file_that_shrank_below_its_offset)
{
	struct refusal f;

	refusal_dump(&f, "restore_counter", false);
	cr_assert_eq(truncate(f.file, 3), 0);
	expect_refused(&f, "past the new end");
}

Test(restore_refuses, taken_pid_with_same_pids)
{
	char dir[256], img[300], bin[300], file[300], pid[16], err[4096];
	struct target t;
	int r;

	make_tmpdir(dir, sizeof(dir), "rst-samepid");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(file, sizeof(file), "%s/count.txt", dir);
	rt_copy_target("restore_counter", dir, bin, sizeof(bin));
	rt_start(&t, bin, file, "slow", NULL);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	/* Left running: its pid stays taken. */
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, NULL), 0,
		     "dump failed: %s", err);
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", dir);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", img, "-d", "--same-pids",
			  "--pidfile", rt_pidfile, NULL);
	cr_expect_neq(r, 0);
	cr_expect(strstr(err, pid) && strstr(err, "in use"), "unclear message: %s", err);
	cr_expect_eq(rt_count_comm(rt_base(bin)), 1, "only the original should run");
	target_kill(&t);
	rt_target = 0;
	rm_rf(dir);
}

Test(restore_refuses, unsupported_fd_named)
{
	char dir[256], img[300], bin[300], go[300], err[4096], pid[16];
	struct target t;
	int r;

	make_tmpdir(dir, sizeof(dir), "rst-uring");
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	rt_copy_target("restore_fds", dir, bin, sizeof(bin));
	rt_start(&t, bin, go, dir, "uring", NULL);
	/* dump --kill asks first, names the fd and leaves the target running */
	snprintf(img, sizeof(img), "%s/refused", dir);
	cr_assert_eq(mkdir(img, 0700), 0);
	snprintf(pid, sizeof(pid), "%d", t.pid);
	r = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", img, "--kill", NULL);
	cr_expect_neq(r, 0, "dump --kill of a tree restore refuses succeeded");
	cr_expect(strstr(err, "fd 8") && strstr(err, "io_uring"), "unclear message: %s", err);
	cr_expect_eq(kill(t.pid, 0), 0, "dump --kill killed a tree it refused");
	cr_expect(access(strcat(img, "/inventory.img"), F_OK), "a refused dump left an inventory");
	snprintf(img, sizeof(img), "%s/img", dir);
	rt_dump_then_kill(&t, img);
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", dir);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", img, "-d", "--pidfile", rt_pidfile, NULL);
	cr_expect_neq(r, 0);
	/* eventfd 3, epoll 4, dir 5, fifo 6, file 7: the io_uring fd is 8 */
	cr_expect(strstr(err, "fd 8") && strstr(err, "io_uring"), "unclear message: %s", err);
	cr_expect_eq(rt_count_comm(rt_base(bin)), 0, "a restored process was left behind");
	rm_rf(dir);
}

Test(restore_refuses, truncated_pages_kill_the_half_built_tree)
{
	struct refusal f;
	char path[400];

	refusal_dump(&f, "restore_counter", false);
	img_path(&f, "pages-%d.img", path, sizeof(path));
	cr_assert_eq(truncate(path, 4096), 0);
	expect_refused(&f, "pages");
}
