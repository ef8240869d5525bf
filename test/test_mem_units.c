/* The pieces of memory capture on their own: the maps/smaps parser, the
 * pagemap reader's refusals, and a dump into a full filesystem. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criu-lite/memory/mem.h"
#include "criu-lite/memory/mem_internal.h"
#include "common/vma.h"
#include "images/image.h"
#include "images/dump_read.h"
#include "test/helpers.h"
#include "test/pw_util.h"
#include "test/targets/mem_pattern.h"

static char cur_dir[256];
static bool cur_mounted;
/* Static, not a pointer to the test's own struct: fini runs after the test
 * function's frame is gone (also when an assertion fails). */
static pid_t cur_pid;

static void cleanup(void)
{
	if (cur_pid > 0) {
		kill(-cur_pid, SIGKILL);
		kill(cur_pid, SIGKILL);
		waitpid(cur_pid, NULL, 0);
	}
	cur_pid = 0;
	if (cur_mounted)
		umount2(cur_dir, MNT_DETACH);
	cur_mounted = false;
	if (cur_dir[0])
		rm_rf(cur_dir);
	cur_dir[0] = '\0';
}

TestSuite(mem_units, .fini = cleanup, .timeout = 30);

Test(mem_units, smaps_parser)
{
	char text[] =
		"55d0c0a00000-55d0c0a02000 r--p 00000000 fe:00 247134                     /usr/bin/my prog\n"
		"Size:                  8 kB\n"
		"AnonHugePages:         0 kB\n"
		"VmFlags: rd mr mw me dw \n"
		"7f00aa000000-7f00aa004000 rw-s 00002000 00:01 1234                       /dev/zero (deleted)\n"
		"VmFlags: rd wr sh mr mw me ms dd dc wf \n"
		"7f00ab000000-7f00ab001000 rw-p 00000000 00:00 0                          [anon:my buffer]\n"
		"VmFlags: rd wr mr mw me ac \n"
		"7f00ac000000-7f00ac001000 ---p 00000000 00:00 0 \n"
		"VmFlags: mr mw me \n"
		"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
		"VmFlags: rd wr mr mw me gd ac \n"
		"7ffc00100000-7ffc00102000 r--p 00000000 00:00 0                          [vvar_vclock]\n"
		"VmFlags: rd mr pf io de dd \n";
	struct vma_list vl;
	const struct vma *v;

	cr_assert_eq(vma_list_parse(text, &vl), 0);
	cr_assert_eq(vl.nr, 6);
	v = &vl.v[0];
	cr_assert_eq(v->start, 0x55d0c0a00000);
	cr_assert_eq(v->end, 0x55d0c0a02000);
	cr_assert_eq(v->prot, PROT_READ);
	cr_assert_eq(v->dev, makedev(0xfe, 0));
	cr_assert_eq(v->ino, 247134);
	cr_assert_str_eq(v->name, "/usr/bin/my prog");
	cr_assert_eq(v->kind, VMAK_FILE);
	cr_assert_str_eq(v->vmflags, "rd mr mw me dw");
	v = &vl.v[1];
	cr_assert(v->shared && v->deleted);
	cr_assert_eq(v->pgoff, 0x2000);
	cr_assert_str_eq(v->name, "/dev/zero");
	cr_assert_eq(v->vmf & (VMF_SHARED | VMF_DONTDUMP | VMF_DONTCOPY | VMF_WIPEONFORK),
		     VMF_SHARED | VMF_DONTDUMP | VMF_DONTCOPY | VMF_WIPEONFORK);
	cr_assert_eq(vl.v[2].kind, VMAK_ANON_NAMED);
	cr_assert_str_eq(vl.v[2].name, "[anon:my buffer]");
	cr_assert_eq(vl.v[3].kind, VMAK_NONE);
	cr_assert_eq(vl.v[3].prot, PROT_NONE);
	cr_assert_eq(vl.v[4].kind, VMAK_STACK);
	cr_assert(vl.v[4].vmf & VMF_GROWSDOWN);
	cr_assert_eq(vl.v[5].kind, VMAK_VVAR);
	cr_assert(vl.v[5].vmf & VMF_IO);
	cr_assert_eq(vma_list_find(&vl, 0x7f00aa003fff), &vl.v[1]);
	cr_assert_null(vma_list_find(&vl, 0x7f00aa004000));
	vma_list_free(&vl);
}

