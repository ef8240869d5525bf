/* Image readers against malformed files, and image writers against a hostile
 * dump directory. Every malformed file is checked twice: through the image
 * API (the right -errno, nothing handed out) and through `criu-lite show`
 * (one line on stderr, non-zero exit, no crash). Inputs the fuzzers found
 * crashing are kept here too, under fuzz_*. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "images/image.h"
#include "images/log.h"
#include "test/helpers.h"

#define MAGIC_PSTREE	0x434c0002u
#define MAGIC_PROC	0x434c0004u
#define MAGIC_PAGEMAP	0x434c0007u

/* A valid pstree_entry {pid 5, ppid 1, pgid 5, sid 5, threads [5]}. */
static const uint8_t pstree_msg[] = { 0x08, 5, 0x10, 1, 0x18, 5, 0x20, 5, 0x28, 5 };

struct bad_image {
	const char *what;
	uint8_t bytes[64];
	size_t len;
	int open_err;	/* errno from img_open, or 0 if opening must work */
	int read_err;	/* -errno from the first img_read that fails */
	int good;	/* entries read fine before that */
};

#define LE32(v) (uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((v) >> 24)
#define PSTREE_ENTRY LE32(sizeof(pstree_msg)), 0x08, 5, 0x10, 1, 0x18, 5, 0x20, 5, 0x28, 5

/* Each is written as pstree.img (the magic decides what show thinks it is). */
static const struct bad_image bad_images[] = {
	{ "empty file", { 0 }, 0, EINVAL, 0, 0 },
	{ "truncated magic", { 0x02, 0x00, 0x4c }, 3, EINVAL, 0, 0 },
	{ "wrong magic (a proc image named pstree.img)", { LE32(MAGIC_PROC), PSTREE_ENTRY }, 18,
	  EINVAL, 0, 0 },
	{ "unknown magic", { LE32(0xdeadbeefu), PSTREE_ENTRY }, 18, EINVAL, 0, 0 },
	{ "truncated entry header", { LE32(MAGIC_PSTREE), 0x0a, 0x00 }, 6, 0, -EIO, 0 },
	{ "truncated header after a good entry", { LE32(MAGIC_PSTREE), PSTREE_ENTRY, 0x0a }, 19,
	  0, -EIO, 1 },
	{ "length over IMG_MAX_ENTRY", { LE32(MAGIC_PSTREE), LE32(IMG_MAX_ENTRY + 1), 0x08, 5 },
	  10, 0, -EINVAL, 0 },
	{ "length 0xffffffff", { LE32(MAGIC_PSTREE), LE32(0xffffffffu), 0x08, 5 }, 10, 0,
	  -EINVAL, 0 },
	{ "length past end of file", { LE32(MAGIC_PSTREE), LE32(100), 0x08, 5, 0x10, 1 }, 12, 0,
	  -EIO, 0 },
	{ "length at IMG_MAX_ENTRY, file short", { LE32(MAGIC_PSTREE), LE32(IMG_MAX_ENTRY), 0x08 },
	  9, 0, -EIO, 0 },
	{ "garbage protobuf", { LE32(MAGIC_PSTREE), LE32(6), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	  14, 0, -EINVAL, 0 },
	{ "protobuf missing required fields", { LE32(MAGIC_PSTREE), LE32(2), 0x08, 5 }, 10, 0,
	  -EINVAL, 0 },
	{ "zero-length entry", { LE32(MAGIC_PSTREE), LE32(0) }, 8, 0, -EINVAL, 0 },
	{ "varint running off the entry", { LE32(MAGIC_PSTREE), LE32(3), 0x08, 0x80, 0x80 }, 11, 0,
	  -EINVAL, 0 },
	{ "length-delimited field past the entry", { LE32(MAGIC_PSTREE), LE32(4), 0x2a, 0x7f, 1, 2 },
	  12, 0, -EINVAL, 0 },
};

#define NR_BAD (sizeof(bad_images) / sizeof(bad_images[0]))

static char dir[256];
static int dfd = -1;

static void setup(void)
{
	/* The API logs each refusal: keep the suite's output readable. */
	log_set_level(0);
	dfd = make_tmpdir_fd(dir, sizeof(dir), "robust");
}

static void teardown(void)
{
	tmpdir_gone(&dfd, dir);
}

TestSuite(images_robust, .init = setup, .fini = teardown, .timeout = 30);

static void write_file(const char *name, const void *p, size_t len)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
	cr_assert_eq(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static void read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, len - 1);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	close(fd);
}

