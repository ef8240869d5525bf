/* mem_dump on a live target: the images must hold the bytes the target
 * wrote at the addresses it reported, nothing for pages it never touched,
 * and the target must not grow by being dumped. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criu-lite/memory/mem.h"
#include "criu-lite/memory/mem_internal.h"
#include "criu-lite/snapshot/snap_src.h"
#include "common/vma.h"
#include "images/image.h"
#include "images/dump_read.h"
#include "test/helpers.h"
#include "test/targets/mem_pattern.h"

#define PG 4096ull

struct vmas {
	VmaEntry **e;
	size_t nr;
};

struct memdump {
	struct target t;
	char dir[256];
	int dirfd;
	struct dump_stats st;
	struct vmas vm;
	struct dr_pages *pm;
};

/* What a test started, for fini to clean up even after a failed assertion. */
/* Static, not a pointer to the test's own struct: fini runs after the test
 * function's frame is gone (also when an assertion fails). */
static pid_t cur_pid;
static char cur_dir[256];

static void cleanup(void)
{
	test_cleanup(&cur_pid, cur_dir);
}

TestSuite(mem, .fini = cleanup, .timeout = 30);

static void seize_stop(pid_t pid)
{
	int status;

	cr_assert_eq(ptrace(PTRACE_SEIZE, pid, 0, 0), 0, "seize: %m");
	cr_assert_eq(ptrace(PTRACE_INTERRUPT, pid, 0, 0), 0);
	cr_assert_eq(waitpid(pid, &status, __WALL), pid);
	cr_assert(WIFSTOPPED(status));
}

static void load_vmas(int dirfd, pid_t pid, struct vmas *v)
{
	struct img *img = img_open(dirfd, IMG_MM, pid, true);
	void *e;
	int r;

	cr_assert_not_null(img);
	v->e = NULL;
	v->nr = 0;
	while ((r = img_read(img, NULL, &e)) > 0) {
		v->e = realloc(v->e, (v->nr + 1) * sizeof(*v->e));
		v->e[v->nr++] = e;
	}
	cr_assert_eq(r, 0);
	img_close_read(img);
}

static const VmaEntry *vma_at(const struct vmas *v, uint64_t addr)
{
	for (size_t i = 0; i < v->nr; i++)
		if (v->e[i]->start <= addr && addr < v->e[i]->end)
			return v->e[i];
	return NULL;
}

static const VmaEntry *vma_named(const struct vmas *v, const char *name)
{
	for (size_t i = 0; i < v->nr; i++)
		if (v->e[i]->name && !strcmp(v->e[i]->name, name))
			return v->e[i];
	return NULL;
}

