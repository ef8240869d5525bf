/* The page sources on their own (criu-lite/memory/page_src.h), each asked
 * for a few pages of this very process and written out by the engine's
 * batch layer; what the images then hold is checked through the pagemap
 * reader. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/kerndat.h"
#include "criu-lite/incremental/parent_src.h"
#include "criu-lite/snapshot/snap_src.h"
#include "images/dump_read.h"
#include "test/helpers.h"
#include "test/pw_util.h"
#include "test/targets/mem_pattern.h"

#define PG 4096ul

static char cur_dir[256], par_dir[256];
static struct pw pw;		/* large: iovec and segment tables */
static struct live_src self;

static void cleanup(void)
{
	if (cur_dir[0])
		rm_rf(cur_dir);
	if (par_dir[0])
		rm_rf(par_dir);
	cur_dir[0] = par_dir[0] = '\0';
}

TestSuite(page_src, .init = NULL, .fini = cleanup, .timeout = 30);

/* n private anonymous pages, each filled with its own part of pattern seed. */
static uint8_t *pages(size_t n, unsigned seed)
{
	uint8_t *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	mem_pat_fill(p, n * PG, seed, 0);
	return p;
}

static struct vma anon(const uint8_t *p, size_t n)
{
	return (struct vma){ .start = (uintptr_t)p, .end = (uintptr_t)p + n * PG,
			     .prot = PROT_READ | PROT_WRITE };
}

/* The engine's loop over VMAs (mem_dump_src) without the mm image: each of
 * v[0..n) asked of src as private anonymous memory. Returns the images'
 * directory fd (dir). */
static int dump_vmas(struct page_src *src, const struct vma *v, size_t n, struct dump_stats *st,
		     char *dir, size_t len)
{
	int dirfd = pwu_open(&pw, dir, len, st);
	struct pm_ctx pc;

	cr_assert_eq(pm_init(&pc, &pw), 0);
	for (size_t i = 0; i < n; i++) {
		struct mem_vma mv = { .v = &v[i], .policy = MP_ANON };

		cr_assert_eq(src->ops->scan(src, &pc, &mv, (uint32_t)i), 0, "%s, VMA %zu",
			     src->ops->name, i);
	}
	pwu_close(&pw);
	pm_fini(&pc);
	return dirfd;
}

static void expect_page(const struct dr_pages *pm, const uint8_t *addr, const uint8_t *want,
			const char *what)
{
	uint8_t got[PG];

	cr_assert_eq(dr_pages_read(pm, (uintptr_t)addr, got, PG), 0, "%s: not in the dump", what);
	cr_assert(!memcmp(got, want, PG), "%s: other bytes", what);
}

/* --snapshot wp: the pages populated at the freeze are read live, and a
 * page saved before the process wrote it replaces what was read. */
Test(page_src, overlay_puts_saved_pages_over_live_ones)
{
	uint8_t *p = pages(8, 31), saved[PG], kind[1] = { WPK_PROTECTED };
	const struct wp_run runs[] = { { (uintptr_t)p, (uintptr_t)p + 4 * PG },
				       { (uintptr_t)p + 6 * PG, (uintptr_t)p + 7 * PG } };
	struct vma v = anon(p, 8);
	_Atomic uint64_t upto = 0;
	struct dump_stats st = { 0 };
	struct wp_src ov;
	struct dr_pages *pm;
	int fd = memfd_create("saved", MFD_CLOEXEC), dirfd;

	mem_pat_fill(saved, PG, 32, 0);
	cr_assert_eq(pwrite(fd, saved, PG, (off_t)(uintptr_t)p + PG), (ssize_t)PG);
	live_src_init(&self, getpid(), false);
	wp_src_init(&ov, &self.s, fd, kind, runs, 2, &upto);
	dirfd = dump_vmas(&ov.s, &v, 1, &st, cur_dir, sizeof(cur_dir));
	live_src_fini(&self);

	cr_assert_eq(dr_pages_open(dirfd, cur_dir, 1, &pm), 0);
	expect_page(pm, p, p, "page 0, live");
	expect_page(pm, p + PG, saved, "page 1, saved");
	expect_page(pm, p + 2 * PG, p + 2 * PG, "page 2, live");
	expect_page(pm, p + 6 * PG, p + 6 * PG, "page 6, live");
	for (int i = 4; i < 8; i += i == 5 ? 2 : 1)
		cr_assert_null(dr_pages_find(pm, (uintptr_t)p + i * PG),
			       "page %d was no run at the freeze: a hole", i);
	cr_assert_eq(st.pages_written, 5);
	cr_assert_eq(st.pages_unpopulated, 3);
	cr_assert_eq(st.pages_scanned, 8);
	cr_assert_eq(atomic_load(&upto), (uintptr_t)p + 7 * PG, "read_upto %#lx",
		     (unsigned long)atomic_load(&upto));
	dr_pages_free(pm);
	close(dirfd);
	close(fd);
	munmap(p, 8 * PG);
}

/* The frozen copy answers for the VMAs it holds, with its own data ranges
 * (holes there were never populated); the others are the source below's. */
