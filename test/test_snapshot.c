/* dump --snapshot fork and --snapshot wp on real targets: the images hold
 * what a plain dump holds, at one consistent instant even for the memory
 * fork does not copy (shared, MADV_DONTFORK, MADV_WIPEONFORK) and for pages
 * the target rewrites while wp reads them, and the target runs on with the
 * same RSS, no extra child, fd or userfaultfd registration, no zombie and
 * no SIGCHLD. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "images/image.h"
#include "images/dump_read.h"
#include "test/helpers.h"
#include "test/targets/mem_pattern.h"

#define PG 4096ull

static struct target tgt;
static char dirs[2][256];

static void cleanup(void)
{
	target_kill(&tgt);
	for (int i = 0; i < 2; i++)
		if (dirs[i][0])
			rm_rf(dirs[i]);
	memset(dirs, 0, sizeof(dirs));
}

TestSuite(snapshot, .fini = cleanup, .timeout = 60);

/* mode: "fork", "wp", or NULL for a plain dump. */
static void dump_into(int i, const char *tag, const char *mode)
{
	char err[4096], pid[16];
	int rc;

	make_tmpdir(dirs[i], sizeof(dirs[i]), tag);
	snprintf(pid, sizeof(pid), "%d", tgt.pid);
	rc = mode ? run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", dirs[i], "--snapshot",
				  mode, NULL)
		  : run_criu_lite(err, sizeof(err), "dump", "-t", pid, "-D", dirs[i], NULL);
	cr_assert_eq(rc, 0, "dump --snapshot %s failed: %s", mode ? mode : "(none)", err);
}

static void open_pages(int i, pid_t pid, struct dr_pages **pm)
{
	int dirfd = open(dirs[i], O_RDONLY | O_DIRECTORY);

	cr_assert_geq(dirfd, 0);
	cr_assert_eq(dr_pages_open(dirfd, dirs[i], pid, pm), 0, "no pagemap of %d in %s", pid, dirs[i]);
	close(dirfd);
}

static uint64_t img_u64(const struct dr_pages *pm, uint64_t addr)
{
	uint64_t v;

	cr_assert_eq(dr_pages_read(pm, addr, &v, sizeof(v)), 0, "%#lx not in the dump",
		     (unsigned long)addr);
	return v;
}

/* Does any VMA of pid show this two-letter code in its smaps VmFlags? */
static bool smaps_has_flag(pid_t pid, const char *code)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	cr_assert_not_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line;

		if (strncmp(line, "VmFlags:", 8))
			continue;
		while ((p = strstr(p, code)) && !found) {
			found = p[-1] == ' ' && (p[2] == ' ' || p[2] == '\n');
			p += 2;
		}
	}
	fclose(f);
	return found;
}

/* Children of pid, zombies included, from every /proc/N/stat. */
static int children_of(pid_t pid, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		char path[300], buf[512], *p;
		int ppid = 0;
		FILE *f;

		if (atoi(de->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
			sscanf(p + 1, " %*c %d", &ppid);
		fclose(f);
		if (ppid == pid && n < max)
			out[n++] = atoi(de->d_name);
	}
	closedir(d);
	return n;
}

/* Every region of mem_patterns a dump treats differently reads back the
 * same from a snapshot as from a plain dump, runs and bytes. */
static void same_memory_as_plain_dump(const char *mode)
{
	static const struct { const char *key; uint64_t pages; } regions[] = {
		{ "heap", 1 }, { "big", 2048 }, { "holes", 16384 }, { "zero", 16 },
		{ "fpriv", 3 }, { "shanon", 8 }, { "shfile", 4 }, { "delfile", 3 }, { "memfd", 2 },
		{ "pnone", 2 }, { "dontfork", 2 }, { "wipe", 2 }, { "dontdump", 2 },
	};
	char arg[256];
	struct dr_pages *a, *b;
	uint8_t *pa = malloc(PG), *pb = malloc(PG);
	uint8_t want[PG];

	make_tmpdir(arg, sizeof(arg), "snapfiles");
	target_start(&tgt, "mem_patterns", arg, NULL);
	dump_into(0, "plain", NULL);
	dump_into(1, "snap", mode);
	open_pages(0, tgt.pid, &a);
	open_pages(1, tgt.pid, &b);
	for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
		uint64_t base = target_ready_u64(&tgt, regions[i].key) & ~(PG - 1);

		for (uint64_t pg = 0; pg < regions[i].pages; pg++) {
			uint64_t addr = base + pg * PG;
			const struct dr_run *ra = dr_pages_find(a, addr), *rb = dr_pages_find(b, addr);
			int r1 = dr_pages_read(a, addr, pa, PG), r2 = dr_pages_read(b, addr, pb, PG);

			/* A hole in one is a hole in the other; stored pages agree. */
			cr_assert_eq(!ra, !rb, "%s page %lu: %s in the plain dump, %s in the snapshot",
				     regions[i].key, (unsigned long)pg, ra ? "present" : "a hole",
				     rb ? "present" : "a hole");
			if (!ra)
				continue;
			cr_assert_eq(ra->flags, rb->flags, "%s page %lu: flags %u vs %u",
				     regions[i].key, (unsigned long)pg, ra->flags, rb->flags);
			cr_assert_eq(r1, r2);
			if (!r1)
				cr_assert(!memcmp(pa, pb, PG), "%s page %lu differs", regions[i].key,
					  (unsigned long)pg);
		}
	}
	/* And what fork alone would lose is really there. */
	mem_pat_fill(want, PG, 12, 0);
	cr_assert_eq(dr_pages_read(b, target_ready_u64(&tgt, "dontfork"), pb, PG), 0);
	cr_expect(!memcmp(pb, want, PG), "MADV_DONTFORK page lost");
	mem_pat_fill(want, PG, 13, 0);
	cr_assert_eq(dr_pages_read(b, target_ready_u64(&tgt, "wipe"), pb, PG), 0);
	cr_expect(!memcmp(pb, want, PG), "MADV_WIPEONFORK page lost");
	dr_pages_free(a);
	dr_pages_free(b);
	free(pa);
	free(pb);
	target_kill(&tgt);
	rm_rf(arg);
}