static void memdump_run(struct memdump *md)
{
	char arg[256];

	make_tmpdir(md->dir, sizeof(md->dir), "mem");
	snprintf(cur_dir, sizeof(cur_dir), "%s", md->dir);
	snprintf(arg, sizeof(arg), "%s", md->dir);
	target_start(&md->t, "mem_patterns", arg, NULL);
	cur_pid = md->t.pid;
	md->dirfd = open(md->dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(md->dirfd, 0);
	memset(&md->st, 0, sizeof(md->st));
	seize_stop(md->t.pid);
	cr_assert_eq(mem_dump(md->dirfd, md->t.pid, &md->st), 0);
	cr_assert_eq(ptrace(PTRACE_DETACH, md->t.pid, 0, 0), 0);
	load_vmas(md->dirfd, md->t.pid, &md->vm);
	cr_assert_eq(dr_pages_open(md->dirfd, md->dir, md->t.pid, &md->pm), 0);
}

static void memdump_done(struct memdump *md)
{
	dr_pages_free(md->pm);
	for (size_t i = 0; i < md->vm.nr; i++)
		img_free(md->vm.e[i]);
	free(md->vm.e);
	close(md->dirfd);
	cleanup();
}

/* The dump holds `len` bytes of pattern `seed` (starting at pattern index
 * `first`) at addr. */
static void expect_pattern(const struct memdump *md, const char *what, uint64_t addr, size_t len,
			   unsigned seed, uint64_t first)
{
	uint8_t *got = malloc(len), *want = malloc(len);
	int r = dr_pages_read(md->pm, addr, got, len);

	cr_assert_eq(r, 0, "%s at %#lx: not in the dump (%d)", what, (unsigned long)addr, r);
	mem_pat_fill(want, len, seed, first);
	cr_assert(!memcmp(got, want, len), "%s at %#lx: dumped bytes differ", what,
		  (unsigned long)addr);
	free(got);
	free(want);
}

static uint32_t run_flags(const struct memdump *md, uint64_t addr)
{
	const struct dr_run *r = dr_pages_find(md->pm, addr);

	return r ? r->flags : 0;
}

Test(mem, patterns_at_their_addresses)
{
	static const unsigned long holes[] = { 0, 1, 2, 7, 100, 4095, 16383 };
	struct memdump md;
	uint64_t a;

	memdump_run(&md);
	expect_pattern(&md, "heap", target_ready_u64(&md.t, "heap"), 200, 1, 0);
	expect_pattern(&md, "big", target_ready_u64(&md.t, "big"), 8 << 20, 2, 0);
	a = target_ready_u64(&md.t, "holes");
	for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++)
		expect_pattern(&md, "touched page", a + holes[i] * PG, PG, 3, holes[i] * PG);
	expect_pattern(&md, "written private file page", target_ready_u64(&md.t, "fpriv") + PG,
		       PG, 5, PG);
	a = target_ready_u64(&md.t, "shanon");
	expect_pattern(&md, "shared anon page 0", a, PG, 6, 0);
	expect_pattern(&md, "shared anon page 3", a + 3 * PG, PG, 6, 3 * PG);
	expect_pattern(&md, "shared anon page written by a child", a + 5 * PG, PG, 6, 5 * PG);
	expect_pattern(&md, "deleted shared file", target_ready_u64(&md.t, "delfile"), 3 * PG, 8, 0);
	expect_pattern(&md, "PROT_NONE", target_ready_u64(&md.t, "pnone"), 2 * PG, 9, 0);
	expect_pattern(&md, "MADV_DONTDUMP", target_ready_u64(&md.t, "dontdump"), 2 * PG, 10, 0);
	expect_pattern(&md, "MADV_DONTFORK", target_ready_u64(&md.t, "dontfork"), 2 * PG, 12, 0);
	expect_pattern(&md, "MADV_WIPEONFORK", target_ready_u64(&md.t, "wipe"), 2 * PG, 13, 0);
	expect_pattern(&md, "memfd", target_ready_u64(&md.t, "memfd") + PG, PG, 11, PG);
	memdump_done(&md);
}

Test(mem, untouched_pages_have_no_entry)
{
	static const unsigned long holes[] = { 0, 1, 2, 7, 100, 4095, 16383 };
	struct memdump md;
	uint64_t a, present = 0;

	memdump_run(&md);
	a = target_ready_u64(&md.t, "holes");
	for (uint64_t p = 0; p < (64 << 20) / PG; p++) {
		bool touched = false;

		for (size_t i = 0; i < sizeof(holes) / sizeof(holes[0]); i++)
			touched |= holes[i] == p;
		cr_assert_eq(dr_pages_find(md.pm, a + p * PG) != NULL, touched,
			     "page %lu of the 64 MiB region: %s", (unsigned long)p,
			     touched ? "touched but missing" : "never touched but has an entry");
		present += touched;
	}
	cr_assert_eq(present, 7);
	a = target_ready_u64(&md.t, "shanon");
	for (int p = 0; p < 8; p++)
		if (p != 0 && p != 3 && p != 5)
			cr_assert_null(dr_pages_find(md.pm, a + p * PG), "shared anon page %d", p);
	cr_assert_null(dr_pages_find(md.pm, target_ready_u64(&md.t, "memfd")), "memfd page 0");
	cr_assert_geq(md.st.pages_unpopulated, (64 << 20) / PG - 7);
	memdump_done(&md);
}