/* Read every entry; returns the first error (or 0 at a clean end) and the
 * number of entries read before it. */
static int read_entries(struct img *img, int *good)
{
	void *msg;
	int r;

	*good = 0;
	while ((r = img_read(img, NULL, &msg)) > 0) {
		cr_assert_not_null(msg);
		img_free(msg);
		(*good)++;
	}
	cr_assert_null(msg, "an entry handed out on error");
	return r;
}

Test(images_robust, valid_image_reads_back)
{
	static const uint8_t ok[] = { LE32(MAGIC_PSTREE), PSTREE_ENTRY, PSTREE_ENTRY };
	PstreeEntry *pe;
	struct img *img;
	int good;

	write_file("pstree.img", ok, sizeof(ok));
	img = img_open(dfd, IMG_PSTREE, 0, true);
	cr_assert_not_null(img);
	cr_assert_eq(img_read(img, NULL, (void **)&pe), 1);
	cr_assert_eq(pe->pid, 5);
	cr_assert_eq(pe->ppid, 1);
	cr_assert_eq(pe->n_threads, 1);
	img_free(pe);
	cr_assert_eq(read_entries(img, &good), 0);
	cr_assert_eq(good, 1);
	img_close_read(img);
}

Test(images_robust, malformed_through_api)
{
	for (size_t i = 0; i < NR_BAD; i++) {
		const struct bad_image *b = &bad_images[i];
		char path[512];
		struct img *img;
		int good, r;

		write_file("pstree.img", b->bytes, b->len);
		errno = 0;
		img = img_open(dfd, IMG_PSTREE, 0, true);
		if (b->open_err) {
			cr_assert_null(img, "%s: opened", b->what);
			cr_assert_eq(errno, b->open_err, "%s: errno %d", b->what, errno);
			snprintf(path, sizeof(path), "%s/pstree.img", dir);
			/* By path, the magic decides: only a known magic opens. */
			img = img_open_path(path);
			if (img) {
				cr_assert_neq(img_kind_of(img), IMG_PSTREE, "%s", b->what);
				img_close_read(img);
			}
			continue;
		}
		cr_assert_not_null(img, "%s: did not open: %s", b->what, strerror(errno));
		r = read_entries(img, &good);
		img_close_read(img);
		cr_assert_eq(r, b->read_err, "%s: read gave %d, want %d", b->what, r, b->read_err);
		cr_assert_eq(good, b->good, "%s: %d good entries", b->what, good);
	}
}

Test(images_robust, read_one_refuses_empty_and_missing)
{
	static const uint8_t only_magic[] = { LE32(MAGIC_PSTREE) };
	void *msg = (void *)1;

	cr_assert_eq(img_read_one(dfd, IMG_PSTREE, 0, false, &msg), -ENOENT);
	cr_assert_null(msg);
	write_file("pstree.img", only_magic, sizeof(only_magic));
	cr_assert_eq(img_read_one(dfd, IMG_PSTREE, 0, true, &msg), -EINVAL);
	cr_assert_null(msg);
}

/* A reader must not hang on a FIFO (or any non-regular file) planted at an
 * image name: open(O_RDONLY) of a FIFO blocks until a writer shows up. */
Test(images_robust, fifo_at_image_name_is_refused)
{
	char path[512];
	struct img *img;

	snprintf(path, sizeof(path), "%s/pstree.img", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	alarm(5);
	img = img_open(dfd, IMG_PSTREE, 0, true);
	cr_assert_null(img);
	img = img_open_path(path);
	cr_assert_null(img);
	alarm(0);
}

Test(images_robust, directory_at_image_name_is_refused)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/pstree.img", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_null(img_open(dfd, IMG_PSTREE, 0, true));
	cr_assert_null(img_open_path(path));
}