/* The writer stores c into 5 regions x 4 pages in order: a consistent
 * snapshot sees a non-increasing run whose ends differ by at most 1. Had
 * shared, DONTFORK or WIPEONFORK memory been read after the thaw, it would
 * be far ahead of the private copy. */
static void one_instant_for_all_kinds_of_memory(const char *mode)
{
	static const char *const keys[] = { "priv", "dontfork", "wipe", "shanon", "memfd" };
	uint64_t vals[5 * 4];
	struct dr_pages *pm;
	int n = 0;

	target_start(&tgt, "snap_regions", NULL);
	dump_into(0, "snapcut", mode);
	open_pages(0, tgt.pid, &pm);
	for (int r = 0; r < 5; r++)
		for (uint64_t p = 0; p < 4; p++)
			vals[n++] = img_u64(pm, target_ready_u64(&tgt, keys[r]) + p * PG);
	for (int i = 1; i < n; i++)
		cr_expect_leq(vals[i], vals[i - 1], "%s page %d: %lu after %lu: not one instant",
			      keys[i / 4], i % 4, (unsigned long)vals[i], (unsigned long)vals[i - 1]);
	cr_expect_leq(vals[0] - vals[n - 1], 1, "first %lu, last %lu: not one instant",
		      (unsigned long)vals[0], (unsigned long)vals[n - 1]);
	cr_expect_gt(vals[n - 1], 1);
	dr_pages_free(pm);
}

static void target_runs_on_unharmed(const char *mode)
{
	uint64_t priv, before, after, sigchld;
	pid_t kids[8];
	long rss0, rss1;
	int fds0;

	target_start(&tgt, "snap_regions", NULL);
	priv = target_ready_u64(&tgt, "priv");
	rss0 = proc_rss_kb(tgt.pid);
	fds0 = proc_dir_count(tgt.pid, "fd");
	dump_into(0, "snaprun", mode);
	rss1 = proc_rss_kb(tgt.pid);
	cr_expect(labs(rss1 - rss0) * 100 <= rss0, "RSS %ld KiB before, %ld KiB after", rss0, rss1);
	cr_expect(proc_untraced_running(tgt.pid), "target left traced or stopped");
	before = proc_peek_u64(tgt.pid, priv);
	after = wait_u64_changes(tgt.pid, priv, before, "the target's writer after the dump");
	cr_expect_gt(after, before, "the target's writer does not run after the dump");
	cr_expect_eq(children_of(tgt.pid, kids, 8), 0, "the snapshot copy %d is left over", kids[0]);
	sigchld = proc_peek_u64(tgt.pid, target_ready_u64(&tgt, "sigchld"));
	cr_expect_eq(sigchld, 0, "the target got %lu SIGCHLD", (unsigned long)sigchld);
	cr_expect_eq(proc_dir_count(tgt.pid, "fd"), fds0, "the target's fd count changed");
	cr_expect_not(smaps_has_flag(tgt.pid, "uw"), "memory left registered for write-protect");
}

/* Each process of a tree gets its copy; afterwards each has exactly the
 * children it had, and the whole tree goes on printing. */
