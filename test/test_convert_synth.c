/* convert on dumps built here, image by image, through the images/ API:
 * every byte of the input is known, so the tests can say exactly what the
 * core must hold (notes, segment sizes, page contents, holes) and feed it
 * damaged images. The gdb/lldb tests on real dumps are in test_convert.c. */
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include "images/image.h"
#include "test/helpers.h"

#define PG 4096ull
#define NT_XSAVE_LAYOUT 0x205

/* ---- building a dump ---- */

struct synth {
	char dir[256];
	int dirfd;
	int pages_fd;
	uint64_t pages_off;
	struct img *pm;
};

static void put(int dirfd, enum img_kind kind, int pid, const void **msgs, size_t n)
{
	struct img *img = img_create(dirfd, kind, pid);

	cr_assert_not_null(img);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(img_write(img, msgs[i]), 0);
	cr_assert_eq(img_close(img), 0);
}

/* AMD's standard-format XSAVE layout for XCR0 0xe7 (this machine's). */
static void synth_inventory(struct synth *s, uint32_t root, const char *parent, uint32_t kind)
{
	static const uint32_t amd[][3] = { { 2, 576, 256 }, { 5, 832, 64 }, { 6, 896, 512 },
					   { 7, 1408, 1024 } };
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	XsaveComponent c[4], *cp[4];

	for (int i = 0; i < 4; i++) {
		xsave_component__init(&c[i]);
		c[i].feature = amd[i][0];
		c[i].offset = amd[i][1];
		c[i].size = amd[i][2];
		cp[i] = &c[i];
	}
	inv.format_version = IMG_FORMAT_VERSION;
	inv.tool_version = (char *)"test";
	inv.kernel_release = (char *)"6.18";
	inv.root_pid = root;
	inv.page_size = PG;
	inv.xcr0 = 0xe7;
	inv.xsave_size = 2432;
	inv.n_xsave_layout = 4;
	inv.xsave_layout = cp;
	inv.arch = (char *)"x86_64";
	inv.has_kind = 1;
	inv.kind = kind;
	inv.parent_dir = (char *)parent;
	cr_assert_eq(img_write_inventory(s->dirfd, &inv), 0);
}

static void synth_open(struct synth *s, const char *tag)
{
	make_tmpdir(s->dir, sizeof(s->dir), tag);
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(s->dirfd, 0);
}

static void synth_pstree(struct synth *s, const uint32_t *pids, size_t n, uint32_t ppid)
{
	PstreeEntry e[8];
	const void *m[8];
	uint32_t tids[8][1];

	for (size_t i = 0; i < n; i++) {
		pstree_entry__init(&e[i]);
		e[i].pid = pids[i];
		e[i].ppid = i ? pids[0] : ppid;
		e[i].pgid = e[i].sid = pids[0];
		tids[i][0] = pids[i];
		e[i].n_threads = 1;
		e[i].threads = tids[i];
		m[i] = &e[i];
	}
	put(s->dirfd, IMG_PSTREE, 0, m, n);
}

static const char cmdline[] = "/bin/synth\0--flag\0value";

static void synth_proc(struct synth *s, uint32_t pid, uint32_t ppid, int64_t filter)
{
	ProcEntry pe = PROC_ENTRY__INIT;
	CredsEntry cr = CREDS_ENTRY__INIT;
	uint64_t auxv[] = { 6 /* AT_PAGESZ */, PG, 9 /* AT_ENTRY */, 0x401000, 0, 0 };
	const void *m[] = { &pe };

	pe.pid = pid;
	pe.ppid = ppid;
	pe.pgid = 4242;
	pe.sid = 4343;
	pe.comm = (char *)"synth-comm-name";
	pe.has_cmdline = 1;
	pe.cmdline.data = (uint8_t *)cmdline;
	pe.cmdline.len = sizeof(cmdline);
	pe.has_auxv = 1;
	pe.auxv.data = (uint8_t *)auxv;
	pe.auxv.len = sizeof(auxv);
	cr.uid = 1234;
	cr.gid = 5678;
	pe.creds = &cr;
	pe.state = (char *)"S";
	pe.has_utime = pe.has_stime = 1;
	pe.utime = 250;		/* 2.5 s */
	pe.stime = 125;
	if (filter >= 0) {
		pe.has_coredump_filter = 1;
		pe.coredump_filter = filter;
	}
	put(s->dirfd, IMG_PROC, pid, m, 1);
}

/* Threads tid = pid, pid+1, ...; registers and XSAVE bytes carry the tid. */
static void synth_threads(struct synth *s, uint32_t pid, int n)
{
	ThreadEntry t[8];
	struct user_regs_struct regs[8];
	uint8_t fx[8][512], xs[8][2432];
	const void *m[8];

	for (int i = 0; i < n; i++) {
		thread_entry__init(&t[i]);
		memset(&regs[i], 0, sizeof(regs[i]));
		regs[i].rip = 0x401000 + i;
		regs[i].rsp = 0x7ff000 - i;
		regs[i].fs_base = 0x1000 * (i + 1);
		t[i].tid = pid + i;
		t[i].gpregs.data = (uint8_t *)&regs[i];
		t[i].gpregs.len = sizeof(regs[i]);
		memset(fx[i], 0x10 + i, sizeof(fx[i]));
		t[i].has_fpregs = 1;
		t[i].fpregs.data = fx[i];
		t[i].fpregs.len = 512;
		/* Legacy area, then each AMD component filled with its number. */
		memset(xs[i], 0x10 + i, 576);
		memset(xs[i] + 576, 0xa2, 256);
		memset(xs[i] + 832, 0xa5, 64);
		memset(xs[i] + 896, 0xa6, 512);
		memset(xs[i] + 1408, 0xa7, 1024);
		t[i].has_xstate = 1;
		t[i].xstate.data = xs[i];
		t[i].xstate.len = sizeof(xs[i]);
		t[i].blocked = 0x1000ull << i;
		t[i].has_pending_mask = 1;
		t[i].pending_mask = 1ull << (SIGUSR1 - 1);
		t[i].has_utime = 1;
		t[i].utime = 100 + i;
		m[i] = &t[i];
	}
	put(s->dirfd, IMG_THREADS, pid, m, n);
}