Test(images_robust, kind_from_name)
{
	int pid = -1;

	cr_assert_eq(img_kind_from_name("proc-42.img", &pid), IMG_PROC);
	cr_assert_eq(pid, 42);
	cr_assert_eq(img_kind_from_name("inventory.img", &pid), IMG_INVENTORY);
	cr_assert_eq(img_kind_from_name("pagemap-7.img", &pid), IMG_PAGEMAP);
	cr_assert_eq(pid, 7);
	cr_assert_eq(img_kind_from_name("proc-0.img", &pid), -1);
	cr_assert_eq(img_kind_from_name("proc-.img", &pid), -1);
	cr_assert_eq(img_kind_from_name("proc-12.img.tmp", &pid), -1);
	cr_assert_eq(img_kind_from_name("proc-12x.img", &pid), -1);
	/* pids are ints: a name that overflows one is no image of ours. */
	cr_assert_eq(img_kind_from_name("proc-4294967297.img", &pid), -1);
	/* Only the name img_name() would write: no sign, no space, no leading 0. */
	cr_assert_eq(img_kind_from_name("proc-+5.img", &pid), -1);
	cr_assert_eq(img_kind_from_name("proc- 5.img", &pid), -1);
	cr_assert_eq(img_kind_from_name("proc-05.img", &pid), -1);
}

/* --- the writer against a hostile directory --- */

static const char precious[] = "precious, must stay untouched\n";

static void plant_symlink(const char *name, char *victim, size_t len)
{
	char path[512];
	int fd;

	snprintf(victim, len, "%s/victim", dir);
	fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, precious, sizeof(precious) - 1), (ssize_t)sizeof(precious) - 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(symlink(victim, path), 0);
}

static void assert_victim_untouched(const char *victim, const char *name)
{
	char buf[256], path[512];
	struct stat st;

	read_file(victim, buf, sizeof(buf));
	cr_assert_str_eq(buf, precious, "the symlink target was written through");
	cr_assert_eq(stat(victim, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0644, "victim mode changed to %o", st.st_mode & 07777);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "%s is not a regular file", name);
	cr_assert_eq(st.st_mode & 07777, 0600, "%s has mode %o", name, st.st_mode & 07777);
}

static PstreeEntry *new_pstree(void)
{
	PstreeEntry *pe = malloc(sizeof(*pe));

	cr_assert_not_null(pe);
	pstree_entry__init(pe);
	pe->pid = 77;
	pe->ppid = 1;
	pe->pgid = 77;
	pe->sid = 77;
	return pe;
}

Test(images_robust, create_does_not_follow_planted_symlink)
{
	char victim[512];
	PstreeEntry *pe = new_pstree(), *back;
	struct img *img;

	plant_symlink("pstree.img", victim, sizeof(victim));
	img = img_create(dfd, IMG_PSTREE, 0);
	cr_assert_not_null(img, "img_create: %s", strerror(errno));
	cr_assert_eq(img_write(img, pe), 0);
	cr_assert_eq(img_close(img), 0);
	free(pe);
	assert_victim_untouched(victim, "pstree.img");
	cr_assert_eq(img_read_one(dfd, IMG_PSTREE, 0, true, (void **)&back), 0);
	cr_assert_eq(back->pid, 77);
	img_free(back);
}

Test(images_robust, create_raw_does_not_follow_planted_symlink)
{
	char victim[512];
	int fd;

	plant_symlink("pages-9.img", victim, sizeof(victim));
	fd = img_create_raw(dfd, "pages-9.img");
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "x", 1), 1);
	close(fd);
	assert_victim_untouched(victim, "pages-9.img");
}

Test(images_robust, inventory_does_not_follow_planted_symlinks)
{
	char victim[512], path[512];
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	struct stat st;

	inv.format_version = IMG_FORMAT_VERSION;
	inv.tool_version = (char *)CRIU_LITE_VERSION;
	inv.kernel_release = (char *)"test";
	plant_symlink("inventory.img.tmp", victim, sizeof(victim));
	snprintf(path, sizeof(path), "%s/inventory.img", dir);
	cr_assert_eq(symlink(victim, path), 0);
	cr_assert_eq(img_write_inventory(dfd, &inv), 0);
	assert_victim_untouched(victim, "inventory.img");
	snprintf(path, sizeof(path), "%s/inventory.img.tmp", dir);
	cr_assert_neq(lstat(path, &st), 0, "temporary inventory left behind");
}

/* A hard link planted at an image name: the old name is unlinked, so the
 * other name keeps its content. */
