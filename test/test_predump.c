/* pre-dump, then dump --track-mem --prev-images-dir: a target writes known
 * values at known addresses in between; the dump must store exactly those
 * pages of the region and mark the rest PE_PARENT, and convert (gdb on the
 * core) and restore (the restored process's memory) must see old and new
 * values alike through the parent chain. Every way of tracking is run:
 * the one this kernel has, and comparing contents. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "images/image.h"
#include "images/dump_read.h"
#include "test/helpers.h"
#include "test/restore_util.h"
#include "test/targets/mem_pattern.h"

#define PG 4096ull
#define NEWVAL 0x1122334455667788ull

static char base[256];

static void cleanup(void)
{
	rt_kill_leftovers();
	if (base[0])
		rm_rf(base);
	base[0] = '\0';
}

TestSuite(predump, .fini = cleanup, .timeout = 90);

struct setup {
	struct target t;
	uint64_t region, holes;
	char pid[16], pre[300], inc[300];
};

static void sub(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", base, name);
	cr_assert_eq(mkdir(out, 0700), 0);
}

static void criu(const char *what, ...)
{
	const char *argv[16] = { 0 };
	char err[8192];
	int argc = 0, rc;
	va_list ap;

	va_start(ap, what);
	while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	rc = run_criu_lite(err, sizeof(err), argv[0], argv[1], argv[2], argv[3], argv[4], argv[5],
			   argv[6], argv[7], argv[8], argv[9], NULL);
	cr_assert_eq(rc, 0, "%s failed: %s", what, err);
}

/* Target up, pre-dump into pre, the target's writes; inc made, empty. */
static void run_predump_only(struct setup *s)
{
	char line[256];

	make_tmpdir(base, sizeof(base), "predump");
	rt_start(&s->t, target_path("predump_pages"), NULL);
	s->region = target_ready_u64(&s->t, "region");
	s->holes = target_ready_u64(&s->t, "holes");
	snprintf(s->pid, sizeof(s->pid), "%d", s->t.pid);
	sub(s->pre, sizeof(s->pre), "pre");
	sub(s->inc, sizeof(s->inc), "inc");
	criu("pre-dump", "pre-dump", "-t", s->pid, "-D", s->pre, NULL);
	kill(s->t.pid, SIGUSR1);
	cr_assert(target_read_line(&s->t, line, sizeof(line), WAIT_MS) && !strcmp(line, "WROTE"),
		  "the target did not write");
}

/* Target up, pre-dump, the target's writes, the incremental dump. */
static void run(struct setup *s, bool track_mem)
{
	run_predump_only(s);
	if (track_mem)
		criu("dump", "dump", "-t", s->pid, "-D", s->inc, "--track-mem", "--prev-images-dir",
		     "../pre", NULL);
	else
		criu("dump", "dump", "-t", s->pid, "-D", s->inc, "--prev-images-dir", "../pre", NULL);
}

static void open_pm(const char *dir, pid_t pid, struct dr_pages **pm)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(dr_pages_open(fd, dir, pid, pm), 0, "no pagemap of %d in %s", pid, dir);
	close(fd);
}

/* What the dump says page `addr` holds, following PE_PARENT into pre. */
static uint32_t chain_read(const struct dr_pages *inc, const struct dr_pages *pre, uint64_t addr,
			   uint8_t *buf)
{
	const struct dr_run *r = dr_pages_find(inc, addr);

	cr_assert_not_null(r, "%#lx is a hole in the dump", (unsigned long)addr);
	if (r->flags == PE_PARENT) {
		cr_assert_eq(dr_pages_read(pre, addr, buf, PG), 0, "%#lx: PE_PARENT, not in the pre-dump",
			     (unsigned long)addr);
		return PE_PARENT;
	}
	cr_assert_eq(dr_pages_read(inc, addr, buf, PG), 0);
	return r->flags;
}

static void expected_page(int i, uint8_t *want)
{
	mem_pat_fill(want, PG, (i == 3 || i == 17 || i == 40) ? 100 + i : 20 + i, 0);
	if (i == 50)
		memcpy(want + 256, &(uint64_t){ NEWVAL }, 8);
	if (i == 60)
		memset(want, 0, PG);	/* MADV_DONTNEED */
}