Test(mem, zero_pages_recorded_not_stored)
{
	struct memdump md;
	uint64_t a, stored = 0;
	struct stat st;

	memdump_run(&md);
	a = target_ready_u64(&md.t, "zero");
	for (int p = 0; p < 16; p++)
		cr_assert_eq(run_flags(&md, a + p * PG), PE_ZERO, "zero page %d", p);
	/* The pages file holds the PE_PRESENT runs and nothing else. */
	for (size_t i = 0; i < md.pm->nr; i++)
		if (md.pm->run[i].flags == PE_PRESENT)
			stored += md.pm->run[i].end - md.pm->run[i].start;
	cr_assert_eq(fstat(md.pm->pages_fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, stored);
	cr_assert_eq(md.st.bytes_written, stored);
	cr_assert_eq(md.st.pages_written * PG, stored);
	cr_assert_geq(md.st.pages_zero, 16);
	memdump_done(&md);
}

static void build_id_of(const char *path, char *hex, size_t len)
{
	cr_assert_eq(run_cmd(hex, len, "eu-readelf -n '%s' | awk '/Build ID:/{print $3; exit}'",
			     path), 0);
	hex[strcspn(hex, "\n")] = '\0';
	cr_assert_gt(strlen(hex), 0, "eu-readelf found no build-id in %s", path);
}

static void expect_build_id(const FileIdentity *fi, const char *hex)
{
	char got[2 * 64 + 1] = "";

	cr_assert(fi->has_build_id, "%s: no build-id recorded", fi->path);
	for (size_t i = 0; i < fi->build_id.len && i < 64; i++)
		sprintf(got + 2 * i, "%02x", fi->build_id.data[i]);
	cr_assert_str_eq(got, hex, "%s: build-id", fi->path);
}

Test(mem, file_pages_recorded_as_file)
{
	char exe[4096], hex[256];
	struct memdump md;
	const VmaEntry *v;
	uint64_t a;
	int libc_file = 0;

	memdump_run(&md);
	a = target_ready_u64(&md.t, "fpriv");
	cr_assert_eq(run_flags(&md, a), PE_FILE, "read-only page of a private file mapping");
	cr_assert_eq(run_flags(&md, a + PG), PE_PRESENT, "written page of a private file mapping");
	/* Fault-around may have mapped page 2 from the page cache: file, never copied. */
	cr_assert_neq(run_flags(&md, a + 2 * PG), PE_PRESENT, "untouched private file page");
	v = vma_at(&md.vm, a);
	cr_assert_not_null(v);
	cr_assert_eq(v->status & (VMA_FILE_PRIVATE | VMA_ELF_HEADER | VMA_FILE_DELETED),
		     VMA_FILE_PRIVATE | VMA_ELF_HEADER);
	cr_assert_eq(v->flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS), MAP_PRIVATE);
	cr_assert_not_null(v->file);
	cr_assert_not_null(realpath(target_path("mem_patterns"), exe));
	cr_assert_str_eq(v->file->path, exe);
	build_id_of(exe, hex, sizeof(hex));
	expect_build_id(v->file, hex);

	a = target_ready_u64(&md.t, "shfile");
	cr_assert_eq(run_flags(&md, a + PG), PE_FILE, "read page of a shared file mapping");
	for (int p = 0; p < 4; p++)
		if (p != 1)
			cr_assert_neq(run_flags(&md, a + p * PG), PE_PRESENT, "shared file page %d", p);
	v = vma_at(&md.vm, a);
	cr_assert_eq(v->status & (VMA_FILE_SHARED | VMA_FILE_DELETED), VMA_FILE_SHARED);
	v = vma_at(&md.vm, target_ready_u64(&md.t, "delfile"));
	cr_assert_eq(v->status & (VMA_FILE_SHARED | VMA_FILE_DELETED),
		     VMA_FILE_SHARED | VMA_FILE_DELETED);

	/* libc's code: every populated page is the file's own. */
	for (size_t i = 0; i < md.vm.nr; i++) {
		const VmaEntry *e = md.vm.e[i];

		if (!e->name || !strstr(e->name, "/libc.so") || !(e->prot & PROT_EXEC))
			continue;
		for (size_t k = 0; k < md.pm->nr; k++) {
			const struct dr_run *r = &md.pm->run[k];

			if (r->start >= e->start && r->end <= e->end) {
				cr_assert_eq(r->flags, PE_FILE, "libc code run at %#lx",
					     (unsigned long)r->start);
				libc_file++;
			}
		}
		build_id_of(e->name, hex, sizeof(hex));
		expect_build_id(e->file, hex);
	}
	cr_assert_gt(libc_file, 0, "no libc code page recorded as file");
	memdump_done(&md);
}