Test(mem_units, maps_parser_refuses_garbage)
{
	char bad[] = "7f00aa004000-7f00aa000000 rw-p 00000000 00:00 0\n";

	cr_assert_lt(vma_list_parse(bad, &(struct vma_list){ 0 }), 0, "end before start");
}

/* A pagemap image with the given runs and a pages file of `pages_len`. */
static int craft(const char *pages_name, const PagemapEntry *runs, int n, size_t pages_len)
{
	PagemapHead head = PAGEMAP_HEAD__INIT;
	struct img *img;
	int dirfd, fd;

	make_tmpdir(cur_dir, sizeof(cur_dir), "pmr");
	dirfd = open(cur_dir, O_RDONLY | O_DIRECTORY);
	fd = openat(dirfd, "pages-7.img", O_WRONLY | O_CREAT, 0600);
	cr_assert_eq(ftruncate(fd, pages_len), 0);
	close(fd);
	img = img_create(dirfd, IMG_PAGEMAP, 7);
	head.pages_file = (char *)pages_name;
	img_write(img, &head);
	for (int i = 0; i < n; i++)
		img_write(img, &runs[i]);
	cr_assert_eq(img_close(img), 0);
	return dirfd;
}

#define RUN(va, nr, fl, off) { PROTOBUF_C_MESSAGE_INIT(&pagemap_entry__descriptor), \
	(va), (nr), (fl), !!((fl) & PE_PRESENT), (off) }

static int open_crafted(const char *pages_name, const PagemapEntry *runs, int n, size_t len)
{
	struct dr_pages *pm;
	int dirfd = craft(pages_name, runs, n, len), r;

	r = dr_pages_open(dirfd, cur_dir, 7, &pm);
	if (!r)
		dr_pages_free(pm);
	close(dirfd);
	rm_rf(cur_dir);
	cur_dir[0] = '\0';
	return r;
}

Test(mem_units, pagemap_reader_refuses_bad_images)
{
	const PagemapEntry ok[] = { RUN(0x10000, 2, PE_PRESENT, 0), RUN(0x12000, 1, PE_ZERO, 0) };
	const PagemapEntry overlap[] = { RUN(0x10000, 2, PE_ZERO, 0), RUN(0x11000, 1, PE_ZERO, 0) };
	const PagemapEntry unordered[] = { RUN(0x20000, 1, PE_ZERO, 0), RUN(0x10000, 1, PE_ZERO, 0) };
	const PagemapEntry outside[] = { RUN(0x10000, 2, PE_PRESENT, 4096) };
	const PagemapEntry two_kinds[] = { RUN(0x10000, 1, PE_ZERO | PE_FILE, 0) };
	const PagemapEntry unaligned[] = { RUN(0x10010, 1, PE_ZERO, 0) };
	const PagemapEntry empty_run[] = { RUN(0x10000, 0, PE_ZERO, 0) };
	const PagemapEntry wraps[] = { RUN(0xfffffffffffff000ull, 2, PE_ZERO, 0) };

	cr_assert_eq(open_crafted("pages-7.img", ok, 2, 8192), 0);
	cr_assert_eq(open_crafted("pages-7.img", overlap, 2, 0), -EINVAL);
	cr_assert_eq(open_crafted("pages-7.img", unordered, 2, 0), -EINVAL);
	cr_assert_eq(open_crafted("pages-7.img", outside, 1, 8192), -EINVAL);
	cr_assert_eq(open_crafted("pages-7.img", two_kinds, 1, 0), -EINVAL);
	cr_assert_eq(open_crafted("pages-7.img", unaligned, 1, 0), -EINVAL);
	cr_assert_eq(open_crafted("pages-7.img", empty_run, 1, 0), -EINVAL);
	cr_assert_eq(open_crafted("pages-7.img", wraps, 1, 0), -EINVAL);
	cr_assert_eq(open_crafted("../pages-7.img", ok, 2, 8192), -EINVAL);
	cr_assert_eq(open_crafted("", ok, 2, 8192), -EINVAL);
}