static void process_tree(const char *mode)
{
	pid_t child, grandchild, kids[8];
	char line[256], name[64];
	int dirfd;

	target_start(&tgt, "dump_family", NULL);
	child = target_ready_u64(&tgt, "child");
	grandchild = target_ready_u64(&tgt, "grandchild");
	dump_into(0, "snaptree", mode);
	dirfd = open(dirs[0], O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dirfd, 0);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "pages-%d.img", i == 0 ? tgt.pid : i == 1 ? child : grandchild);
		cr_expect_eq(faccessat(dirfd, name, F_OK, 0), 0, "%s missing", name);
	}
	close(dirfd);
	cr_expect_eq(children_of(tgt.pid, kids, 8), 1);
	cr_expect_eq(kids[0], child);
	cr_expect_eq(children_of(child, kids, 8), 1);
	cr_expect_eq(kids[0], grandchild);
	cr_expect_eq(children_of(grandchild, kids, 8), 0);
	for (int i = 0; i < 3; i++)
		cr_expect(proc_untraced_running(i == 0 ? tgt.pid : i == 1 ? child : grandchild));
	/* Drain what was printed during the dump, then see new ticks. Three
	 * processes tick every 20 ms, so a quiet gap may never come: bound it. */
	for (int i = 0; i < 4096 && target_read_line(&tgt, line, sizeof(line), 50); i++)
		;
	cr_expect(target_read_line(&tgt, line, sizeof(line), WAIT_MS), "the tree stopped printing");
}

/* wp reads the pages after the thaw while a thread rewrites all of them in
 * address order: every page the thread reached first must come from the
 * save file, or the sweep would show a later value after an earlier one.
 * The kernel's own writes into protected pages (read(2)) must still work. */
static void one_instant_while_everything_is_rewritten(const char *mode, bool thp)
{
	uint64_t base, pages, prev = 0, first = 0, v, kbuf;
	struct dr_pages *pm;

	target_start(&tgt, "snap_sweep", "32", thp ? "thp" : NULL, NULL);
	if (thp && !target_ready_u64(&tgt, "thp_kb"))
		cr_log_warn("no transparent huge page came: the THP case ran on 4 KiB pages");
	base = target_ready_u64(&tgt, "sweep");
	pages = target_ready_u64(&tgt, "pages");
	dump_into(0, "snapsweep", mode);
	open_pages(0, tgt.pid, &pm);
	for (uint64_t p = 0; p < pages; p++) {
		v = img_u64(pm, base + p * PG);
		if (p == 0)
			first = v;
		else
			cr_assert_leq(v, prev, "page %lu: %lu after %lu: not one instant",
				      (unsigned long)p, (unsigned long)v, (unsigned long)prev);
		prev = v;
	}
	cr_expect_leq(first - prev, 1, "first page %lu, last %lu: not one instant",
		      (unsigned long)first, (unsigned long)prev);
	dr_pages_free(pm);
	/* A round of the kernel's writes into the target's pages after the
	 * dump (slot 0 is written every 64th): had the snapshot broken them,
	 * read(2) would have failed and the target exited. */
	kbuf = target_ready_u64(&tgt, "kbuf");
	wait_u64_changes(tgt.pid, kbuf, proc_peek_u64(tgt.pid, kbuf),
			 "the target's kernel writes after the dump");
	cr_expect(proc_untraced_running(tgt.pid), "the target died or was left stopped");
}

Test(snapshot, same_memory_as_plain_dump) { same_memory_as_plain_dump("fork"); }
Test(snapshot, one_instant_for_all_kinds_of_memory) { one_instant_for_all_kinds_of_memory("fork"); }
Test(snapshot, target_runs_on_unharmed) { target_runs_on_unharmed("fork"); }
Test(snapshot, process_tree) { process_tree("fork"); }
Test(snapshot, wp_same_memory_as_plain_dump) { same_memory_as_plain_dump("wp"); }
Test(snapshot, wp_one_instant_for_all_kinds_of_memory) { one_instant_for_all_kinds_of_memory("wp"); }
Test(snapshot, wp_target_runs_on_unharmed) { target_runs_on_unharmed("wp"); }
Test(snapshot, wp_process_tree) { process_tree("wp"); }
Test(snapshot, one_instant_while_everything_is_rewritten) { one_instant_while_everything_is_rewritten("fork", false); }
Test(snapshot, wp_one_instant_while_everything_is_rewritten) { one_instant_while_everything_is_rewritten("wp", false); }
Test(snapshot, wp_one_instant_in_huge_pages) { one_instant_while_everything_is_rewritten("wp", true); }