static VmaEntry vma(uint64_t start, uint64_t end, uint32_t prot, uint32_t status)
{
	VmaEntry v = VMA_ENTRY__INIT;

	v.start = start;
	v.end = end;
	v.prot = prot;
	v.flags = MAP_PRIVATE | (status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) ? 0 : MAP_ANONYMOUS);
	v.status = status | VMA_AREA_REGULAR;
	return v;
}

static void synth_vmas(struct synth *s, uint32_t pid, VmaEntry *v, size_t n)
{
	const void **m = calloc(n, sizeof(*m));

	for (size_t i = 0; i < n; i++)
		m[i] = &v[i];
	put(s->dirfd, IMG_MM, pid, m, n);
	free(m);
}

static void pm_begin(struct synth *s, uint32_t pid)
{
	PagemapHead h = PAGEMAP_HEAD__INIT;
	char name[64];

	snprintf(name, sizeof(name), "pages-%u.img", pid);
	s->pages_fd = img_create_raw(s->dirfd, name);
	cr_assert_geq(s->pages_fd, 0);
	s->pages_off = 0;
	s->pm = img_create(s->dirfd, IMG_PAGEMAP, pid);
	cr_assert_not_null(s->pm);
	h.pages_file = name;
	cr_assert_eq(img_write(s->pm, &h), 0);
}

/* Byte of page `vaddr` at offset i: tells pages apart in the core. */
static uint8_t page_byte(uint64_t vaddr, size_t i)
{
	return (uint8_t)((vaddr >> 12) * 7 + i % 251 + 1);
}

static void pm_run(struct synth *s, uint64_t vaddr, uint32_t nr, uint32_t flags)
{
	PagemapEntry e = PAGEMAP_ENTRY__INIT;

	e.vaddr = vaddr;
	e.nr_pages = nr;
	e.flags = flags;
	if (flags == PE_PRESENT) {
		uint8_t page[PG];

		e.has_pages_off = 1;
		e.pages_off = s->pages_off;
		for (uint32_t p = 0; p < nr; p++) {
			for (size_t i = 0; i < PG; i++)
				page[i] = page_byte(vaddr + p * PG, i);
			cr_assert_eq(pwrite(s->pages_fd, page, PG, s->pages_off), (ssize_t)PG);
			s->pages_off += PG;
		}
	}
	cr_assert_eq(img_write(s->pm, &e), 0);
}

static void pm_end(struct synth *s)
{
	cr_assert_eq(img_close(s->pm), 0);
	close(s->pages_fd);
}

/* A one-process dump: anon VMA with present, zero and untouched pages, a
 * DONTDUMP VMA, an untouched anon VMA, vvar, vdso. */
#define A_START 0x10000000ull
#define A_END (A_START + 16 * PG)
#define DD_START 0x20000000ull
#define UNT_START 0x30000000ull
#define VVAR_START 0x7fff0000ull
#define VDSO_START (VVAR_START + 4 * PG)
#define TAIL_START 0x7fffff00000ull		/* last VMA: ends in a hole */

static void synth_basic(struct synth *s, uint32_t pid, int64_t filter)
{
	VmaEntry v[6];
	uint32_t pids[] = { pid };

	synth_inventory(s, pid, NULL, INVENTORY_KIND_DUMP);
	synth_pstree(s, pids, 1, 1);
	synth_proc(s, pid, 1, filter);
	synth_threads(s, pid, 3);
	v[0] = vma(A_START, A_END, PROT_READ | PROT_WRITE, VMA_ANON);
	v[1] = vma(DD_START, DD_START + 2 * PG, PROT_READ | PROT_WRITE, VMA_ANON);
	v[1].has_madv = 1;
	v[1].madv = VMA_MADV_DONTDUMP;
	v[2] = vma(UNT_START, UNT_START + 8 * PG, PROT_READ, VMA_ANON);
	v[3] = vma(VVAR_START, VVAR_START + 4 * PG, PROT_READ, VMA_VVAR);
	v[3].name = (char *)"[vvar]";
	v[4] = vma(VDSO_START, VDSO_START + 2 * PG, PROT_READ | PROT_EXEC, VMA_VDSO);
	v[4].name = (char *)"[vdso]";
	v[5] = vma(TAIL_START, TAIL_START + 4 * PG, PROT_READ | PROT_WRITE, VMA_ANON);
	synth_vmas(s, pid, v, 6);
	pm_begin(s, pid);
	pm_run(s, A_START, 2, PE_PRESENT);
	pm_run(s, A_START + 2 * PG, 1, PE_ZERO);
	pm_run(s, A_START + 5 * PG, 3, PE_PRESENT);	/* pages 3-4 untouched */
	pm_run(s, DD_START, 2, PE_PRESENT);
	pm_run(s, VDSO_START, 2, PE_PRESENT);
	pm_run(s, TAIL_START, 1, PE_PRESENT);	/* 3 untouched pages at the file's end */
	pm_end(s);
}

