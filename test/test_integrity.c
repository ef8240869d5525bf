/* Integrity and privilege (issue 15) on real dumps: a bit flip in any file
 * of a dump, or a cut at an entry boundary, is refused by show, convert and
 * restore with one line; a symlinked pages file is refused; a dump written
 * before checksums still restores; a dump a user owns restores as that
 * user with no capabilities, whatever its creds say. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/image.h"
#include "images/log.h"
#include "test/restore_util.h"

struct fx {
	char dir[256], img[300], bad[300];
	struct target t;
	pid_t pid;
};

TestSuite(integrity, .fini = rt_fini, .timeout = 120);

static void fx_dump(struct fx *f)
{
	char pid[16], err[4096];

	log_set_level(0);
	make_tmpdir(f->dir, sizeof(f->dir), "integrity");
	snprintf(rt_dir, sizeof(rt_dir), "%s", f->dir);
	snprintf(f->img, sizeof(f->img), "%s/img", f->dir);
	snprintf(f->bad, sizeof(f->bad), "%s/bad", f->dir);
	cr_assert_eq(mkdir(f->img, 0700), 0);
	rt_start(&f->t, target_path("dump_family"), NULL);
	f->pid = f->t.pid;
	snprintf(pid, sizeof(pid), "%d", f->pid);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", f->img, NULL), 0,
		     "dump failed: %s", err);
}

/* f->bad: a fresh copy of the good dump. */
static void fx_copy(struct fx *f)
{
	cr_assert_eq(run_cmd(NULL, 0, "rm -rf '%s' && cp -a '%s' '%s'", f->bad, f->img, f->bad),
		     0);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void expect_one_line(const char *verb, int st, const char *err, const char *what)
{
	cr_expect(st > 0 && st < 128, "%s: exit status %d:\n%s", verb, st, err);
	cr_expect_eq(count_lines(err), 1, "%s: not one line on stderr:\n%s", verb, err);
	cr_expect(strstr(err, what), "%s: expected '%s' in:\n%s", verb, what, err);
}

/* Children of this test process other than its target: what a restore
 * left behind is reparented here (the test is their subreaper). */
static int stray_children(pid_t target)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0;

	cr_assert(d);
	while ((de = readdir(d))) {
		char path[300], buf[512], *p;
		int ppid = 0;
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || atoi(de->d_name) == target)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		/* "pid (comm) state ppid": comm may hold spaces and parentheses */
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
			sscanf(p + 1, " %*c %d", &ppid);
		fclose(f);
		n += ppid == getpid();
	}
	closedir(d);
	return n;
}

/* show --ps, convert and restore each refuse f->bad, naming `what`. */
static void expect_refused(struct fx *f, const char *what)
{
	char err[4096], core[300];
	struct stat st;
	int r;

	r = run_criu_lite(err, sizeof(err), "show", "-D", f->bad, "--ps", NULL);
	expect_one_line("show --ps", r, err, what);
	snprintf(core, sizeof(core), "%s/core", f->dir);
	r = run_criu_lite(err, sizeof(err), "convert", "-D", f->bad, "-o", core, NULL);
	expect_one_line("convert", r, err, what);
	cr_expect_neq(stat(core, &st), 0, "convert left a core");
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/restored.pid", f->dir);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", f->bad, "-d", "--pidfile", rt_pidfile,
			  NULL);
	expect_one_line("restore", r, err, what);
	cr_expect_neq(stat(rt_pidfile, &st), 0, "restore restored something");
	/* pages are hashed while restore fills memory: whatever it built on
	 * them before the verdict is gone, never let run */
	cr_expect_eq(stray_children(f->pid), 0, "restore left processes of the dump (%s)", what);
}

static void flip(const char *dir, const char *name, off_t at, uint8_t bit)
{
	char path[600];
	uint8_t b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(pread(fd, &b, 1, at), 1);
	b ^= bit;
	cr_assert_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static off_t size_of(const char *dir, const char *name)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return st.st_size;
}

/* Every file of the dump (every image kind and the pages files), a bit
 * flipped in its middle: each is refused, naming the file. */
Test(integrity, a_bit_flip_in_any_file_is_refused)
{
	struct dirent **names;
	struct fx f;
	int n, kinds = 0;

	fx_dump(&f);
	n = scandir(f.img, &names, NULL, alphasort);
	cr_assert_gt(n, 0);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;

		if (name[0] != '.') {
			fx_copy(&f);
			flip(f.bad, name, size_of(f.bad, name) / 2, 0x20);
			expect_refused(&f, name);
			kinds++;
		}
		free(names[i]);
	}
	free(names);
	cr_expect_geq(kinds, 9, "the dump holds every kind of file");
}

/* A frame's length, at off. */
static uint32_t frame_len(const char *dir, const char *name, off_t off)
{
	char path[600];
	uint32_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &len, sizeof(len), off), (ssize_t)sizeof(len));
	close(fd);
	return len;
}