/* Exactly the written pages stored, the others PE_PARENT, all correct. */
static void check_images(struct setup *s)
{
	struct dr_pages *inc, *pre;
	uint8_t got[PG], want[PG];
	StatsEntry *st;
	int dirfd;

	open_pm(s->inc, s->t.pid, &inc);
	open_pm(s->pre, s->t.pid, &pre);
	/* Dropped since the pre-dump: a hole now, whatever the parent had (a
	 * uffd-wp marker must not pass for an unchanged page). */
	cr_expect_null(dr_pages_find(inc, s->region + 60 * PG), "a page dropped by MADV_DONTNEED is "
		       "not a hole in the dump");
	for (int i = 0; i < 64; i++) {
		bool written = i == 3 || i == 17 || i == 40 || i == 50;
		uint32_t flags;

		if (i == 60)
			continue;
		flags = chain_read(inc, pre, s->region + i * PG, got);

		expected_page(i, want);
		cr_expect_eq(flags, written ? PE_PRESENT : PE_PARENT, "region page %d: flags %u", i,
			     flags);
		cr_expect(!memcmp(got, want, PG), "region page %d: wrong bytes", i);
	}
	/* Populated by a read since the pre-dump: the parent has a hole. */
	cr_expect_eq(chain_read(inc, pre, s->holes + 5 * PG, got), PE_ZERO);
	cr_expect_null(dr_pages_find(inc, s->holes + 6 * PG), "an untouched page must stay a hole");
	dirfd = open(s->inc, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(img_read_one(dirfd, IMG_STATS, 0, true, (void **)&st), 0);
	cr_expect_geq(st->pages_parent, 60);
	img_free(st);
	close(dirfd);
	dr_pages_free(inc);
	dr_pages_free(pre);
}

static int count_uffd(pid_t pid)
{
	char out[4096];
	int n = 0;

	run_cmd(out, sizeof(out), "ls -l /proc/%d/fd", pid);
	for (char *p = out; (p = strstr(p, "[userfaultfd]")); p++)
		n++;
	return n;
}

Test(predump, only_written_pages_are_stored)
{
	struct setup s;

	run(&s, false);
	check_images(&s);
	/* Without --track-mem the dump takes the tracker down. */
	cr_expect_eq(count_uffd(s.t.pid), 0, "a userfaultfd is left in the target");
	cr_expect(proc_untraced_running(s.t.pid));
}

Test(predump, by_comparing_contents)
{
	struct setup s;

	setenv("CRIU_LITE_TRACK_MEM", "hashes", 1);
	run(&s, false);
	check_images(&s);
	cr_expect_eq(count_uffd(s.t.pid), 0);
}

/* The second dump against the same pre-dump finds its tracker gone (the
 * first closed it) and must compare contents rather than trust it. */
Test(predump, lost_tracker_falls_back_to_comparing)
{
	struct setup s;
	char err[8192], inc2[300];

	run(&s, false);
	sub(inc2, sizeof(inc2), "inc2");
	cr_assert_eq(run_criu_lite(err, sizeof(err), "dump", "-t", s.pid, "-D", inc2,
				   "--prev-images-dir", "../pre", NULL), 0, "dump failed: %s", err);
	cr_expect(strstr(err, "gone"), "no warning about the lost tracker: %s", err);
	snprintf(s.inc, sizeof(s.inc), "%s", inc2);
	check_images(&s);
}

static uint64_t gdb_u64(const char *core, uint64_t addr)
{
	char out[8192], *p;
	unsigned long long v = 0;

	cr_assert_eq(run_cmd(out, sizeof(out), "gdb -nx -batch -ex 'x/gx %#llx' '%s' '%s' 2>&1",
			     (unsigned long long)addr, target_path("predump_pages"), core), 0);
	p = strstr(out, ":\t");
	cr_assert_not_null(p, "gdb could not read %#llx: %s", (unsigned long long)addr, out);
	sscanf(p + 2, "%llx", &v);
	return v;
}

static uint64_t first_u64(int page)
{
	uint8_t want[PG];
	uint64_t v;

	expected_page(page, want);
	memcpy(&v, want + (page == 50 ? 256 : 0), 8);
	return v;
}

/* gdb on the converted core reads new values from the dump and old ones
 * from the pre-dump; the restored copy holds both; tracking goes on. */
Test(predump, convert_and_restore_follow_the_chain)
{
	struct setup s;
	struct rt_run r;
	char core[320], err[8192];
	pid_t copy;

	run(&s, true);
	cr_expect_eq(count_uffd(s.t.pid), 1, "--track-mem keeps one tracker");
	snprintf(core, sizeof(core), "%s/core", base);
	criu("convert", "convert", "-D", s.inc, "-o", core, NULL);
	cr_expect_eq(gdb_u64(core, s.region + 3 * PG), first_u64(3), "rewritten page");
	cr_expect_eq(gdb_u64(core, s.region + 50 * PG + 256), NEWVAL, "8 bytes written");
	cr_expect_eq(gdb_u64(core, s.region + 7 * PG), first_u64(7), "page from the pre-dump");

	rt_restore_start(&r, base, "-D", s.inc, NULL);
	cr_assert(rt_wait_pidfile(&copy), "no pidfile from the restore");
	for (int i = 0; i < 64; i++) {
		uint64_t addr = s.region + i * PG + (i == 50 ? 256 : 0), v = 0;
		struct iovec l = { &v, 8 }, rv = { (void *)(uintptr_t)addr, 8 };

		cr_expect_eq(process_vm_readv(copy, &l, 1, &rv, 1, 0), 8);
		cr_expect_eq(v, first_u64(i), "restored page %d", i);
	}
	rt_kill_wait(copy);
	rt_restore_finish(&r, err, sizeof(err));
}

/* pre-dump, pre-dump on top of it, dump on top of that: pages resolve
 * through two levels of PE_PARENT, and gdb reads all of them. */
Test(predump, chain_of_pre_dumps)
{
	struct setup s;
	struct dr_pages *lv[3];
	char pre2[300], line[256], core[320];
	uint8_t got[PG], want[PG];

	run_predump_only(&s);
	sub(pre2, sizeof(pre2), "pre2");
	criu("pre-dump 2", "pre-dump", "-t", s.pid, "-D", pre2, "--prev-images-dir", "../pre", NULL);
	kill(s.t.pid, SIGUSR1);
	cr_assert(target_read_line(&s.t, line, sizeof(line), WAIT_MS) && !strcmp(line, "WROTE"));
	criu("dump", "dump", "-t", s.pid, "-D", s.inc, "--prev-images-dir", "../pre2", NULL);
	open_pm(s.inc, s.t.pid, &lv[0]);
	open_pm(pre2, s.t.pid, &lv[1]);
	open_pm(s.pre, s.t.pid, &lv[2]);
	for (int i = 0; i < 64; i++) {
		uint64_t addr = s.region + i * PG;
		int l = 0;

		if (i == 60)
			continue;
		while (l < 2 && dr_pages_find(lv[l], addr) && dr_pages_find(lv[l], addr)->flags == PE_PARENT)
			l++;
		cr_assert_eq(dr_pages_read(lv[l], addr, got, PG), 0, "page %d not found in the chain", i);
		expected_page(i, want);
		cr_expect(!memcmp(got, want, PG), "page %d: wrong bytes (level %d)", i, l);
		if (i == 7)
			cr_expect_eq(l, 2, "an untouched page is in the first pre-dump");
	}
	for (int l = 0; l < 3; l++)
		dr_pages_free(lv[l]);
	snprintf(core, sizeof(core), "%s/core", base);
	criu("convert", "convert", "-D", s.inc, "-o", core, NULL);
	cr_expect_eq(gdb_u64(core, s.region + 7 * PG), first_u64(7), "page two pre-dumps back");
	cr_expect_eq(gdb_u64(core, s.region + 40 * PG), first_u64(40), "page written last");
	cr_expect_eq(count_uffd(s.t.pid), 0);
}

Test(predump, refusals)
{
	struct setup s;
	char err[4096], other[300];

	run(&s, false);
	sub(other, sizeof(other), "other");
	cr_expect_neq(run_criu_lite(err, sizeof(err), "dump", "-t", s.pid, "-D", other,
				    "--prev-images-dir", "../nowhere", NULL), 0);
	cr_expect(strstr(err, "nowhere"), "%s", err);
	/* A directory without an inventory is no parent. */
	cr_expect_neq(run_criu_lite(err, sizeof(err), "dump", "-t", s.pid, "-D", other,
				    "--prev-images-dir", "../other", NULL), 0);
	cr_expect(strstr(err, "inventory"), "%s", err);
	cr_expect_neq(run_criu_lite(err, sizeof(err), "pre-dump", "-t", s.pid, "-D", other,
				    "--snapshot", "fork", NULL), 0);
	cr_expect(proc_untraced_running(s.t.pid));
}