/* ---- reading a core ---- */

struct core {
	int fd;
	Elf *elf;
	size_t phnum;
	GElf_Phdr ph[64];
};

static void core_open(struct core *c, const char *path)
{
	elf_version(EV_CURRENT);
	c->fd = open(path, O_RDONLY);
	cr_assert_geq(c->fd, 0, "no core at %s", path);
	c->elf = elf_begin(c->fd, ELF_C_READ, NULL);
	cr_assert_not_null(c->elf);
	cr_assert_eq(elf_getphdrnum(c->elf, &c->phnum), 0);
	for (size_t i = 0; i < c->phnum && i < 64; i++)
		cr_assert_not_null(gelf_getphdr(c->elf, i, &c->ph[i]));
}

static void core_close(struct core *c)
{
	elf_end(c->elf);
	close(c->fd);
}

static const GElf_Phdr *core_load(const struct core *c, uint64_t vaddr)
{
	for (size_t i = 0; i < c->phnum && i < 64; i++)
		if (c->ph[i].p_type == PT_LOAD && c->ph[i].p_vaddr == vaddr)
			return &c->ph[i];
	cr_assert_fail("no PT_LOAD at %#lx", (unsigned long)vaddr);
	return NULL;
}

struct note {
	char owner[8];
	uint32_t type;
	size_t len;
	uint8_t *desc;
};

static size_t core_notes(const struct core *c, struct note *out, size_t max)
{
	size_t n = 0, off = 0, name_off, desc_off, next;
	Elf_Data *d;
	GElf_Nhdr nh;

	cr_assert_eq(c->ph[0].p_type, PT_NOTE, "PT_NOTE is not first");
	d = elf_getdata_rawchunk(c->elf, c->ph[0].p_offset, c->ph[0].p_filesz, ELF_T_NHDR);
	cr_assert_not_null(d);
	while (off < d->d_size && (next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		cr_assert_lt(n, max);
		snprintf(out[n].owner, sizeof(out[n].owner), "%s", (char *)d->d_buf + name_off);
		out[n].type = nh.n_type;
		out[n].len = nh.n_descsz;
		out[n].desc = malloc(nh.n_descsz);
		memcpy(out[n].desc, (char *)d->d_buf + desc_off, nh.n_descsz);
		n++;
		off = next;
	}
	cr_assert_eq(off, d->d_size, "notes do not fill PT_NOTE exactly");
	return n;
}

static void notes_free(struct note *n, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		free(n[i].desc);
}

static void read_at(const struct core *c, uint64_t off, void *buf, size_t len)
{
	cr_assert_eq(pread(c->fd, buf, len, off), (ssize_t)len);
}

static bool is_hole(int fd, uint64_t off, uint64_t len)
{
	off_t data = lseek(fd, off, SEEK_DATA);

	return data < 0 || (uint64_t)data >= off + len;
}

static int convert(const struct synth *s, const char *out, char *err, size_t errlen,
		   const char *extra)
{
	if (extra)
		return run_criu_lite(err, errlen, "convert", "-D", s->dir, "-o", out, extra,
				     NULL);
	return run_criu_lite(err, errlen, "convert", "-D", s->dir, "-o", out, NULL);
}

static void core_path(const struct synth *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s/core", s->dir);
}

static void synth_done(struct synth *s)
{
	close(s->dirfd);
	rm_rf(s->dir);
}

/* ---- tests ---- */

Test(convert_synth, notes_in_kernel_order)
{
	static const struct { const char *owner; uint32_t type; size_t len; } want[] = {
		{ "CORE", NT_PRSTATUS, 336 }, { "CORE", NT_PRPSINFO, 136 },
		{ "CORE", NT_SIGINFO, 128 }, { "CORE", NT_AUXV, 48 }, { "CORE", NT_FILE, 16 },
		{ "CORE", NT_PRFPREG, 512 }, { "LINUX", NT_X86_XSTATE, 2688 },
		{ "CORE", NT_PRSTATUS, 336 }, { "CORE", NT_PRFPREG, 512 },
		{ "LINUX", NT_X86_XSTATE, 2688 },
		{ "CORE", NT_PRSTATUS, 336 }, { "CORE", NT_PRFPREG, 512 },
		{ "LINUX", NT_X86_XSTATE, 2688 },
		{ "LINUX", NT_XSAVE_LAYOUT, 64 },
	};
	struct synth s;
	struct core c;
	struct note n[32];
	char out[300], err[1024];
	size_t nr;

	synth_open(&s, "conv-notes");
	synth_basic(&s, 5000, -1);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, err, sizeof(err), NULL), 0, "convert: %s", err);
	cr_expect_str_empty(err, "convert is not silent: %s", err);
	core_open(&c, out);
	nr = core_notes(&c, n, 32);
	cr_assert_eq(nr, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < nr; i++) {
		cr_expect_str_eq(n[i].owner, want[i].owner, "note %zu", i);
		cr_expect_eq(n[i].type, want[i].type, "note %zu has type %#x", i, n[i].type);
		cr_expect_eq(n[i].len, want[i].len, "note %zu has %zu bytes", i, n[i].len);
	}
	notes_free(n, nr);
	core_close(&c);
	synth_done(&s);
}