Test(page_src, frozen_copy_gives_its_data_and_hands_down_the_rest)
{
	uint8_t *p = pages(6, 41), *q = p + 4 * PG, copy[PG];
	/* Two VMAs in address order (one mapping here, as the engine is told). */
	const struct vma v[] = { anon(p, 4), anon(q, 2) };
	const bool frozen[] = { true, false };
	struct dump_stats st = { 0 };
	struct frozen_src fz;
	struct dr_pages *pm;
	int fd = memfd_create("frozen", MFD_CLOEXEC), dirfd;

	mem_pat_fill(copy, PG, 43, 0);
	cr_assert_eq(pwrite(fd, copy, PG, (off_t)(uintptr_t)p + PG), (ssize_t)PG);
	cr_assert_eq(pwrite(fd, copy, PG, (off_t)(uintptr_t)p + 3 * PG), (ssize_t)PG);
	live_src_init(&self, getpid(), false);
	frozen_src_init(&fz, fd, frozen, &self.s);
	dirfd = dump_vmas(&fz.s, v, 2, &st, cur_dir, sizeof(cur_dir));
	live_src_fini(&self);

	cr_assert_eq(dr_pages_open(dirfd, cur_dir, 1, &pm), 0);
	expect_page(pm, p + PG, copy, "frozen page 1");
	expect_page(pm, p + 3 * PG, copy, "frozen page 3");
	cr_assert_null(dr_pages_find(pm, (uintptr_t)p), "a hole of the frozen copy stays one");
	cr_assert_null(dr_pages_find(pm, (uintptr_t)p + 2 * PG), "a hole of the frozen copy stays one");
	expect_page(pm, q, q, "the live VMA, page 0");
	expect_page(pm, q + PG, q + PG, "the live VMA, page 1");
	cr_assert_eq(st.pages_written, 4);
	cr_assert_eq(st.pages_unpopulated, 2);
	dr_pages_free(pm);
	close(dirfd);
	close(fd);
	munmap(p, 6 * PG);
}

/* Incremental by content: pages equal to the parent's become PE_PARENT,
 * a page written since is stored. */
Test(page_src, parent_marks_unchanged_pages)
{
	uint8_t *p = pages(4, 51);
	struct vma v = anon(p, 4);
	struct dump_stats st0 = { 0 }, st = { 0 };
	struct parent_src ps;
	struct dr_pages *pm;
	int pdir, dirfd;

	live_src_init(&self, getpid(), false);
	pdir = dump_vmas(&self.s, &v, 1, &st0, par_dir, sizeof(par_dir));
	cr_assert_eq(st0.pages_written, 4);
	mem_pat_fill(p + 2 * PG, PG, 52, 0);
	cr_assert_eq(parent_src_open(&ps, pdir, par_dir, 1, KD_TRACK_HASHES, &self.s), 0);
	dirfd = dump_vmas(&ps.s, &v, 1, &st, cur_dir, sizeof(cur_dir));
	parent_src_close(&ps);
	live_src_fini(&self);

	cr_assert_eq(dr_pages_open(dirfd, cur_dir, 1, &pm), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(dr_pages_find(pm, (uintptr_t)p + i * PG)->flags,
			     i == 2 ? PE_PRESENT : PE_PARENT, "page %d", i);
	expect_page(pm, p + 2 * PG, p + 2 * PG, "the page written since");
	cr_assert_eq(st.pages_parent, 3);
	cr_assert_eq(st.pages_written, 1);
	dr_pages_free(pm);
	close(dirfd);
	close(pdir);
	munmap(p, 4 * PG);
}

/* What the parent holds for pages a tracker says are unchanged: stored,
 * zero and its own PE_PARENT pages, not PE_FILE ones (those are the
 * file's as it is now) nor holes; cut to the range asked. */
Test(page_src, parent_holds_stored_zero_and_parent_pages)
{
	uint8_t *p = pages(5, 61);
	uint64_t a = (uintptr_t)p, start, stop;
	struct dump_stats st = { 0 };
	struct parent_src ps;
	int pdir;

	memset(p + 2 * PG, 0, PG);
	live_src_init(&self, getpid(), false);
	pdir = pwu_open(&pw, par_dir, sizeof(par_dir), &st);
	cr_assert_eq(pw_add_copy(&pw, a, 1, 0, &self.s, 0), 0);
	cr_assert_eq(pw_add_file(&pw, a + PG, 1, 0), 0);
	cr_assert_eq(pw_add_copy(&pw, a + 2 * PG, 1, 0, &self.s, 0), 0);
	cr_assert_eq(pw_add_parent(&pw, a + 4 * PG, 1, 0), 0);
	pwu_close(&pw);
	cr_assert_eq(st.pages_zero, 1);
	cr_assert_eq(parent_src_open(&ps, pdir, par_dir, 1, KD_TRACK_SOFT_DIRTY, &self.s), 0);

	cr_assert_eq(ps.s.ops->populated(&ps.s, a, a + 5 * PG, &start, &stop), 1);
	cr_assert(start == a && stop == a + PG, "stored page");
	cr_assert_eq(ps.s.ops->populated(&ps.s, a + PG, a + 5 * PG, &start, &stop), 1);
	cr_assert(start == a + 2 * PG && stop == a + 3 * PG, "zero page, after the file page");
	cr_assert_eq(ps.s.ops->populated(&ps.s, a + 3 * PG, a + 5 * PG, &start, &stop), 1);
	cr_assert(start == a + 4 * PG && stop == a + 5 * PG, "PE_PARENT page, after the hole");
	cr_assert_eq(ps.s.ops->populated(&ps.s, a + PG, a + 2 * PG, &start, &stop), 0,
		     "the file page alone");
	cr_assert_eq(ps.s.ops->populated(&ps.s, a + 3 * PG, a + 4 * PG, &start, &stop), 0,
		     "the hole alone");
	parent_src_close(&ps);
	live_src_fini(&self);
	close(pdir);
	munmap(p, 5 * PG);
}
