/* restore of CRIU's images. CRIU's inventory names no kernel, so restore
 * compares the dumped vdso with this kernel's, and the fixture's vdso is
 * not byte for byte this machine's: criu_craft.py host-vdso puts ours in.
 * So made, the threads fixture comes back running from its directory,
 * from checkpoint archives (plain, zstd, pages member off a page boundary)
 * and as a pre-dump chain, with its globals, its five threads and each
 * thread's ymm7 as dumped. A vdso one byte off is refused, so is the tree
 * fixture (bytes queued in a socket restore cannot requeue): one line,
 * non-zero, nothing left running. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/criu_fixtures.h"
#include "test/restore_util.h"

#define OUT_MAX (64 * 1024)

static char tmp[256];

static void setup(void)
{
	criu_fixture_bins();
	make_tmpdir(tmp, sizeof(tmp), "criu-restore");
}

static void teardown(void)
{
	rt_kill_leftovers();
	rm_rf(tmp);
}

TestSuite(criu_restore, .init = setup, .fini = teardown, .timeout = 180);

/* tmp/name: the threads fixture crafted by criu_craft.py `how`. */
static const char *crafted(const char *how, const char *name)
{
	static char dir[4][300];
	static int n;
	char *out = dir[n++ % 4];

	snprintf(out, sizeof(dir[0]), "%s/%s", tmp, name);
	cr_assert_eq(run_cmd(NULL, 0, "python3 scripts/criu_craft.py %s '%s' '%s'", how,
			     criu_fixture("threads/images"), out), 0, "criu_craft.py %s", how);
	return out;
}

/* restore -d of src, then what gdb sees in the restored process: what the
 * fixture program set before it was dumped. */
static void restored_as_dumped(const char *src)
{
	char err[4096], *out = malloc(OUT_MAX);
	pid_t pid;
	int r;

	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", tmp);
	unlink(rt_pidfile);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", src, "-d", "--pidfile", rt_pidfile,
			  NULL);
	cr_assert_eq(r, 0, "restore -D %s: exit %d: %s", src, r, err);
	cr_assert(rt_wait_pidfile(&pid), "restore -D %s wrote no pid", src);
	cr_expect(proc_untraced_running(pid), "%d is not running untraced", pid);
	cr_assert_eq(run_cmd(out, OUT_MAX, "gdb -batch -nx -p %d -ex 'info threads' "
			     "-ex 'p/x fixture_global' -ex 'p fixture_banner' "
			     "-ex 'thread apply 2 3 4 5 p $ymm7.v8_int32[0]' 2>&1", pid), 0, "%s", out);
	cr_expect_not_null(strstr(out, "= 0x1122334455667788"), "%s: %s", src, out);
	cr_expect_not_null(strstr(out, "\"criu fixture banner\""), "%s: %s", src, out);
	cr_expect_not_null(strstr(out, "\n  5 "), "%s: not five threads: %s", src, out);
	cr_expect_null(strstr(out, "\n  6 "), "%s: more than five threads: %s", src, out);
	/* Thread N parks with 0x1000 + N in every lane of ymm7. */
	for (int n = 4097; n <= 4100; n++) {
		char want[32];

		snprintf(want, sizeof(want), "= %d\n", n);
		cr_expect_not_null(strstr(out, want), "%s: no thread with ymm7 %d: %s", src, n, out);
	}
	rt_kill_wait(pid);
	unlink(rt_pidfile);
	free(out);
}

/* restore -D src fails in one line holding `want`, leaving no process of
 * the fixture's program (comm; NULL where another test of the suite may
 * run that program at the same time). */
static void refused(const char *src, const char *want, const char *comm)
{
	char err[4096];
	int r, lines = 0;

	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/pid", tmp);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", src, "-d", "--pidfile", rt_pidfile,
			  NULL);
	cr_expect(r > 0 && r < 128, "restore -D %s: exit %d: %s", src, r, err);
	for (const char *p = err; *p; p++)
		lines += *p == '\n';
	cr_expect_eq(lines, 1, "restore -D %s: not one line: %s", src, err);
	cr_expect_not_null(strstr(err, want), "restore -D %s: %s (wanted '%s')", src, err, want);
	cr_expect_neq(access(rt_pidfile, F_OK), 0, "restore -D %s wrote a pid", src);
	if (comm)
		cr_expect_eq(rt_count_comm(comm), 0, "restore -D %s left a process behind", src);
}

Test(criu_restore, directory)
{
	restored_as_dumped(crafted("host-vdso", "hv"));
}

/* The same dump as checkpoint archives: plain (members read in place),
 * zstd (unpacked in memory), and a plain one whose pages member starts
 * off a page boundary (read in place too: restore maps from the page
 * below). */
Test(criu_restore, archives)
{
	char tar[300], zst[300], shifted[300];

	crafted("host-vdso", "checkpoint");
	snprintf(tar, sizeof(tar), "%s/ck.tar", tmp);
	snprintf(zst, sizeof(zst), "%s/ck.tar.zst", tmp);
	snprintf(shifted, sizeof(shifted), "%s/shifted.tar", tmp);
	cr_assert_eq(run_cmd(NULL, 0, "tar -C '%s' -cf '%s' checkpoint && zstd -q '%s' -o '%s'",
			     tmp, tar, tar, zst), 0);
	cr_assert_eq(run_cmd(NULL, 0, "python3 scripts/criu_craft.py shift-archive '%s' '%s'",
			     tar, shifted), 0);
	restored_as_dumped(tar);
	restored_as_dumped(zst);
	restored_as_dumped(shifted);
}

/* CRIU names no kernel: a vdso that is not this kernel's byte for byte
 * is another kernel's, whose code the program's pointers would miss. */
Test(criu_restore, other_vdso_refused)
{
	refused(crafted("other-vdso", "ov"), "was dumped on another kernel (its vdso differs",
		NULL);
}

Test(criu_restore, unrestorable_refused)
{
	refused(criu_fixture("tree/images"),
		"the CRIU dump holds what criu-lite cannot restore: 10 bytes queued in sockets",
		"criu_tree");
}

/* Every other run of pages in a pre-dump, as criu pre-dump then dump
 * --prev-images-dir leave them: restored whole. */
Test(criu_restore, predump_chain)
{
	const char *hv = crafted("host-vdso", "hv");
	char split[300], dump[320];

	snprintf(split, sizeof(split), "%s/split", tmp);
	cr_assert_eq(run_cmd(NULL, 0, "python3 scripts/criu_craft.py split-parent '%s' '%s'", hv,
			     split), 0);
	snprintf(dump, sizeof(dump), "%s/dump", split);
	restored_as_dumped(dump);
}