Test(convert_synth, prstatus_prpsinfo_siginfo_fields)
{
	struct synth s;
	struct core c;
	struct note n[32];
	struct elf_prstatus ps;
	struct elf_prpsinfo pi;
	siginfo_t si;
	char out[300];

	synth_open(&s, "conv-fields");
	synth_basic(&s, 5000, -1);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	core_open(&c, out);
	core_notes(&c, n, 32);

	memcpy(&ps, n[7].desc, sizeof(ps));	/* second thread's PRSTATUS */
	cr_expect_eq(ps.pr_pid, 5001);
	cr_expect_eq(ps.pr_ppid, 1);
	cr_expect_eq(ps.pr_pgrp, 4242);
	cr_expect_eq(ps.pr_sid, 4343);
	cr_expect_eq(ps.pr_sighold, 0x2000);
	cr_expect_eq(ps.pr_sigpend, 1ul << (SIGUSR1 - 1));
	cr_expect_eq(ps.pr_utime.tv_sec, 1);
	cr_expect_eq(ps.pr_utime.tv_usec, 10000);
	cr_expect_eq(ps.pr_cursig, SIGSTOP);
	cr_expect_eq(ps.pr_info.si_signo, SIGSTOP);
	cr_expect_eq(ps.pr_reg[16], 0x401001, "rip");	/* RIP slot of user_regs_struct */
	cr_expect_eq(ps.pr_fpvalid, 1);
	memcpy(&ps, n[0].desc, sizeof(ps));
	cr_expect_eq(ps.pr_pid, 5000);
	cr_expect_eq(ps.pr_utime.tv_sec, 2, "the leader reports the process's times");
	cr_expect_eq(ps.pr_utime.tv_usec, 500000);
	cr_expect_eq(ps.pr_stime.tv_sec, 1);

	memcpy(&pi, n[1].desc, sizeof(pi));
	cr_expect_eq(pi.pr_sname, 'S');
	cr_expect_eq(pi.pr_state, 1);
	cr_expect_eq(pi.pr_uid, 1234);
	cr_expect_eq(pi.pr_gid, 5678);
	cr_expect_eq(pi.pr_pid, 5000);
	cr_expect_eq(pi.pr_pgrp, 4242);
	cr_expect_eq(memcmp(pi.pr_fname, "synth-comm-name", 16), 0);
	cr_expect_str_eq(pi.pr_psargs, "/bin/synth --flag value ");

	memcpy(&si, n[2].desc, sizeof(si));
	cr_expect_eq(si.si_signo, SIGSTOP);
	cr_expect_eq(si.si_code, SI_USER);
	cr_expect_eq(memcmp(n[3].desc + 16, (uint64_t[]){ 9, 0x401000 }, 16), 0, "auxv copied");
	cr_expect_eq(memcmp(n[5].desc, (uint8_t[512]){ [0 ... 511] = 0x10 }, 512), 0);
	notes_free(n, 14);
	core_close(&c);
	synth_done(&s);
}

/* The AMD layout (AVX-512 below where Intel has it) is re-laid at Intel's
 * offsets, each component's bytes intact, and the layout note says so;
 * --raw-xstate keeps the dumped bytes. */
Test(convert_synth, xstate_layout)
{
	static const uint32_t intel[][3] = { { 2, 256, 576 }, { 5, 64, 1088 }, { 6, 512, 1152 },
					     { 7, 1024, 1664 } };
	struct synth s;
	struct core c;
	struct note n[32];
	char out[300];
	uint32_t lay[4][4];
	size_t nr;

	synth_open(&s, "conv-xstate");
	synth_basic(&s, 5000, -1);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	core_open(&c, out);
	nr = core_notes(&c, n, 32);
	cr_assert_eq(n[6].len, 2688);
	for (int k = 0; k < 4; k++) {
		uint8_t fill = 0xa0 + intel[k][0];

		for (uint32_t b = 0; b < intel[k][1]; b++)
			cr_assert_eq(n[6].desc[intel[k][2] + b], fill, "component %u byte %u",
				     intel[k][0], b);
	}
	cr_expect_eq(n[6].desc[0], 0x10, "legacy area kept");
	cr_assert_eq(n[13].len, sizeof(lay));
	memcpy(lay, n[13].desc, sizeof(lay));
	for (int k = 0; k < 4; k++) {
		cr_expect_eq(lay[k][0], intel[k][0]);
		cr_expect_eq(lay[k][1], intel[k][1]);
		cr_expect_eq(lay[k][2], intel[k][2]);
	}
	notes_free(n, nr);
	core_close(&c);

	cr_assert_eq(convert(&s, out, NULL, 0, "--raw-xstate"), 0);
	core_open(&c, out);
	nr = core_notes(&c, n, 32);
	cr_expect_eq(n[6].len, 2432);
	cr_expect_eq(n[6].desc[832], 0xa5, "opmask where the dump had it");
	memcpy(lay, n[13].desc, sizeof(lay));
	cr_expect_eq(lay[1][2], 832);
	notes_free(n, nr);
	core_close(&c);
	synth_done(&s);
}