Test(mem, special_vmas_and_madvise)
{
	uint8_t *vdso = (uint8_t *)getauxval(AT_SYSINFO_EHDR), *buf;
	struct memdump md;
	const VmaEntry *v;
	const char *vv[] = { "[vvar]", "[vvar_vclock]" };

	memdump_run(&md);
	for (int i = 0; i < 2; i++) {
		v = vma_named(&md.vm, vv[i]);
		cr_assert_not_null(v, "%s not recorded", vv[i]);
		cr_assert_eq(v->status, VMA_VVAR, "%s status", vv[i]);
		for (uint64_t a = v->start; a < v->end; a += PG)
			cr_assert_null(dr_pages_find(md.pm, a), "%s page dumped", vv[i]);
	}
	/* The vdso is the kernel's one image: ours has the same bytes. */
	v = vma_named(&md.vm, "[vdso]");
	cr_assert_not_null(v);
	cr_assert_eq(v->status, VMA_VDSO);
	buf = malloc(v->end - v->start);
	cr_assert_eq(dr_pages_read(md.pm, v->start, buf, v->end - v->start), 0, "vdso not whole");
	cr_assert(!memcmp(buf, vdso, v->end - v->start), "vdso bytes differ");
	free(buf);

	v = vma_at(&md.vm, target_ready_u64(&md.t, "heap"));
	cr_assert_str_eq(v->name, "[heap]");
	cr_assert_eq(v->status, VMA_AREA_REGULAR | VMA_ANON | VMA_HEAP);
	v = vma_named(&md.vm, "[stack]");
	cr_assert_eq(v->status, VMA_AREA_REGULAR | VMA_ANON | VMA_STACK);
	cr_assert(v->flags & MAP_GROWSDOWN);
	v = vma_at(&md.vm, target_ready_u64(&md.t, "shanon"));
	cr_assert_eq(v->status, VMA_AREA_REGULAR | VMA_ANON_SHARED);
	cr_assert_eq(v->flags, MAP_SHARED | MAP_ANONYMOUS);
	v = vma_at(&md.vm, target_ready_u64(&md.t, "memfd"));
	cr_assert_eq(v->status, VMA_AREA_REGULAR | VMA_ANON_SHARED);
	cr_assert_eq(v->flags, MAP_SHARED);
	v = vma_at(&md.vm, target_ready_u64(&md.t, "pnone"));
	cr_assert_eq(v->prot, PROT_NONE);
	v = vma_at(&md.vm, target_ready_u64(&md.t, "dontdump"));
	cr_assert_eq(v->madv, VMA_MADV_DONTDUMP);
	cr_assert_not_null(strstr(v->vmflags, "dd"));
	v = vma_at(&md.vm, target_ready_u64(&md.t, "dontfork"));
	cr_assert_eq(v->madv, VMA_MADV_DONTFORK);
	v = vma_at(&md.vm, target_ready_u64(&md.t, "wipe"));
	cr_assert_eq(v->madv, VMA_MADV_WIPEONFORK);
	/* Address order, no overlap. */
	for (size_t i = 1; i < md.vm.nr; i++)
		cr_assert_geq(md.vm.e[i]->start, md.vm.e[i - 1]->end);
	memdump_done(&md);
}