Test(images_robust, create_does_not_write_through_hard_link)
{
	char victim[512], path[512];
	PstreeEntry *pe = new_pstree();
	struct img *img;
	int fd;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, precious, sizeof(precious) - 1), (ssize_t)sizeof(precious) - 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/pstree.img", dir);
	cr_assert_eq(link(victim, path), 0);
	img = img_create(dfd, IMG_PSTREE, 0);
	cr_assert_not_null(img);
	cr_assert_eq(img_write(img, pe), 0);
	cr_assert_eq(img_close(img), 0);
	free(pe);
	assert_victim_untouched(victim, "pstree.img");
}

Test(images_robust, images_are_created_0600_whatever_the_umask)
{
	static const mode_t masks[] = { 0, 022, 077 };
	char path[512];
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	struct stat st;

	inv.format_version = IMG_FORMAT_VERSION;
	inv.tool_version = (char *)CRIU_LITE_VERSION;
	inv.kernel_release = (char *)"test";
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		mode_t old = umask(masks[i]);
		struct img *img = img_create(dfd, IMG_MM, 3);
		int fd = img_create_raw(dfd, "pages-3.img");

		cr_assert_not_null(img);
		cr_assert_eq(img_close(img), 0);
		cr_assert_geq(fd, 0);
		close(fd);
		cr_assert_eq(img_write_inventory(dfd, &inv), 0);
		umask(old);
		static const char *const names[] = { "mm-3.img", "pages-3.img", "inventory.img" };
		for (int n = 0; n < 3; n++) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[n]);
			cr_assert_eq(stat(path, &st), 0);
			cr_assert_eq(st.st_mode & 07777, 0600, "%s has mode %o under umask %o",
				     names[n], st.st_mode & 07777, masks[i]);
		}
	}
}

/* The writer refuses what the reader would refuse: an entry over the limit. */
Test(images_robust, write_over_limit_is_refused)
{
	ThreadEntry te = THREAD_ENTRY__INIT;
	struct img *img;
	void *msg;

	te.gpregs.len = IMG_MAX_ENTRY + 1;
	te.gpregs.data = calloc(1, te.gpregs.len);
	cr_assert_not_null(te.gpregs.data);
	img = img_create(dfd, IMG_THREADS, 4);
	cr_assert_not_null(img);
	cr_assert_eq(img_write(img, &te), -E2BIG);
	cr_assert_eq(img_close(img), -E2BIG);
	free(te.gpregs.data);
	/* The image is broken (the caller must img_abort it), but no part of
	 * the refused entry may have reached the file. */
	img = img_open(dfd, IMG_THREADS, 4, true);
	if (img) {
		cr_assert_eq(img_read(img, NULL, &msg), 0, "a refused entry reached the file");
		img_close_read(img);
	}
}

/* --- the same malformed files through `criu-lite show` --- */

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void assert_one_clear_line(int status, const char *err, const char *what)
{
	cr_assert(status > 0 && status < 128, "%s: exit status %d (crash or success)", what,
		  status);
	cr_assert_eq(count_lines(err), 1, "%s: want one line on stderr, got:\n%s", what, err);
	cr_assert(strstr(err, "criu-lite"), "%s: unclear message: %s", what, err);
}

Test(images_robust, malformed_through_show)
{
	for (size_t i = 0; i < NR_BAD; i++) {
		const struct bad_image *b = &bad_images[i];
		char path[512], err[4096];
		int st;

		write_file("pstree.img", b->bytes, b->len);
		snprintf(path, sizeof(path), "%s/pstree.img", dir);
		st = run_criu_lite(err, sizeof(err), "show", path, NULL);
		assert_one_clear_line(st, err, b->what);
	}
}

/* A dump directory with one malformed image, at a name each way of showing
 * the directory reads: the JSON document is still printed whole, the
 * reason goes to stderr, and the exit status says so. */
struct dir_case {
	const char *file;		/* where the malformed bytes go */
	const char *modes[4];		/* show -D modes that read it ("" = JSON) */
};

static const struct dir_case dir_cases[] = {
	{ "pstree.img", { "", "--ps", "--mem", "--files" } },
	{ "mm-5.img", { "", "--mem" } },
	{ "files-5.img", { "", "--files" } },
};