Test(convert_synth, readelf_and_eu_readelf_parse_every_note)
{
	struct synth s;
	char out[300], cmd_out[65536];

	synth_open(&s, "conv-readelf");
	synth_basic(&s, 5000, -1);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	cr_assert_eq(run_cmd(cmd_out, sizeof(cmd_out), "readelf -n -l -h '%s' 2>&1", out), 0);
	cr_expect_null(strcasestr(cmd_out, "warning"), "readelf: %s", cmd_out);
	cr_expect_null(strcasestr(cmd_out, "error"), "readelf: %s", cmd_out);
	cr_expect_not_null(strstr(cmd_out, "NT_X86_XSTATE"));
	cr_assert_eq(run_cmd(cmd_out, sizeof(cmd_out), "eu-readelf --notes -l '%s' 2>&1", out), 0);
	cr_expect_null(strcasestr(cmd_out, "warning"), "eu-readelf: %s", cmd_out);
	cr_expect_null(strcasestr(cmd_out, "invalid"), "eu-readelf: %s", cmd_out);
	cr_expect_not_null(strstr(cmd_out, "fname: synth-comm-name"), "%s", cmd_out);
	cr_expect_not_null(strstr(cmd_out, "pid: 5002"), "%s", cmd_out);
	synth_done(&s);
}

Test(convert_synth, segments_sparse_and_filtered)
{
	struct synth s;
	struct core c;
	struct stat st;
	const GElf_Phdr *p;
	uint8_t page[PG];
	char out[300];

	synth_open(&s, "conv-segs");
	synth_basic(&s, 5000, -1);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	core_open(&c, out);
	cr_assert_eq(c.phnum, 7, "PT_NOTE + one PT_LOAD per VMA");
	for (size_t i = 2; i < c.phnum; i++)
		cr_expect_gt(c.ph[i].p_vaddr, c.ph[i - 1].p_vaddr, "address order");

	p = core_load(&c, A_START);
	cr_expect_eq(p->p_filesz, 16 * PG);
	cr_expect_eq(p->p_flags, PF_R | PF_W);
	cr_expect_eq(p->p_offset % PG, 0);
	for (int pg = 0; pg < 16; pg++) {
		bool present = pg < 2 || (pg >= 5 && pg < 8);

		read_at(&c, p->p_offset + pg * PG, page, PG);
		for (size_t i = 0; i < PG; i += 509)
			cr_assert_eq(page[i], present ? page_byte(A_START + pg * PG, i) : 0,
				     "page %d byte %zu", pg, i);
		cr_expect_eq(is_hole(c.fd, p->p_offset + pg * PG, PG), !present,
			     "page %d %s", pg, present ? "missing" : "not a hole");
	}
	cr_expect_eq(core_load(&c, DD_START)->p_filesz, 0, "MADV_DONTDUMP kept out");
	cr_expect_eq(core_load(&c, DD_START)->p_memsz, 2 * PG);
	cr_expect_eq(core_load(&c, UNT_START)->p_filesz, 0, "never-written anon VMA");
	cr_expect_eq(core_load(&c, VVAR_START)->p_filesz, 0, "[vvar] is a hole");
	p = core_load(&c, VDSO_START);
	cr_expect_eq(p->p_filesz, 2 * PG, "[vdso] whole");
	cr_expect_eq(p->p_flags, PF_R | PF_X);
	read_at(&c, p->p_offset + PG + 7, page, 1);
	cr_expect_eq(page[0], page_byte(VDSO_START + PG, 7));
	p = core_load(&c, TAIL_START);
	cr_expect_eq(p->p_filesz, 4 * PG);
	cr_assert_eq(fstat(c.fd, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, p->p_offset + 4 * PG, "ends in a hole, full length");
	cr_expect_lt((uint64_t)st.st_blocks * 512, 64 * PG, "core is not sparse");
	core_close(&c);

	/* --filter 0 overrides the process's filter: no anonymous memory. */
	cr_assert_eq(convert(&s, out, NULL, 0, "--filter=0"), 0);
	core_open(&c, out);
	cr_expect_eq(core_load(&c, A_START)->p_filesz, 0);
	cr_expect_eq(core_load(&c, VDSO_START)->p_filesz, 2 * PG, "[vdso] always dumped");
	core_close(&c);
	synth_done(&s);
}

Test(convert_synth, process_filter_honoured)
{
	struct synth s;
	struct core c;
	char out[300];

	synth_open(&s, "conv-pfilter");
	synth_basic(&s, 5000, 0x30);	/* the process asked: no anon private */
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	core_open(&c, out);
	cr_expect_eq(core_load(&c, A_START)->p_filesz, 0);
	core_close(&c);
	synth_done(&s);
}

/* A private file mapping: its first page (an ELF header) comes from the
 * file, as in a kernel core; a page the process wrote from the pages file;
 * with bit 2 of the filter the whole mapping, unwritten pages read from the
 * file. A file changed since the dump is not trusted. */
static void write_file(const char *path, size_t pages)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	uint8_t page[PG];

	cr_assert_geq(fd, 0);
	for (size_t p = 0; p < pages; p++) {
		memset(page, 0xf0 + p, PG);
		if (!p)
			memcpy(page, ELFMAG, SELFMAG);
		cr_assert_eq(write(fd, page, PG), (ssize_t)PG);
	}
	close(fd);
}

#define F_START 0x40000000ull