Test(mem_units, pagemap_reader_reads_runs)
{
	const PagemapEntry runs[] = { RUN(0x10000, 2, PE_PRESENT, 4096), RUN(0x12000, 1, PE_ZERO, 0),
				      RUN(0x20000, 1, PE_FILE, 0) };
	uint8_t page[2 * 4096], got[3 * 4096];
	struct dr_pages *pm;
	int dirfd = craft("pages-7.img", runs, 3, 3 * 4096), fd;

	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 7 + 1);
	fd = openat(dirfd, "pages-7.img", O_WRONLY);
	cr_assert_eq(pwrite(fd, page, sizeof(page), 4096), (ssize_t)sizeof(page));
	close(fd);
	cr_assert_eq(dr_pages_open(dirfd, cur_dir, 7, &pm), 0);
	cr_assert_eq(pm->nr, 3);
	cr_assert_eq(dr_pages_read(pm, 0x10000, got, sizeof(got)), 0);
	cr_assert(!memcmp(got, page, sizeof(page)));
	for (size_t i = sizeof(page); i < sizeof(got); i++)
		cr_assert_eq(got[i], 0);
	cr_assert_eq(dr_pages_read(pm, 0x11800, got, 4096), 0, "across two runs");
	cr_assert(!memcmp(got, page + 0x1800, 0x800));
	cr_assert_eq(dr_pages_read(pm, 0x20000, got, 4096), -ENODATA, "PE_FILE: the caller's");
	cr_assert_eq(dr_pages_read(pm, 0x13000, got, 4096), -ENODATA, "hole");
	cr_assert_eq(dr_pages_find(pm, 0x12fff)->flags, PE_ZERO);
	cr_assert_null(dr_pages_find(pm, 0x13000));
	dr_pages_free(pm);
	close(dirfd);
}