/* A complete dump's inventory (root 5, the pstree_msg process): summaries
 * read a dump, and a directory without one is refused before any image. */
static void write_inventory(void)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;

	inv.format_version = IMG_FORMAT_VERSION;
	inv.tool_version = (char *)CRIU_LITE_VERSION;
	inv.kernel_release = (char *)"6.18";
	inv.root_pid = 5;
	inv.page_size = 4096;
	cr_assert_eq(img_write_inventory(dfd, &inv), 0);
}

/* Hundreds of runs of show: the suite's 30 s is for one run's hang, and
 * under ASan on a busy 2-core machine these took 24-31 s together. */
Test(images_robust, malformed_in_dir_through_show, .timeout = 150)
{
	static const uint8_t ok[] = { LE32(MAGIC_PSTREE), PSTREE_ENTRY };

	write_inventory();
	for (size_t c = 0; c < sizeof(dir_cases) / sizeof(dir_cases[0]); c++) {
		const struct dir_case *dc = &dir_cases[c];

		for (size_t i = 0; i < NR_BAD; i++) {
			const struct bad_image *b = &bad_images[i];

			if (strcmp(dc->file, "pstree.img"))
				write_file("pstree.img", ok, sizeof(ok));
			write_file(dc->file, b->bytes, b->len);
			for (size_t m = 0; m < 4 && dc->modes[m]; m++) {
				const char *mode = dc->modes[m][0] ? dc->modes[m] : NULL;
				char err[4096], what[256];
				int st;

				reseal_dump(dir);
				st = run_criu_lite(err, sizeof(err), "show", "-D", dir, mode, NULL);

				snprintf(what, sizeof(what), "show -D %s with %s: %s",
					 dc->modes[m], dc->file, b->what);
				cr_assert(st > 0 && st < 128, "%s: exit status %d", what, st);
				cr_assert_geq(count_lines(err), 1, "%s: nothing said", what);
				cr_assert(strstr(err, dc->file), "%s: message names no file:\n%s",
					  what, err);
			}
			unlinkat(dfd, dc->file, 0);
		}
	}
}

Test(images_robust, show_refuses_fifo_and_missing_file)
{
	char path[512], err[4096];
	int st;

	snprintf(path, sizeof(path), "%s/pstree.img", dir);
	st = run_criu_lite(err, sizeof(err), "show", path, NULL);
	assert_one_clear_line(st, err, "missing file");
	cr_assert_eq(mkfifo(path, 0600), 0);
	st = run_criu_lite(err, sizeof(err), "show", path, NULL);
	assert_one_clear_line(st, err, "FIFO");
	st = run_criu_lite(err, sizeof(err), "show", "-D", dir, "--ps", NULL);
	assert_one_clear_line(st, err, "FIFO in dir");
}

/* A real dump into a directory where someone planted symlinks at the names
 * the dump will write: every image is created fresh (0600, even under
 * umask 0), the symlinks' target is never written. */
Test(images_robust, dump_does_not_follow_planted_symlinks)
{
	static const char *const per_pid[] = { "proc-%d.img", "threads-%d.img", "mm-%d.img",
					       "pagemap-%d.img", "pages-%d.img", "files-%d.img" };
	static const char *const fixed[] = { "inventory.img", "inventory.img.tmp", "pstree.img",
					     "stats.img" };
	char victim[512], path[600], err[8192];
	struct target t;
	struct dirent *de;
	mode_t old;
	DIR *d;
	int st, nfiles = 0;

	target_start(&t, "fail_heap", "1", NULL);
	plant_symlink(fixed[0], victim, sizeof(victim));
	for (size_t i = 1; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, fixed[i]);
		cr_assert_eq(symlink(victim, path), 0);
	}
	for (size_t i = 0; i < sizeof(per_pid) / sizeof(per_pid[0]); i++) {
		char name[64];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(name, sizeof(name), per_pid[i], t.pid);
#pragma GCC diagnostic pop
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		cr_assert_eq(symlink(victim, path), 0);
	}
	old = umask(0);
	{
		char pid[16];

		snprintf(pid, sizeof(pid), "%d", t.pid);
		st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", dir, NULL);
	}
	umask(old);
	target_kill(&t);
	cr_assert_eq(st, 0, "dump failed (%d):\n%s", st, err);
	assert_victim_untouched(victim, "inventory.img");
	d = opendir(dir);
	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, "victim"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		cr_assert_eq(lstat(path, &sb), 0);
		cr_assert(S_ISREG(sb.st_mode), "%s is not a regular file (a symlink survived?)",
			  de->d_name);
		cr_assert_eq(sb.st_mode & 07777, 0600, "%s has mode %o", de->d_name,
			     sb.st_mode & 07777);
		nfiles++;
	}
	closedir(d);
	cr_assert_geq(nfiles, 8, "only %d images written", nfiles);
	snprintf(path, sizeof(path), "%s/inventory.img.tmp", dir);
	cr_assert_neq(access(path, F_OK), 0, "inventory.img.tmp left behind");
}