static void synth_file_dump(struct synth *s, const char *file, bool written)
{
	FileIdentity fi = FILE_IDENTITY__INIT;
	uint32_t pids[] = { 6000 };
	struct stat st;
	VmaEntry v;

	cr_assert_eq(stat(file, &st), 0);
	fi.path = (char *)file;
	fi.has_size = fi.has_mtime_ns = fi.has_mode = 1;
	fi.size = st.st_size;
	fi.mtime_ns = st.st_mtim.tv_sec * 1000000000ull + st.st_mtim.tv_nsec;
	fi.mode = st.st_mode;
	synth_inventory(s, 6000, NULL, INVENTORY_KIND_DUMP);
	synth_pstree(s, pids, 1, 1);
	synth_proc(s, 6000, 1, -1);
	synth_threads(s, 6000, 1);
	v = vma(F_START, F_START + 4 * PG, PROT_READ | PROT_WRITE, VMA_FILE_PRIVATE | VMA_ELF_HEADER);
	v.name = (char *)file;
	v.file = &fi;
	synth_vmas(s, 6000, &v, 1);
	pm_begin(s, 6000);
	pm_run(s, F_START, 1, PE_FILE);
	if (written)
		pm_run(s, F_START + 2 * PG, 1, PE_PRESENT);
	pm_end(s);
}

Test(convert_synth, file_pages_from_unchanged_file)
{
	struct synth s;
	struct core c;
	struct note n[16];
	const GElf_Phdr *p;
	char out[300], file[300];
	uint8_t b[SELFMAG + 1];
	uint64_t *nf;
	size_t nr;

	synth_open(&s, "conv-file");
	snprintf(file, sizeof(file), "%s/mapped.so", s.dir);
	write_file(file, 4);
	synth_file_dump(&s, file, false);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	core_open(&c, out);
	p = core_load(&c, F_START);
	cr_expect_eq(p->p_filesz, PG, "unwritten file mapping: its ELF header page only");
	read_at(&c, p->p_offset, b, SELFMAG + 1);
	cr_expect_eq(memcmp(b, ELFMAG, SELFMAG), 0, "ELF header read from the file");
	nr = core_notes(&c, n, 16);
	nf = (uint64_t *)n[4].desc;
	cr_expect_eq(nf[0], 1, "NT_FILE count");
	cr_expect_eq(nf[1], PG);
	cr_expect_eq(nf[2], F_START);
	cr_expect_eq(nf[3], F_START + 4 * PG);
	cr_expect_eq(nf[4], 0);
	cr_expect_str_eq((char *)&nf[5], file);
	cr_expect_eq(n[4].len, 5 * 8 + strlen(file) + 1, "no padding inside NT_FILE");
	notes_free(n, nr);
	core_close(&c);

	/* Bit 2: the whole private file mapping, from the file where unwritten. */
	cr_assert_eq(convert(&s, out, NULL, 0, "--filter=0x37"), 0);
	core_open(&c, out);
	p = core_load(&c, F_START);
	cr_expect_eq(p->p_filesz, 4 * PG);
	read_at(&c, p->p_offset + 3 * PG + 100, b, 1);
	cr_expect_eq(b[0], 0xf3);
	core_close(&c);
	synth_done(&s);
}

Test(convert_synth, written_file_mapping_whole)
{
	struct synth s;
	struct core c;
	const GElf_Phdr *p;
	char out[300], file[300];
	uint8_t b[1];

	synth_open(&s, "conv-filew");
	snprintf(file, sizeof(file), "%s/mapped.so", s.dir);
	write_file(file, 4);
	synth_file_dump(&s, file, true);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	core_open(&c, out);
	p = core_load(&c, F_START);
	cr_expect_eq(p->p_filesz, 4 * PG, "a written private mapping is dumped whole");
	read_at(&c, p->p_offset + 2 * PG + 9, b, 1);
	cr_expect_eq(b[0], page_byte(F_START + 2 * PG, 9), "the written page");
	read_at(&c, p->p_offset + 1 * PG + 9, b, 1);
	cr_expect_eq(b[0], 0xf1, "an unwritten page, from the file");
	core_close(&c);
	synth_done(&s);
}

Test(convert_synth, changed_file_not_trusted)
{
	struct synth s;
	struct core c;
	const GElf_Phdr *p;
	char out[300], file[300], err[2048];

	synth_open(&s, "conv-filechg");
	snprintf(file, sizeof(file), "%s/mapped.so", s.dir);
	write_file(file, 4);
	synth_file_dump(&s, file, true);
	write_file(file, 5);	/* replaced after the dump */
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, err, sizeof(err), NULL), 0);
	cr_expect_not_null(strstr(err, "changed since the dump"), "%s", err);
	core_open(&c, out);
	p = core_load(&c, F_START);
	cr_expect(is_hole(c.fd, p->p_offset, PG), "a changed file's page was copied");
	cr_expect(!is_hole(c.fd, p->p_offset + 2 * PG, PG), "the written page is lost");
	core_close(&c);
	synth_done(&s);
}

