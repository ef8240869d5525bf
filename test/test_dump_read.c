/* The one dump reader's rules, through every verb that reads a dump: a
 * real dump of a running tree is made, one image of it is broken the way
 * a bug or a bad disk would, and convert, restore and show --mem must each
 * refuse it with one line on stderr naming what is wrong, and a failure
 * status. Nothing is left behind: no core, no restored process. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/image.h"
#include "images/log.h"
#include "test/restore_util.h"

struct fx {
	char dir[256], img[300];
	int dirfd;
	struct target t;
	pid_t pid;
};

TestSuite(dump_read, .fini = rt_fini, .timeout = 90);

/* A dump of `target` (left running), its directory open at f->dirfd. */
static void fx_dump(struct fx *f, const char *target)
{
	char pid[16], err[4096];

	log_set_level(0);
	make_tmpdir(f->dir, sizeof(f->dir), "dump-read");
	snprintf(rt_dir, sizeof(rt_dir), "%s", f->dir);
	snprintf(f->img, sizeof(f->img), "%s/img", f->dir);
	cr_assert_eq(mkdir(f->img, 0700), 0);
	rt_start(&f->t, target_path(target), NULL);
	f->pid = f->t.pid;
	snprintf(pid, sizeof(pid), "%d", f->pid);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", f->img, NULL), 0,
		     "dump failed: %s", err);
	f->dirfd = open(f->img, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(f->dirfd, 0);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void expect_one_line(const char *verb, int st, const char *err, const char *file,
			    const char *why)
{
	cr_expect(st > 0 && st < 128, "%s: exit status %d:\n%s", verb, st, err);
	cr_expect_eq(count_lines(err), 1, "%s: not one line on stderr:\n%s", verb, err);
	cr_expect(strstr(err, file) && strstr(err, why), "%s: expected '%s' and '%s' in:\n%s",
		  verb, file, why, err);
}

/* convert, restore and show --mem each refuse the dump: one line naming
 * `file` and saying `why`. */
static void expect_refused(struct fx *f, const char *file, const char *why)
{
	char err[4096], core[300];
	struct stat st;
	int r;

	snprintf(core, sizeof(core), "%s/core", f->dir);
	r = run_criu_lite(err, sizeof(err), "convert", "-D", f->img, "-o", core, NULL);
	expect_one_line("convert", r, err, file, why);
	cr_expect_neq(stat(core, &st), 0, "convert left a core");

	snprintf(rt_pidfile, sizeof(rt_pidfile), "%s/restored.pid", f->dir);
	r = run_criu_lite(err, sizeof(err), "restore", "-D", f->img, "-d", "--pidfile", rt_pidfile,
			  NULL);
	expect_one_line("restore", r, err, file, why);
	cr_expect_neq(stat(rt_pidfile, &st), 0, "restore restored something");

	r = run_criu_lite(err, sizeof(err), "show", "-D", f->img, "--mem", NULL);
	expect_one_line("show --mem", r, err, file, why);
}

static void name_of(enum img_kind kind, pid_t pid, char *buf, size_t len)
{
	cr_assert_eq(img_name(kind, pid, buf, len), 0);
}

/* Every entry of an image (for a pagemap, the head is v[0]). */
static void load(struct fx *f, enum img_kind kind, pid_t pid, void ***v, size_t *n)
{
	cr_assert_eq(img_read_all(f->dirfd, kind, pid, true,
				  kind == IMG_PAGEMAP ? &pagemap_head__descriptor : NULL, v, n), 0);
}

static void store(struct fx *f, enum img_kind kind, pid_t pid, void **v, size_t n)
{
	struct img *img = img_create(f->dirfd, kind, pid);

	cr_assert_not_null(img);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(img_write(img, v[i]), 0);
	cr_assert_eq(img_close(img), 0);
	reseal_dump(f->img);
}

/* v[0..n) written with `extra` inserted before v[at]. */
static void store_with(struct fx *f, enum img_kind kind, pid_t pid, void **v, size_t n, size_t at,
		       void *extra)
{
	void **w = calloc(n + 1, sizeof(*w));

	cr_assert_not_null(w);
	memcpy(w, v, at * sizeof(*w));
	w[at] = extra;
	memcpy(w + at + 1, v + at, (n - at) * sizeof(*w));
	store(f, kind, pid, w, n + 1);
	free(w);
}

/* Index in a pagemap (head at 0) of the first stored run. */
static size_t first_present(void **v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (((PagemapEntry *)v[i])->flags == PE_PRESENT)
			return i;
	cr_assert_fail("no stored run in the dump");
	return 0;
}

Test(dump_read, overlapping_runs)
{
	struct fx f;
	char name[64];
	void **v;
	size_t n, k;

	fx_dump(&f, "dump_family");
	load(&f, IMG_PAGEMAP, f.pid, &v, &n);
	k = first_present(v, n);
	/* The run once more right after itself: a dumper that scanned twice. */
	store_with(&f, IMG_PAGEMAP, f.pid, v, n, k + 1, v[k]);
	img_free_all(v, n);
	name_of(IMG_PAGEMAP, f.pid, name, sizeof(name));
	expect_refused(&f, name, "overlaps");
}

Test(dump_read, unaligned_pages_offset)
{
	struct fx f;
	char name[64];
	void **v;
	size_t n;

	fx_dump(&f, "dump_family");
	load(&f, IMG_PAGEMAP, f.pid, &v, &n);
	((PagemapEntry *)v[first_present(v, n)])->pages_off += 512;
	store(&f, IMG_PAGEMAP, f.pid, v, n);
	img_free_all(v, n);
	name_of(IMG_PAGEMAP, f.pid, name, sizeof(name));
	expect_refused(&f, name, "not page-aligned");
}

Test(dump_read, run_at_address_zero)
{
	PagemapEntry zero = PAGEMAP_ENTRY__INIT;
	struct fx f;
	char name[64];
	void **v;
	size_t n;

	fx_dump(&f, "dump_family");
	load(&f, IMG_PAGEMAP, f.pid, &v, &n);
	zero.vaddr = 0;
	zero.nr_pages = 1;
	zero.flags = PE_ZERO;
	store_with(&f, IMG_PAGEMAP, f.pid, v, n, 1, &zero);
	img_free_all(v, n);
	name_of(IMG_PAGEMAP, f.pid, name, sizeof(name));
	expect_refused(&f, name, "address 0");
}

Test(dump_read, run_past_the_pages_file)
{
	struct fx f;
	char name[64], path[400];
	struct stat st;

	fx_dump(&f, "dump_family");
	name_of(IMG_PAGEMAP, f.pid, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/pages-%d.img", f.img, f.pid);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(truncate(path, st.st_size - 4096), 0);
	reseal_dump(f.img);	/* past the checksum, to the rule on runs */
	expect_refused(&f, name, "past the end of the pages file");
}

Test(dump_read, vmas_out_of_order)
{
	struct fx f;
	char name[64];
	void **v, *t;
	size_t n;

	fx_dump(&f, "dump_family");
	load(&f, IMG_MM, f.pid, &v, &n);
	cr_assert_geq(n, 2);
	t = v[0], v[0] = v[1], v[1] = t;
	store(&f, IMG_MM, f.pid, v, n);
	img_free_all(v, n);
	name_of(IMG_MM, f.pid, name, sizeof(name));
	expect_refused(&f, name, "out of order");
}

Test(dump_read, pstree_without_its_root)
{
	struct fx f;
	void **v;
	size_t n;

	fx_dump(&f, "dump_family");
	load(&f, IMG_PSTREE, 0, &v, &n);
	cr_assert_eq(((PstreeEntry *)v[0])->pid, (uint32_t)f.pid);
	store(&f, IMG_PSTREE, 0, v + 1, n - 1);
	img_free_all(v, n);
	expect_refused(&f, "pstree.img", "lacks the root process");
}

Test(dump_read, pid_listed_twice)
{
	struct fx f;
	void **v;
	size_t n;

	fx_dump(&f, "dump_family");
	load(&f, IMG_PSTREE, 0, &v, &n);
	store_with(&f, IMG_PSTREE, 0, v, n, n, v[n - 1]);
	img_free_all(v, n);
	expect_refused(&f, "pstree.img", "listed twice");
}

/* A dump whose pages are in a parent dump that is itself. */
Test(dump_read, parent_chain_loop)
{
	InventoryEntry *inv;
	struct fx f;
	void **v;
	size_t n;

	fx_dump(&f, "dump_family");
	load(&f, IMG_PAGEMAP, f.pid, &v, &n);
	((PagemapEntry *)v[first_present(v, n)])->flags = PE_PARENT;
	store(&f, IMG_PAGEMAP, f.pid, v, n);
	img_free_all(v, n);
	cr_assert_eq(img_read_one(f.dirfd, IMG_INVENTORY, 0, true, (void **)&inv), 0);
	inv->parent_dir = strdup(".");
	cr_assert_eq(img_write_inventory(f.dirfd, inv), 0);
	img_free(inv);
	reseal_dump(f.img);
	expect_refused(&f, f.img, "loops back");
}

/* Cut at an entry boundary: every entry left is whole, so only a count
 * kept elsewhere tells. pstree.img against the processes stats.img counted. */
Test(dump_read, pstree_cut_at_an_entry_boundary)
{
	struct fx f;
	void **v;
	size_t n;

	fx_dump(&f, "dump_family");
	load(&f, IMG_PSTREE, 0, &v, &n);
	cr_assert_eq(n, 3);
	store(&f, IMG_PSTREE, 0, v, 1);
	img_free_all(v, n);
	expect_refused(&f, "pstree.img", "cut short");
}

/* threads-PID.img against the threads pstree.img lists (a target whose
 * two threads sleep: spinning ones would only slow a loaded machine). */
Test(dump_read, threads_cut_at_an_entry_boundary)
{
	struct fx f;
	char name[64];
	void **v;
	size_t n;

	fx_dump(&f, "dump_ticker");
	load(&f, IMG_THREADS, f.pid, &v, &n);
	cr_assert_gt(n, 1);
	store(&f, IMG_THREADS, f.pid, v, n - 1);
	img_free_all(v, n);
	name_of(IMG_THREADS, f.pid, name, sizeof(name));
	expect_refused(&f, name, "cut short");
}

/* pagemap-PID.img against its pages file, written front to back: stored
 * bytes no run points to mean runs were lost. */
Test(dump_read, pagemap_cut_at_an_entry_boundary)
{
	struct fx f;
	char name[64];
	void **v;
	size_t n, last = 0;

	fx_dump(&f, "dump_family");
	load(&f, IMG_PAGEMAP, f.pid, &v, &n);
	for (size_t i = 1; i < n; i++)
		if (((PagemapEntry *)v[i])->flags == PE_PRESENT)
			last = i;
	cr_assert_gt(last, 0);
	store(&f, IMG_PAGEMAP, f.pid, v, last);
	img_free_all(v, n);
	name_of(IMG_PAGEMAP, f.pid, name, sizeof(name));
	expect_refused(&f, name, "cut short");
}

/* The untouched dump passes the same rules (the cases above fail only for
 * what was broken). */
Test(dump_read, a_whole_dump_is_read)
{
	struct fx f;
	char err[4096], core[300];

	fx_dump(&f, "dump_family");
	snprintf(core, sizeof(core), "%s/core", f.dir);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "convert", "-D", f.img, "-o", core, NULL), 0,
		     "convert: %s", err);
	cr_assert_eq(run_criu_lite(err, sizeof(err), "show", "-D", f.img, "--mem", NULL), 0,
		     "show --mem: %s", err);
}