/* Convert and restore open the files a dump maps by their paths. A FIFO put
 * at such a path (the file replaced after the dump) must not block them:
 * open(O_RDONLY) of a FIFO waits for a writer that never comes. */
static void dump_then_fifo_at_exe(char *exe, size_t len, char *ddir, size_t dlen)
{
	char cmd[1200], pid[16], err[8192];
	struct target t;
	int st;

	snprintf(exe, len, "%s/fail_heap_copy", dir);
	snprintf(ddir, dlen, "%s/d", dir);
	cr_assert_eq(mkdir(ddir, 0700), 0);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", target_path("fail_heap"), exe);
	cr_assert_eq(system(cmd), 0);
	{
		/* target_start runs $TARGETS/name: point it at our copy. */
		char *saved = getenv("TARGETS") ? strdup(getenv("TARGETS")) : NULL;

		setenv("TARGETS", dir, 1);
		target_start(&t, "fail_heap_copy", "1", NULL);
		if (saved) {
			setenv("TARGETS", saved, 1);
			free(saved);
		} else {
			unsetenv("TARGETS");
		}
	}
	snprintf(pid, sizeof(pid), "%d", t.pid);
	st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", ddir, NULL);
	target_kill(&t);
	cr_assert_eq(st, 0, "dump failed:\n%s", err);
	cr_assert_eq(unlink(exe), 0);
	cr_assert_eq(mkfifo(exe, 0600), 0);
}

/* criu-lite with a 15 s deadline: a hang is a failure, not a slow run. */
static int run_bounded(char *err, size_t len, const char *verb, const char *ddir,
		       const char *extra1, const char *extra2)
{
	char cmd[1500], *out = err;
	int st;

	snprintf(cmd, sizeof(cmd), "timeout -s KILL 15 '%s' %s -D '%s' %s %s 2>&1 >/dev/null",
		 criu_lite_path(), verb, ddir, extra1 ? extra1 : "", extra2 ? extra2 : "");
	st = run_cmd(out, len, "%s", cmd);
	cr_assert_neq(st, 137, "criu-lite %s hung on a FIFO (killed after 15 s):\n%s", verb, err);
	return st;
}

Test(images_robust, convert_does_not_hang_on_fifo_at_mapped_path)
{
	char exe[512], ddir[512], core[600], err[8192];
	int st;

	dump_then_fifo_at_exe(exe, sizeof(exe), ddir, sizeof(ddir));
	snprintf(core, sizeof(core), "%s/core", dir);
	st = run_bounded(err, sizeof(err), "convert", ddir, "-o", core);
	/* The file cannot be trusted: its unmodified pages stay out, with a word. */
	cr_assert(st >= 0 && st < 128, "convert crashed (%d):\n%s", st, err);
	cr_assert(strstr(err, exe), "convert says nothing about %s:\n%s", exe, err);
}

Test(images_robust, restore_refuses_fifo_at_mapped_path)
{
	char exe[512], ddir[512], err[8192];
	int st;

	dump_then_fifo_at_exe(exe, sizeof(exe), ddir, sizeof(ddir));
	st = run_bounded(err, sizeof(err), "restore", ddir, NULL, NULL);
	cr_assert(st > 0 && st < 128, "restore exit status %d:\n%s", st, err);
	cr_assert(strstr(err, exe), "restore does not name %s:\n%s", exe, err);
}

/* The target inherits no fd beyond stdio (Criterion's own would make
 * restore refuse the dump for another reason). */