/* More than 65535 segments: e_phnum is PN_XNUM and section 0 holds the count. */
Test(convert_synth, pn_xnum, .timeout = 60)
{
	enum { NV = 70000 };
	struct synth s;
	uint32_t pids[] = { 7000 };
	VmaEntry *v = calloc(NV, sizeof(*v));
	char out[300], cmd_out[4096];
	size_t phnum, shnum;
	GElf_Shdr sh;
	GElf_Phdr ph;
	struct core c;

	synth_open(&s, "conv-xnum");
	synth_inventory(&s, 7000, NULL, INVENTORY_KIND_DUMP);
	synth_pstree(&s, pids, 1, 1);
	synth_proc(&s, 7000, 1, -1);
	synth_threads(&s, 7000, 1);
	for (int i = 0; i < NV; i++)
		v[i] = vma(0x100000000ull + i * 2 * PG, 0x100000000ull + i * 2 * PG + PG,
			   PROT_READ | PROT_WRITE, VMA_ANON);
	synth_vmas(&s, 7000, v, NV);
	pm_begin(&s, 7000);
	pm_run(&s, v[NV - 1].start, 1, PE_PRESENT);
	pm_end(&s);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	core_open(&c, out);
	cr_expect_eq(elf64_getehdr(c.elf)->e_phnum, PN_XNUM);
	cr_assert_eq(elf_getphdrnum(c.elf, &phnum), 0);
	cr_expect_eq(phnum, NV + 1);
	cr_assert_eq(elf_getshdrnum(c.elf, &shnum), 0);
	cr_assert_not_null(gelf_getshdr(elf_getscn(c.elf, 0), &sh));
	cr_expect_eq(sh.sh_info, NV + 1);
	cr_assert_not_null(gelf_getphdr(c.elf, NV, &ph));
	cr_expect_eq(ph.p_vaddr, v[NV - 1].start);
	cr_expect_eq(ph.p_filesz, PG);
	core_close(&c);
	cr_assert_eq(run_cmd(cmd_out, sizeof(cmd_out), "readelf -h '%s' 2>&1 | grep -i -e warn "
				"-e 'program headers:'", out), 0);
	cr_expect_not_null(strstr(cmd_out, "65535 (70001)"), "%s", cmd_out);
	cr_expect_null(strcasestr(cmd_out, "warn"), "%s", cmd_out);
	free(v);
	synth_done(&s);
}

/* -o DIR: a core per process of the tree. */
Test(convert_synth, output_dir_core_per_process)
{
	struct synth s;
	uint32_t pids[] = { 8000, 8001 };
	char path[300];
	struct core c;
	struct note n[16];

	synth_open(&s, "conv-tree");
	synth_inventory(&s, 8000, NULL, INVENTORY_KIND_DUMP);
	synth_pstree(&s, pids, 2, 1);
	for (int i = 0; i < 2; i++) {
		VmaEntry v = vma(A_START, A_END, PROT_READ, VMA_ANON);

		synth_proc(&s, pids[i], i ? 8000 : 1, -1);
		synth_threads(&s, pids[i], 1);
		synth_vmas(&s, pids[i], &v, 1);
		pm_begin(&s, pids[i]);
		pm_end(&s);
	}
	cr_assert_eq(convert(&s, s.dir, NULL, 0, NULL), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/core.%u", s.dir, pids[i]);
		core_open(&c, path);
		size_t nr = core_notes(&c, n, 16);

		cr_expect_eq(((struct elf_prstatus *)n[0].desc)->pr_pid, (pid_t)pids[i]);
		cr_expect_eq(((struct elf_prstatus *)n[0].desc)->pr_ppid, i ? 8000 : 1);
		notes_free(n, nr);
		core_close(&c);
	}

	/* One process of the tree into a file; -v says how fast it went. */
	{
		char out[300], err[2048];
		size_t nr;

		core_path(&s, out, sizeof(out));
		cr_assert_eq(run_criu_lite(err, sizeof(err), "convert", "-D", s.dir, "-o", out,
					   "--pid", "8001", "-v", NULL), 0, "%s", err);
		cr_expect_not_null(strstr(err, "MiB/s"), "-v does not log throughput: %s", err);
		core_open(&c, out);
		nr = core_notes(&c, n, 16);
		cr_expect_eq(((struct elf_prstatus *)n[0].desc)->pr_pid, 8001);
		notes_free(n, nr);
		core_close(&c);
		cr_expect_eq(run_criu_lite(err, sizeof(err), "convert", "-D", s.dir, "-o", out,
					   "--pid", "8002", NULL), 1);
		cr_expect_not_null(strstr(err, "not in this dump"), "%s", err);
	}
	synth_done(&s);
}

/* Pages unchanged since a pre-dump are read from the pre-dump's images. */
Test(convert_synth, parent_pages)
{
	struct synth s, pre;
	uint32_t pids[] = { 9000 };
	VmaEntry v = vma(A_START, A_END, PROT_READ | PROT_WRITE, VMA_ANON);
	char out[300], rel[300];
	struct core c;
	uint8_t b[1];

	synth_open(&pre, "conv-pre");
	synth_inventory(&pre, 9000, NULL, INVENTORY_KIND_PREDUMP);
	pm_begin(&pre, 9000);
	pm_run(&pre, A_START, 4, PE_PRESENT);
	pm_end(&pre);

	synth_open(&s, "conv-post");
	snprintf(rel, sizeof(rel), "../%s", strrchr(pre.dir, '/') + 1);
	synth_inventory(&s, 9000, rel, INVENTORY_KIND_DUMP);
	synth_pstree(&s, pids, 1, 1);
	synth_proc(&s, 9000, 1, -1);
	synth_threads(&s, 9000, 1);
	synth_vmas(&s, 9000, &v, 1);
	pm_begin(&s, 9000);
	pm_run(&s, A_START, 3, PE_PARENT);
	pm_run(&s, A_START + 3 * PG, 1, PE_ZERO);	/* zeroed since */
	pm_end(&s);
	core_path(&s, out, sizeof(out));
	cr_assert_eq(convert(&s, out, NULL, 0, NULL), 0);
	core_open(&c, out);
	read_at(&c, core_load(&c, A_START)->p_offset + 2 * PG + 33, b, 1);
	cr_expect_eq(b[0], page_byte(A_START + 2 * PG, 33));
	cr_expect(is_hole(c.fd, core_load(&c, A_START)->p_offset + 3 * PG, PG));
	core_close(&c);

	/* A pre-dump itself has nothing to convert. */
	cr_expect_eq(convert(&pre, out, NULL, 0, NULL), 1);
	synth_done(&s);
	synth_done(&pre);
}