Test(mem, target_rss_unchanged)
{
	char dir[256];
	struct target t;
	struct dump_stats st = { 0 };
	long before, after;
	int dirfd;

	make_tmpdir(dir, sizeof(dir), "memrss");
	snprintf(cur_dir, sizeof(cur_dir), "%s", dir);
	target_start(&t, "mem_patterns", dir, NULL);
	cur_pid = t.pid;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	seize_stop(t.pid);
	before = proc_rss_kb(t.pid);
	cr_assert_eq(mem_dump(dirfd, t.pid, &st), 0);
	after = proc_rss_kb(t.pid);
	cr_assert_eq(ptrace(PTRACE_DETACH, t.pid, 0, 0), 0);
	/* 64 MiB mapped, 7 pages of it touched: a read of the rest would show. */
	cr_assert_gt(st.pages_unpopulated, (64 << 20) / PG - 8);
	cr_assert_leq(labs(after - before), before / 100, "RSS %ld KiB before, %ld KiB after",
		      before, after);
	cr_assert(proc_untraced_running(t.pid));
	close(dirfd);
	cleanup();
}

static void wait_stopped(pid_t pid)
{
	char st[64] = "";

	for (int i = 0; i < WAIT_MS; i++) {
		if (proc_status_field(pid, "State", st, sizeof(st)) && st[0] == 'T')
			return;
		usleep(1000);
	}
	cr_assert_fail("process %d did not stop (%s)", pid, st);
}

/* --snapshot fork's way: VMAs read while the process is frozen, pages from
 * a fork()ed copy while the original runs on and changes its memory. */
Test(mem, pages_from_a_forked_copy)
{
	struct memdump md = { 0 };
	struct live_src orig;
	struct fork_src fork;
	struct vma_list vl;
	char line[128];
	pid_t copy;
	long before, after;

	make_tmpdir(md.dir, sizeof(md.dir), "memsnap");
	snprintf(cur_dir, sizeof(cur_dir), "%s", md.dir);
	target_start(&md.t, "mem_patterns", md.dir, NULL);
	cur_pid = md.t.pid;
	md.dirfd = open(md.dir, O_RDONLY | O_DIRECTORY);
	seize_stop(md.t.pid);
	cr_assert_eq(mem_read_vmas(md.t.pid, &vl), 0);
	cr_assert_eq(ptrace(PTRACE_DETACH, md.t.pid, 0, 0), 0);
	kill(md.t.pid, SIGUSR1);
	cr_assert(target_read_line(&md.t, line, sizeof(line), WAIT_MS));
	cr_assert_eq(sscanf(line, "FORKED pid=%d", &copy), 1, "%s", line);
	wait_stopped(copy);
	/* Only a rewritten heap tells the copy's pages from the original's. */
	cr_assert(target_read_line(&md.t, line, sizeof(line), WAIT_MS), "no REWRITTEN line");
	cr_assert_str_eq(line, "REWRITTEN");

	before = proc_rss_kb(md.t.pid);
	live_src_init(&orig, md.t.pid, false);
	fork_src_init(&fork, md.t.pid, copy, &orig.s);
	cr_assert_eq(mem_dump_src(md.dirfd, md.t.pid, &vl, &fork.s, &md.st), 0);
	fork_src_fini(&fork);
	live_src_fini(&orig);
	after = proc_rss_kb(md.t.pid);
	vma_list_free(&vl);
	load_vmas(md.dirfd, md.t.pid, &md.vm);
	cr_assert_eq(dr_pages_open(md.dirfd, md.dir, md.t.pid, &md.pm), 0);

	expect_pattern(&md, "heap as it was at fork", target_ready_u64(&md.t, "heap"), 200, 1, 0);
	expect_pattern(&md, "big", target_ready_u64(&md.t, "big"), 8 << 20, 2, 0);
	expect_pattern(&md, "shared anon page written by another child",
		       target_ready_u64(&md.t, "shanon") + 5 * PG, PG, 6, 5 * PG);
	expect_pattern(&md, "PROT_NONE", target_ready_u64(&md.t, "pnone"), 2 * PG, 9, 0);
	/* The copy lacks these: they come from the original. */
	expect_pattern(&md, "MADV_DONTFORK", target_ready_u64(&md.t, "dontfork"), 2 * PG, 12, 0);
	expect_pattern(&md, "MADV_WIPEONFORK", target_ready_u64(&md.t, "wipe"), 2 * PG, 13, 0);
	cr_assert_not_null(dr_pages_find(md.pm, vma_named(&md.vm, "[vdso]")->start));
	cr_assert_null(dr_pages_find(md.pm, target_ready_u64(&md.t, "holes") + 3 * PG));
	cr_assert_leq(labs(after - before), before / 100, "RSS of the original %ld -> %ld KiB",
		      before, after);
	memdump_done(&md);
}