static void start_clean(struct target *t, const char *name, const char *arg)
{
	const char *argv[] = { target_path(name), arg, NULL };

	target_start_clean(t, argv);
}

/* The same for the raw pages file of a dump, which convert and restore open
 * by the name the pagemap image gives. */
static void dump_then_fifo_pages(char *ddir, size_t dlen)
{
	char pid[16], err[8192], pages[600];
	struct target t;
	int st;

	snprintf(ddir, dlen, "%s/d", dir);
	cr_assert_eq(mkdir(ddir, 0700), 0);
	start_clean(&t, "fail_heap", "1");
	snprintf(pid, sizeof(pid), "%d", t.pid);
	st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", ddir, NULL);
	snprintf(pages, sizeof(pages), "%s/pages-%d.img", ddir, t.pid);
	target_kill(&t);
	cr_assert_eq(st, 0, "dump failed:\n%s", err);
	cr_assert_eq(unlink(pages), 0);
	cr_assert_eq(mkfifo(pages, 0600), 0);
}

Test(images_robust, convert_refuses_fifo_pages_file)
{
	char ddir[512], core[600], err[8192];
	int st;

	dump_then_fifo_pages(ddir, sizeof(ddir));
	snprintf(core, sizeof(core), "%s/core", dir);
	st = run_bounded(err, sizeof(err), "convert", ddir, "-o", core);
	cr_assert(st > 0 && st < 128, "convert exit status %d:\n%s", st, err);
	cr_assert(strstr(err, "pages-"), "convert does not name the pages file:\n%s", err);
	cr_assert_neq(access(core, F_OK), 0, "a core was written from a FIFO");
}

Test(images_robust, restore_refuses_fifo_pages_file)
{
	char ddir[512], pidfile[600], pidopt[700], err[8192];
	int st;

	dump_then_fifo_pages(ddir, sizeof(ddir));
	snprintf(pidfile, sizeof(pidfile), "%s/restored.pid", dir);
	snprintf(pidopt, sizeof(pidopt), "--pidfile=%s", pidfile);
	st = run_bounded(err, sizeof(err), "restore", ddir, "-d", pidopt);
	if (!access(pidfile, F_OK)) {
		char buf[32] = "";

		run_cmd(buf, sizeof(buf), "cat '%s'", pidfile);
		if (atoi(buf) > 0)
			kill(atoi(buf), SIGKILL);
	}
	cr_assert(st > 0 && st < 128, "restore exit status %d:\n%s", st, err);
	cr_assert(strstr(err, "pages-"), "restore does not name the pages file:\n%s", err);
}

/* Found by fuzz_convert: a newline inside a VMA's vmflags made convert's
 * flag scan stop in place and spin forever. Every VMA of a real dump gets
 * such flags; convert must still finish. */
Test(images_robust, fuzz_convert_vmflags_newline)
{
	char ddir[512], core[600], pid[16], err[8192];
	VmaEntry *v[512];
	struct target t;
	struct img *img;
	int ddfd, n = 0, st;

	snprintf(ddir, sizeof(ddir), "%s/d", dir);
	cr_assert_eq(mkdir(ddir, 0700), 0);
	start_clean(&t, "fail_heap", "1");
	snprintf(pid, sizeof(pid), "%d", t.pid);
	st = run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", ddir, NULL);
	target_kill(&t);
	cr_assert_eq(st, 0, "dump failed:\n%s", err);

	ddfd = open(ddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(ddfd, 0);
	img = img_open(ddfd, IMG_MM, atoi(pid), true);
	cr_assert_not_null(img);
	while (n < 512 && img_read(img, NULL, (void **)&v[n]) > 0) {
		free(v[n]->vmflags);
		v[n]->vmflags = strdup("rd\nc");
		n++;
	}
	img_close_read(img);
	cr_assert_gt(n, 0);
	img = img_create(ddfd, IMG_MM, atoi(pid));
	cr_assert_not_null(img);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(img_write(img, v[i]), 0);
		img_free(v[i]);
	}
	cr_assert_eq(img_close(img), 0);
	close(ddfd);

	snprintf(core, sizeof(core), "%s/core", dir);
	st = run_bounded(err, sizeof(err), "convert", ddir, "-o", core);
	cr_assert(st >= 0 && st < 128, "convert exit status %d:\n%s", st, err);
}