/* ---- refused dumps: one line, non-zero, no core, no temporary left ---- */

static int count_entries(const char *dir)
{
	char out[64];

	run_cmd(out, sizeof(out), "ls -A '%s' | wc -l", dir);
	return atoi(out);
}

static void expect_refused(struct synth *s, const char *what)
{
	char outdir[256], out[300], err[2048];
	int r;

	make_tmpdir(outdir, sizeof(outdir), "conv-out");
	snprintf(out, sizeof(out), "%s/core", outdir);
	r = convert(s, out, err, sizeof(err), NULL);
	cr_expect_eq(r, 1, "%s: exit %d: %s", what, r, err);
	cr_expect_not_null(strstr(err, what), "expected '%s' in: %s", what, err);
	cr_expect_eq(strchr(err, '\n') - err + 1, (long)strlen(err), "not one line: %s", err);
	cr_expect_eq(count_entries(outdir), 0, "something was left in the output dir");
	rm_rf(outdir);
}

Test(convert_synth, refuses_missing_inventory)
{
	struct synth s;

	synth_open(&s, "conv-noinv");
	synth_basic(&s, 5000, -1);
	cr_assert_eq(unlinkat(s.dirfd, "inventory.img", 0), 0);
	expect_refused(&s, "no inventory.img");
	synth_done(&s);
}

static void truncate_image(struct synth *s, const char *name, off_t cut)
{
	char path[400];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(truncate(path, st.st_size - cut), 0);
}

Test(convert_synth, refuses_truncated_images)
{
	struct synth s;

	synth_open(&s, "conv-trunc");
	synth_basic(&s, 5000, -1);
	truncate_image(&s, "threads-5000.img", 100);
	expect_refused(&s, "threads-5000.img");
	synth_done(&s);

	synth_open(&s, "conv-trunc2");
	synth_basic(&s, 5000, -1);
	truncate_image(&s, "pages-5000.img", PG);
	expect_refused(&s, "pagemap-5000.img");
	synth_done(&s);
}

Test(convert_synth, refuses_corrupt_images)
{
	struct synth s;
	uint8_t junk[64];

	memset(junk, 0x5a, sizeof(junk));
	synth_open(&s, "conv-corrupt");
	synth_basic(&s, 5000, -1);
	{
		int fd = openat(s.dirfd, "mm-5000.img", O_WRONLY);

		cr_assert_eq(pwrite(fd, junk, sizeof(junk), 8), (ssize_t)sizeof(junk));
		close(fd);
	}
	expect_refused(&s, "mm-5000.img");
	synth_done(&s);

	/* Registers of the wrong size. */
	synth_open(&s, "conv-badregs");
	synth_basic(&s, 5000, -1);
	{
		ThreadEntry t = THREAD_ENTRY__INIT;
		uint8_t regs[100] = { 0 };
		const void *m[] = { &t };

		t.tid = 5000;
		t.gpregs.data = regs;
		t.gpregs.len = sizeof(regs);
		put(s.dirfd, IMG_THREADS, 5000, m, 1);
	}
	expect_refused(&s, "corrupt general registers");
	synth_done(&s);
}

Test(convert_synth, refuses_pages_file_outside_dir)
{
	struct synth s;
	PagemapHead h = PAGEMAP_HEAD__INIT;
	struct img *pm;

	synth_open(&s, "conv-escape");
	synth_basic(&s, 5000, -1);
	pm = img_create(s.dirfd, IMG_PAGEMAP, 5000);
	h.pages_file = (char *)"../../etc/passwd";
	img_write(pm, &h);
	img_close(pm);
	expect_refused(&s, "bad pages file");
	synth_done(&s);
}

Test(convert_synth, usage_errors)
{
	char err[1024];

	cr_expect_eq(run_criu_lite(err, sizeof(err), "convert", "-D", "/nonexistent", NULL), 2);
	cr_expect_eq(run_criu_lite(err, sizeof(err), "convert", "-D", "/nonexistent", "-o",
				   "/tmp/x", "--filter", "banana", NULL), 2);
	cr_expect_eq(run_criu_lite(err, sizeof(err), "convert", "-D", "/nonexistent-dir", "-o",
				   "/tmp/criu-lite-never", NULL), 1);
	cr_expect_not_null(strstr(err, "/nonexistent-dir"), "%s", err);
	cr_expect_eq(access("/tmp/criu-lite-never", F_OK), -1);
}