/* The last entry of an image cut off, every entry left whole: refused. */
static void cut_last_entry(struct fx *f, const char *name)
{
	off_t size = size_of(f->bad, name), off = 4, last = -1;
	char path[600];

	while (off < size) {
		last = off;
		off += 4 + frame_len(f->bad, name, off);
	}
	cr_assert_eq(off, size, "%s is whole frames", name);
	cr_assert_gt(last, 4, "%s has more than one entry", name);
	snprintf(path, sizeof(path), "%s/%s", f->bad, name);
	cr_assert_eq(truncate(path, last), 0);
}

Test(integrity, a_cut_at_an_entry_boundary_is_refused)
{
	char name[64];
	struct fx f;

	fx_dump(&f);
	snprintf(name, sizeof(name), "mm-%d.img", f.pid);
	fx_copy(&f);
	cut_last_entry(&f, name);
	expect_refused(&f, name);
	fx_copy(&f);
	cut_last_entry(&f, "pstree.img");
	expect_refused(&f, "pstree.img");
	snprintf(name, sizeof(name), "files-%d.img", f.pid);
	fx_copy(&f);
	cut_last_entry(&f, name);
	expect_refused(&f, name);
	/* the pages file, by a page */
	snprintf(name, sizeof(name), "pages-%d.img", f.pid);
	fx_copy(&f);
	cr_assert_eq(run_cmd(NULL, 0, "truncate -s -4096 '%s/%s'", f.bad, name), 0);
	expect_refused(&f, name);
}

Test(integrity, a_symlinked_pages_file_is_refused)
{
	char name[64];
	struct fx f;

	fx_dump(&f);
	fx_copy(&f);
	snprintf(name, sizeof(name), "pages-%d.img", f.pid);
	cr_assert_eq(run_cmd(NULL, 0, "cd '%s' && mv %s ../elsewhere && ln -s ../elsewhere %s",
			     f.bad, name, name), 0);
	expect_refused(&f, name);
}

/* inventory.img as criu-lite wrote it before checksums: the entry alone. */
static void write_old_inventory(const char *dir)
{
	InventoryEntry *inv;
	uint32_t magic = img_magic(IMG_INVENTORY), len;
	char path[600];
	uint8_t *buf;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), fd;

	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_read_one(dfd, IMG_INVENTORY, 0, true, (void **)&inv), 0);
	cr_assert(inv->has_sum_algo && inv->n_sums > 0, "a new dump lists its sums");
	inv->has_sum_algo = 0;
	for (size_t i = 0; i < inv->n_sums; i++)
		img_free(inv->sums[i]);
	inv->n_sums = 0;
	len = (uint32_t)inventory_entry__get_packed_size(inv);
	buf = malloc(len);
	cr_assert_not_null(buf);
	inventory_entry__pack(inv, buf);
	snprintf(path, sizeof(path), "%s/inventory.img", dir);
	fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, &magic, 4), 4);
	cr_assert_eq(write(fd, &len, 4), 4);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	free(buf);
	img_free(inv);
	close(dfd);
}

/* The dumped tree killed, f->bad restored in its place (-d): its root. */
static pid_t fx_restore_bad(struct fx *f)
{
	char err[4096];

	kill(f->pid, SIGKILL);
	rt_target = 0;
	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/restored.pid", f->dir);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "restore", "-D", f->bad, "-d", "--pidfile",
				   rt_pidfile, NULL), 0, "%s", err);
	return rt_read_pidfile(rt_pidfile);
}

Test(integrity, a_dump_without_checksums_still_restores)
{
	char err[4096];
	struct fx f;
	pid_t pid;

	fx_dump(&f);
	fx_copy(&f);
	write_old_inventory(f.bad);
	cr_expect_eq(run_criu_lite(err, sizeof(err), "show", "-D", f.bad, "--ps", NULL), 0,
		     "%s", err);
	cr_expect_leq(count_lines(err), 1, "%s", err);
	cr_expect(strstr(err, "without checksums"), "%s", err);
	pid = fx_restore_bad(&f);
	cr_expect_eq(kill(pid, 0), 0, "the restored root runs");
	rt_kill_wait(pid);
}

/* Root restoring a dump a user owns (an admin restoring a user's
 * checkpoint): the images say uid 0 and every capability (the target ran
 * as root), the tree comes back as the owner, with none. */
Test(integrity, a_user_owned_dump_restores_as_its_owner)
{
	char uid[128], cap[64];
	struct fx f;
	pid_t pid;

	fx_dump(&f);
	fx_copy(&f);
	cr_assert_eq(run_cmd(NULL, 0, "chown -R 65534:65534 '%s'", f.bad), 0);
	pid = fx_restore_bad(&f);
	cr_assert(proc_status_field(pid, "Uid", uid, sizeof(uid)), "the restored root is gone");
	cr_assert(proc_status_field(pid, "CapEff", cap, sizeof(cap)));
	rt_kill_wait(pid);
	cr_expect_str_eq(uid, "65534\t65534\t65534\t65534");
	cr_expect_str_eq(cap, "0000000000000000");
}