/* Disk full mid-dump: an error, and none of the three images left behind. */
Test(mem_units, full_disk_leaves_no_images)
{
	struct target t;
	struct dump_stats st = { 0 };
	struct stat sb;
	char name[64];
	int dirfd, status, r;

	make_tmpdir(cur_dir, sizeof(cur_dir), "memfull");
	cr_assert_eq(mount("tmpfs", cur_dir, "tmpfs", 0, "size=1m"), 0, "mount: %m");
	cur_mounted = true;
	target_start(&t, "mem_patterns", cur_dir, NULL);
	cur_pid = t.pid;
	dirfd = open(cur_dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(ptrace(PTRACE_SEIZE, t.pid, 0, 0), 0);
	cr_assert_eq(ptrace(PTRACE_INTERRUPT, t.pid, 0, 0), 0);
	cr_assert_eq(waitpid(t.pid, &status, __WALL), t.pid);
	r = mem_dump(dirfd, t.pid, &st);
	cr_assert_eq(ptrace(PTRACE_DETACH, t.pid, 0, 0), 0);
	cr_assert_eq(r, -ENOSPC, "mem_dump returned %d", r);
	snprintf(name, sizeof(name), "pages-%d.img", t.pid);
	cr_assert_neq(fstatat(dirfd, name, &sb, 0), 0);
	snprintf(name, sizeof(name), "pagemap-%d.img", t.pid);
	cr_assert_neq(fstatat(dirfd, name, &sb, 0), 0);
	snprintf(name, sizeof(name), "mm-%d.img", t.pid);
	cr_assert_neq(fstatat(dirfd, name, &sb, 0), 0);
	cr_assert(proc_untraced_running(t.pid));
	close(dirfd);
}

/* The batch layer alone, reading this very process: a pw writing
 * pages-1.img and pagemap-1.img into a fresh directory. */
static struct pw pw;	/* large: iovec and segment tables */
static struct live_src self;	/* this process, as the dump reads a target */

static int pw_open(struct dump_stats *st)
{
	int dirfd = pwu_open(&pw, cur_dir, sizeof(cur_dir), st);

	live_src_init(&self, getpid(), false);
	return dirfd;
}

static void pw_close(void)
{
	pwu_close(&pw);
	live_src_fini(&self);
}

/* process_vm_readv stops at a page it refuses; the rest of that range is
 * read through /proc/PID/mem, and later ranges again in one call. */
Test(mem_units, refused_range_falls_back_to_proc_mem)
{
	const size_t PG = 4096;
	uint8_t *p = mmap(NULL, 6 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t got[6 * 4096];
	struct dump_stats st = { 0 };
	struct dr_pages *pm;
	int dirfd;

	mem_pat_fill(p, 6 * PG, 21, 0);
	cr_assert_eq(mprotect(p + PG, PG, PROT_NONE), 0);
	dirfd = pw_open(&st);
	/* Two segments (a gap between them), one read call for both. */
	cr_assert_eq(pw_add_copy(&pw, (uintptr_t)p, 3, 0, &self.s, 0), 0);
	cr_assert_eq(pw_add_copy(&pw, (uintptr_t)p + 4 * PG, 2, 0, &self.s, 0), 0);
	pw_close();
	cr_assert_eq(dr_pages_open(dirfd, cur_dir, 1, &pm), 0);
	cr_assert_eq(dr_pages_read(pm, (uintptr_t)p, got, 3 * PG), 0);
	cr_assert_eq(dr_pages_read(pm, (uintptr_t)p + 4 * PG, got + 4 * PG, 2 * PG), 0);
	cr_assert_null(dr_pages_find(pm, (uintptr_t)p + 3 * PG));
	mprotect(p + PG, PG, PROT_READ);
	cr_assert(!memcmp(got, p, 3 * PG), "first range");
	cr_assert(!memcmp(got + 4 * PG, p + 4 * PG, 2 * PG), "range after the refused one");
	cr_assert_eq(st.pages_written, 5);
	dr_pages_free(pm);
	close(dirfd);
	munmap(p, 6 * PG);
}

/* More segments than one process_vm_readv takes, and zero pages between
 * every stored one (as many iovecs as a buffer can need), across buffers. */
Test(mem_units, many_segments_and_alternating_zero_pages)
{
	const size_t PG = 4096, N = 6000;
	uint8_t *p = mmap(NULL, N * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct dump_stats st = { 0 };
	uint8_t *got = malloc(PG);
	struct dr_pages *pm;
	int dirfd;

	for (size_t i = 0; i < N; i++)
		if (i % 2 == 0)
			mem_pat_fill(p + i * PG, PG, 22, i * PG);
		else
			p[i * PG] = 0;	/* populated, all zero */
	dirfd = pw_open(&st);
	/* Pages 0..2999 one by one (3000 segments), the rest as one range. */
	for (size_t i = 0; i < 3000; i++)
		cr_assert_eq(pw_add_copy(&pw, (uintptr_t)p + i * PG, 1, 0, &self.s, 0), 0);
	cr_assert_eq(pw_add_copy(&pw, (uintptr_t)p + 3000 * PG, N - 3000, 0, &self.s, 0), 0);
	pw_close();
	cr_assert_eq(st.pages_written, N / 2);
	cr_assert_eq(st.pages_zero, N / 2);
	cr_assert_eq(st.bytes_written, N / 2 * PG);
	cr_assert_eq(dr_pages_open(dirfd, cur_dir, 1, &pm), 0);
	cr_assert_eq(pm->nr, N, "one run per page: they alternate");
	for (size_t i = 0; i < N; i++) {
		const struct dr_run *r = dr_pages_find(pm, (uintptr_t)p + i * PG);

		cr_assert_not_null(r);
		cr_assert_eq(r->flags, i % 2 ? PE_ZERO : PE_PRESENT, "page %zu", i);
		cr_assert_eq(dr_pages_read(pm, (uintptr_t)p + i * PG, got, PG), 0);
		cr_assert(!memcmp(got, p + i * PG, PG), "page %zu", i);
	}
	dr_pages_free(pm);
	close(dirfd);
	free(got);
	munmap(p, N * PG);
}