/* The PAGEMAP_SCAN ioctl and plain pagemap reads (older kernels) must see
 * the same pages: same runs, same bytes. */
Test(mem, scan_ioctl_and_pagemap_reads_agree)
{
	struct memdump md = { 0 };
	struct dump_stats st2 = { 0 };
	char dir2[256];
	struct dr_pages *pm2;
	int dirfd2;
	uint8_t *a, *b;

	memdump_run(&md);	/* the ioctl; the target is running again */
	make_tmpdir(dir2, sizeof(dir2), "mempread");
	dirfd2 = open(dir2, O_RDONLY | O_DIRECTORY);
	seize_stop(md.t.pid);
	/* Dump both ways while frozen, so that nothing moves in between. */
	dr_pages_free(md.pm);
	memset(&md.st, 0, sizeof(md.st));
	cr_assert_eq(mem_dump(md.dirfd, md.t.pid, &md.st), 0);
	pm_no_scan_ioctl = true;
	cr_assert_eq(mem_dump(dirfd2, md.t.pid, &st2), 0);
	pm_no_scan_ioctl = false;
	cr_assert_eq(ptrace(PTRACE_DETACH, md.t.pid, 0, 0), 0);
	cr_assert_eq(dr_pages_open(md.dirfd, md.dir, md.t.pid, &md.pm), 0);
	cr_assert_eq(dr_pages_open(dirfd2, "dump", md.t.pid, &pm2), 0);
	cr_assert_eq(md.pm->nr, pm2->nr);
	cr_assert_eq(md.pm->pages_size, pm2->pages_size);
	for (size_t i = 0; i < pm2->nr; i++) {
		const struct dr_run *x = &md.pm->run[i], *y = &pm2->run[i];

		cr_assert(x->start == y->start && x->end == y->end && x->flags == y->flags &&
			  x->off == y->off, "run %zu: %#lx-%#lx/%u vs %#lx-%#lx/%u", i,
			  (unsigned long)x->start, (unsigned long)x->end, x->flags,
			  (unsigned long)y->start, (unsigned long)y->end, y->flags);
	}
	a = malloc(pm2->pages_size);
	b = malloc(pm2->pages_size);
	cr_assert_eq(pread(md.pm->pages_fd, a, pm2->pages_size, 0), (ssize_t)pm2->pages_size);
	cr_assert_eq(pread(pm2->pages_fd, b, pm2->pages_size, 0), (ssize_t)pm2->pages_size);
	cr_assert(!memcmp(a, b, pm2->pages_size));
	cr_assert_eq(md.st.pages_unpopulated, st2.pages_unpopulated);
	cr_assert_eq(md.st.pages_file, st2.pages_file);
	free(a);
	free(b);
	dr_pages_free(pm2);
	close(dirfd2);
	rm_rf(dir2);
	memdump_done(&md);
}
