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
#include "test/convert_synth.h"
#include "test/helpers.h"

#define A_START 0x10000000ull
#define A_END (A_START + 16 * PG)
#define DD_START 0x20000000ull
#define UNT_START 0x30000000ull
#define VVAR_START 0x7fff0000ull
#define VDSO_START (VVAR_START + 4 * PG)
#define TAIL_START 0x7fffff00000ull		/* last VMA: ends in a hole */

static void synth_basic(struct cs_dump *s, uint32_t pid, int64_t filter)
{
	VmaEntry v[6];
	uint32_t pids[] = { pid };

	cs_inventory(s, pid, NULL, INVENTORY_KIND_DUMP);
	cs_pstree(s, pids, 1, 1);
	cs_proc(s, pid, 1, filter);
	cs_threads(s, pid, 3);
	v[0] = cs_vma(A_START, A_END, PROT_READ | PROT_WRITE, VMA_ANON);
	v[1] = cs_vma(DD_START, DD_START + 2 * PG, PROT_READ | PROT_WRITE, VMA_ANON);
	v[1].has_madv = 1;
	v[1].madv = VMA_MADV_DONTDUMP;
	v[2] = cs_vma(UNT_START, UNT_START + 8 * PG, PROT_READ, VMA_ANON);
	v[3] = cs_vma(VVAR_START, VVAR_START + 4 * PG, PROT_READ, VMA_VVAR);
	v[3].name = (char *)"[vvar]";
	v[4] = cs_vma(VDSO_START, VDSO_START + 2 * PG, PROT_READ | PROT_EXEC, VMA_VDSO);
	v[4].name = (char *)"[vdso]";
	v[5] = cs_vma(TAIL_START, TAIL_START + 4 * PG, PROT_READ | PROT_WRITE, VMA_ANON);
	cs_vmas(s, pid, v, 6);
	cs_pm_begin(s, pid);
	cs_pm_run(s, A_START, 2, PE_PRESENT);
	cs_pm_run(s, A_START + 2 * PG, 1, PE_ZERO);
	cs_pm_run(s, A_START + 5 * PG, 3, PE_PRESENT);	/* pages 3-4 untouched */
	cs_pm_run(s, DD_START, 2, PE_PRESENT);
	cs_pm_run(s, VDSO_START, 2, PE_PRESENT);
	cs_pm_run(s, TAIL_START, 1, PE_PRESENT);	/* 3 untouched pages at the file's end */
	cs_pm_end(s);
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
	struct cs_dump s;
	struct cs_core c;
	struct cs_note n[32];
	char out[300], err[1024];
	size_t nr;

	cs_open(&s, "conv-notes");
	synth_basic(&s, 5000, -1);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, err, sizeof(err), NULL), 0, "convert: %s", err);
	cr_expect_str_empty(err, "convert is not silent: %s", err);
	cs_core_open(&c, out);
	nr = cs_core_notes(&c, n, 32);
	cr_assert_eq(nr, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < nr; i++) {
		cr_expect_str_eq(n[i].owner, want[i].owner, "note %zu", i);
		cr_expect_eq(n[i].type, want[i].type, "note %zu has type %#x", i, n[i].type);
		cr_expect_eq(n[i].len, want[i].len, "note %zu has %zu bytes", i, n[i].len);
	}
	cs_notes_free(n, nr);
	cs_core_close(&c);
	cs_done(&s);
}

Test(convert_synth, prstatus_prpsinfo_siginfo_fields)
{
	struct cs_dump s;
	struct cs_core c;
	struct cs_note n[32];
	struct elf_prstatus ps;
	struct elf_prpsinfo pi;
	siginfo_t si;
	char out[300];

	cs_open(&s, "conv-fields");
	synth_basic(&s, 5000, -1);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	cs_core_notes(&c, n, 32);

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
	cs_notes_free(n, 14);
	cs_core_close(&c);
	cs_done(&s);
}

/* The AMD layout (AVX-512 below where Intel has it) is re-laid at Intel's
 * offsets, each component's bytes intact, and the layout note says so;
 * --raw-xstate keeps the dumped bytes. */
Test(convert_synth, xstate_layout)
{
	static const uint32_t intel[][3] = { { 2, 256, 576 }, { 5, 64, 1088 }, { 6, 512, 1152 },
					     { 7, 1024, 1664 } };
	struct cs_dump s;
	struct cs_core c;
	struct cs_note n[32];
	char out[300];
	uint32_t lay[4][4];
	size_t nr;

	cs_open(&s, "conv-xstate");
	synth_basic(&s, 5000, -1);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	nr = cs_core_notes(&c, n, 32);
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
	cs_notes_free(n, nr);
	cs_core_close(&c);

	cr_assert_eq(cs_convert(&s, out, NULL, 0, "--raw-xstate"), 0);
	cs_core_open(&c, out);
	nr = cs_core_notes(&c, n, 32);
	cr_expect_eq(n[6].len, 2432);
	cr_expect_eq(n[6].desc[832], 0xa5, "opmask where the dump had it");
	memcpy(lay, n[13].desc, sizeof(lay));
	cr_expect_eq(lay[1][2], 832);
	cs_notes_free(n, nr);
	cs_core_close(&c);
	cs_done(&s);
}

Test(convert_synth, readelf_and_eu_readelf_parse_every_note)
{
	struct cs_dump s;
	char out[300], cmd_out[65536];

	cs_open(&s, "conv-readelf");
	synth_basic(&s, 5000, -1);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cr_assert_eq(run_cmd(cmd_out, sizeof(cmd_out), "readelf -n -l -h '%s' 2>&1", out), 0);
	cr_expect_null(strcasestr(cmd_out, "warning"), "readelf: %s", cmd_out);
	cr_expect_null(strcasestr(cmd_out, "error"), "readelf: %s", cmd_out);
	cr_expect_not_null(strstr(cmd_out, "NT_X86_XSTATE"));
	cr_assert_eq(run_cmd(cmd_out, sizeof(cmd_out), "eu-readelf --notes -l '%s' 2>&1", out), 0);
	cr_expect_null(strcasestr(cmd_out, "warning"), "eu-readelf: %s", cmd_out);
	cr_expect_null(strcasestr(cmd_out, "invalid"), "eu-readelf: %s", cmd_out);
	cr_expect_not_null(strstr(cmd_out, "fname: synth-comm-name"), "%s", cmd_out);
	cr_expect_not_null(strstr(cmd_out, "pid: 5002"), "%s", cmd_out);
	cs_done(&s);
}

Test(convert_synth, segments_sparse_and_filtered)
{
	struct cs_dump s;
	struct cs_core c;
	struct stat st;
	const GElf_Phdr *p;
	uint8_t page[PG];
	char out[300];

	cs_open(&s, "conv-segs");
	synth_basic(&s, 5000, -1);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	cr_assert_eq(c.phnum, 7, "PT_NOTE + one PT_LOAD per VMA");
	for (size_t i = 2; i < c.phnum; i++)
		cr_expect_gt(c.ph[i].p_vaddr, c.ph[i - 1].p_vaddr, "address order");

	p = cs_core_load(&c, A_START);
	cr_expect_eq(p->p_filesz, 16 * PG);
	cr_expect_eq(p->p_flags, PF_R | PF_W);
	cr_expect_eq(p->p_offset % PG, 0);
	for (int pg = 0; pg < 16; pg++) {
		bool present = pg < 2 || (pg >= 5 && pg < 8);

		cs_read_at(&c, p->p_offset + pg * PG, page, PG);
		for (size_t i = 0; i < PG; i += 509)
			cr_assert_eq(page[i], present ? cs_page_byte(A_START + pg * PG, i) : 0,
				     "page %d byte %zu", pg, i);
		cr_expect_eq(cs_is_hole(c.fd, p->p_offset + pg * PG, PG), !present,
			     "page %d %s", pg, present ? "missing" : "not a hole");
	}
	cr_expect_eq(cs_core_load(&c, DD_START)->p_filesz, 0, "MADV_DONTDUMP kept out");
	cr_expect_eq(cs_core_load(&c, DD_START)->p_memsz, 2 * PG);
	cr_expect_eq(cs_core_load(&c, UNT_START)->p_filesz, 0, "never-written anon VMA");
	cr_expect_eq(cs_core_load(&c, VVAR_START)->p_filesz, 0, "[vvar] is a hole");
	p = cs_core_load(&c, VDSO_START);
	cr_expect_eq(p->p_filesz, 2 * PG, "[vdso] whole");
	cr_expect_eq(p->p_flags, PF_R | PF_X);
	cs_read_at(&c, p->p_offset + PG + 7, page, 1);
	cr_expect_eq(page[0], cs_page_byte(VDSO_START + PG, 7));
	p = cs_core_load(&c, TAIL_START);
	cr_expect_eq(p->p_filesz, 4 * PG);
	cr_assert_eq(fstat(c.fd, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, p->p_offset + 4 * PG, "ends in a hole, full length");
	cr_expect_lt((uint64_t)st.st_blocks * 512, 64 * PG, "core is not sparse");
	cs_core_close(&c);

	/* --filter 0 overrides the process's filter: no anonymous memory. */
	cr_assert_eq(cs_convert(&s, out, NULL, 0, "--filter=0"), 0);
	cs_core_open(&c, out);
	cr_expect_eq(cs_core_load(&c, A_START)->p_filesz, 0);
	cr_expect_eq(cs_core_load(&c, VDSO_START)->p_filesz, 2 * PG, "[vdso] always dumped");
	cs_core_close(&c);
	cs_done(&s);
}

Test(convert_synth, process_filter_honoured)
{
	struct cs_dump s;
	struct cs_core c;
	char out[300];

	cs_open(&s, "conv-pfilter");
	synth_basic(&s, 5000, 0x30);	/* the process asked: no anon private */
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	cr_expect_eq(cs_core_load(&c, A_START)->p_filesz, 0);
	cs_core_close(&c);
	cs_done(&s);
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

static void synth_file_dump(struct cs_dump *s, const char *file, bool written)
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
	cs_inventory(s, 6000, NULL, INVENTORY_KIND_DUMP);
	cs_pstree(s, pids, 1, 1);
	cs_proc(s, 6000, 1, -1);
	cs_threads(s, 6000, 1);
	v = cs_vma(F_START, F_START + 4 * PG, PROT_READ | PROT_WRITE, VMA_FILE_PRIVATE | VMA_ELF_HEADER);
	v.name = (char *)file;
	v.file = &fi;
	cs_vmas(s, 6000, &v, 1);
	cs_pm_begin(s, 6000);
	cs_pm_run(s, F_START, 1, PE_FILE);
	if (written)
		cs_pm_run(s, F_START + 2 * PG, 1, PE_PRESENT);
	cs_pm_end(s);
}

Test(convert_synth, file_pages_from_unchanged_file)
{
	struct cs_dump s;
	struct cs_core c;
	struct cs_note n[16];
	const GElf_Phdr *p;
	char out[300], file[300];
	uint8_t b[SELFMAG + 1];
	uint64_t *nf;
	size_t nr;

	cs_open(&s, "conv-file");
	snprintf(file, sizeof(file), "%s/mapped.so", s.dir);
	write_file(file, 4);
	synth_file_dump(&s, file, false);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	p = cs_core_load(&c, F_START);
	cr_expect_eq(p->p_filesz, PG, "unwritten file mapping: its ELF header page only");
	cs_read_at(&c, p->p_offset, b, SELFMAG + 1);
	cr_expect_eq(memcmp(b, ELFMAG, SELFMAG), 0, "ELF header read from the file");
	nr = cs_core_notes(&c, n, 16);
	nf = (uint64_t *)n[4].desc;
	cr_expect_eq(nf[0], 1, "NT_FILE count");
	cr_expect_eq(nf[1], PG);
	cr_expect_eq(nf[2], F_START);
	cr_expect_eq(nf[3], F_START + 4 * PG);
	cr_expect_eq(nf[4], 0);
	cr_expect_str_eq((char *)&nf[5], file);
	cr_expect_eq(n[4].len, 5 * 8 + strlen(file) + 1, "no padding inside NT_FILE");
	cs_notes_free(n, nr);
	cs_core_close(&c);

	/* Bit 2: the whole private file mapping, from the file where unwritten. */
	cr_assert_eq(cs_convert(&s, out, NULL, 0, "--filter=0x37"), 0);
	cs_core_open(&c, out);
	p = cs_core_load(&c, F_START);
	cr_expect_eq(p->p_filesz, 4 * PG);
	cs_read_at(&c, p->p_offset + 3 * PG + 100, b, 1);
	cr_expect_eq(b[0], 0xf3);
	cs_core_close(&c);
	cs_done(&s);
}

Test(convert_synth, written_file_mapping_whole)
{
	struct cs_dump s;
	struct cs_core c;
	const GElf_Phdr *p;
	char out[300], file[300];
	uint8_t b[1];

	cs_open(&s, "conv-filew");
	snprintf(file, sizeof(file), "%s/mapped.so", s.dir);
	write_file(file, 4);
	synth_file_dump(&s, file, true);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	p = cs_core_load(&c, F_START);
	cr_expect_eq(p->p_filesz, 4 * PG, "a written private mapping is dumped whole");
	cs_read_at(&c, p->p_offset + 2 * PG + 9, b, 1);
	cr_expect_eq(b[0], cs_page_byte(F_START + 2 * PG, 9), "the written page");
	cs_read_at(&c, p->p_offset + 1 * PG + 9, b, 1);
	cr_expect_eq(b[0], 0xf1, "an unwritten page, from the file");
	cs_core_close(&c);
	cs_done(&s);
}

Test(convert_synth, changed_file_not_trusted)
{
	struct cs_dump s;
	struct cs_core c;
	const GElf_Phdr *p;
	char out[300], file[300], err[2048];

	cs_open(&s, "conv-filechg");
	snprintf(file, sizeof(file), "%s/mapped.so", s.dir);
	write_file(file, 4);
	synth_file_dump(&s, file, true);
	write_file(file, 5);	/* replaced after the dump */
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, err, sizeof(err), NULL), 0);
	cr_expect_not_null(strstr(err, "changed since the dump"), "%s", err);
	cs_core_open(&c, out);
	p = cs_core_load(&c, F_START);
	cr_expect(cs_is_hole(c.fd, p->p_offset, PG), "a changed file's page was copied");
	cr_expect(!cs_is_hole(c.fd, p->p_offset + 2 * PG, PG), "the written page is lost");
	cs_core_close(&c);
	cs_done(&s);
}

/* More than 65535 segments: e_phnum is PN_XNUM and section 0 holds the count. */
Test(convert_synth, pn_xnum, .timeout = 60)
{
	enum { NV = 70000 };
	struct cs_dump s;
	uint32_t pids[] = { 7000 };
	VmaEntry *v = calloc(NV, sizeof(*v));
	char out[300], cmd_out[4096];
	size_t phnum, shnum;
	GElf_Shdr sh;
	GElf_Phdr ph;
	struct cs_core c;

	cs_open(&s, "conv-xnum");
	cs_inventory(&s, 7000, NULL, INVENTORY_KIND_DUMP);
	cs_pstree(&s, pids, 1, 1);
	cs_proc(&s, 7000, 1, -1);
	cs_threads(&s, 7000, 1);
	for (int i = 0; i < NV; i++)
		v[i] = cs_vma(0x100000000ull + i * 2 * PG, 0x100000000ull + i * 2 * PG + PG,
			   PROT_READ | PROT_WRITE, VMA_ANON);
	cs_vmas(&s, 7000, v, NV);
	cs_pm_begin(&s, 7000);
	cs_pm_run(&s, v[NV - 1].start, 1, PE_PRESENT);
	cs_pm_end(&s);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	cr_expect_eq(elf64_getehdr(c.elf)->e_phnum, PN_XNUM);
	cr_assert_eq(elf_getphdrnum(c.elf, &phnum), 0);
	cr_expect_eq(phnum, NV + 1);
	cr_assert_eq(elf_getshdrnum(c.elf, &shnum), 0);
	cr_assert_not_null(gelf_getshdr(elf_getscn(c.elf, 0), &sh));
	cr_expect_eq(sh.sh_info, NV + 1);
	cr_assert_not_null(gelf_getphdr(c.elf, NV, &ph));
	cr_expect_eq(ph.p_vaddr, v[NV - 1].start);
	cr_expect_eq(ph.p_filesz, PG);
	cs_core_close(&c);
	cr_assert_eq(run_cmd(cmd_out, sizeof(cmd_out), "readelf -h '%s' 2>&1 | grep -i -e warn "
				"-e 'program headers:'", out), 0);
	cr_expect_not_null(strstr(cmd_out, "65535 (70001)"), "%s", cmd_out);
	cr_expect_null(strcasestr(cmd_out, "warn"), "%s", cmd_out);
	free(v);
	cs_done(&s);
}

/* -o DIR: a core per process of the tree. */
Test(convert_synth, output_dir_core_per_process)
{
	struct cs_dump s;
	uint32_t pids[] = { 8000, 8001 };
	char path[300];
	struct cs_core c;
	struct cs_note n[16];

	cs_open(&s, "conv-tree");
	cs_inventory(&s, 8000, NULL, INVENTORY_KIND_DUMP);
	cs_pstree(&s, pids, 2, 1);
	for (int i = 0; i < 2; i++) {
		VmaEntry v = cs_vma(A_START, A_END, PROT_READ, VMA_ANON);

		cs_proc(&s, pids[i], i ? 8000 : 1, -1);
		cs_threads(&s, pids[i], 1);
		cs_vmas(&s, pids[i], &v, 1);
		cs_pm_begin(&s, pids[i]);
		cs_pm_end(&s);
	}
	cr_assert_eq(cs_convert(&s, s.dir, NULL, 0, NULL), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/core.%u", s.dir, pids[i]);
		cs_core_open(&c, path);
		size_t nr = cs_core_notes(&c, n, 16);

		cr_expect_eq(((struct elf_prstatus *)n[0].desc)->pr_pid, (pid_t)pids[i]);
		cr_expect_eq(((struct elf_prstatus *)n[0].desc)->pr_ppid, i ? 8000 : 1);
		cs_notes_free(n, nr);
		cs_core_close(&c);
	}

	/* One process of the tree into a file; -v says how fast it went. */
	{
		char out[300], err[2048];
		size_t nr;

		cs_core_path(&s, out, sizeof(out));
		cr_assert_eq(run_criu_lite(err, sizeof(err), "convert", "-D", s.dir, "-o", out,
					   "--pid", "8001", "-v", NULL), 0, "%s", err);
		cr_expect_not_null(strstr(err, "MiB/s"), "-v does not log throughput: %s", err);
		cs_core_open(&c, out);
		nr = cs_core_notes(&c, n, 16);
		cr_expect_eq(((struct elf_prstatus *)n[0].desc)->pr_pid, 8001);
		cs_notes_free(n, nr);
		cs_core_close(&c);
		cr_expect_eq(run_criu_lite(err, sizeof(err), "convert", "-D", s.dir, "-o", out,
					   "--pid", "8002", NULL), 1);
		cr_expect_not_null(strstr(err, "not in this dump"), "%s", err);
	}
	cs_done(&s);
}

/* Pages unchanged since a pre-dump are read from the pre-dump's images. */
Test(convert_synth, parent_pages)
{
	struct cs_dump s, pre;
	uint32_t pids[] = { 9000 };
	VmaEntry v = cs_vma(A_START, A_END, PROT_READ | PROT_WRITE, VMA_ANON);
	char out[300], rel[300];
	struct cs_core c;
	uint8_t b[1];

	cs_open(&pre, "conv-pre");
	cs_inventory(&pre, 9000, NULL, INVENTORY_KIND_PREDUMP);
	cs_pm_begin(&pre, 9000);
	cs_pm_run(&pre, A_START, 4, PE_PRESENT);
	cs_pm_end(&pre);

	cs_open(&s, "conv-post");
	snprintf(rel, sizeof(rel), "../%s", strrchr(pre.dir, '/') + 1);
	cs_inventory(&s, 9000, rel, INVENTORY_KIND_DUMP);
	cs_pstree(&s, pids, 1, 1);
	cs_proc(&s, 9000, 1, -1);
	cs_threads(&s, 9000, 1);
	cs_vmas(&s, 9000, &v, 1);
	cs_pm_begin(&s, 9000);
	cs_pm_run(&s, A_START, 3, PE_PARENT);
	cs_pm_run(&s, A_START + 3 * PG, 1, PE_ZERO);	/* zeroed since */
	cs_pm_end(&s);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	cs_read_at(&c, cs_core_load(&c, A_START)->p_offset + 2 * PG + 33, b, 1);
	cr_expect_eq(b[0], cs_page_byte(A_START + 2 * PG, 33));
	cr_expect(cs_is_hole(c.fd, cs_core_load(&c, A_START)->p_offset + 3 * PG, PG));
	cs_core_close(&c);

	/* A pre-dump itself has nothing to convert. */
	cr_expect_eq(cs_convert(&pre, out, NULL, 0, NULL), 1);
	cs_done(&s);
	cs_done(&pre);
}

/* ---- refused dumps: one line, non-zero, no core, no temporary left ---- */

static int count_entries(const char *dir)
{
	char out[64];

	run_cmd(out, sizeof(out), "ls -A '%s' | wc -l", dir);
	return atoi(out);
}

static void expect_refused(struct cs_dump *s, const char *what)
{
	char outdir[256], out[300], err[2048];
	int r;

	make_tmpdir(outdir, sizeof(outdir), "conv-out");
	snprintf(out, sizeof(out), "%s/core", outdir);
	r = cs_convert(s, out, err, sizeof(err), NULL);
	cr_expect_eq(r, 1, "%s: exit %d: %s", what, r, err);
	cr_expect_not_null(strstr(err, what), "expected '%s' in: %s", what, err);
	cr_expect_eq(strchr(err, '\n') - err + 1, (long)strlen(err), "not one line: %s", err);
	cr_expect_eq(count_entries(outdir), 0, "something was left in the output dir");
	rm_rf(outdir);
}

Test(convert_synth, refuses_missing_inventory)
{
	struct cs_dump s;

	cs_open(&s, "conv-noinv");
	synth_basic(&s, 5000, -1);
	cr_assert_eq(unlinkat(s.dirfd, "inventory.img", 0), 0);
	expect_refused(&s, "no inventory.img");
	cs_done(&s);
}

static void truncate_image(struct cs_dump *s, const char *name, off_t cut)
{
	char path[400];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(truncate(path, st.st_size - cut), 0);
}

Test(convert_synth, refuses_truncated_images)
{
	struct cs_dump s;

	cs_open(&s, "conv-trunc");
	synth_basic(&s, 5000, -1);
	truncate_image(&s, "threads-5000.img", 100);
	expect_refused(&s, "threads-5000.img");
	cs_done(&s);

	cs_open(&s, "conv-trunc2");
	synth_basic(&s, 5000, -1);
	truncate_image(&s, "pages-5000.img", PG);
	expect_refused(&s, "pagemap-5000.img");
	cs_done(&s);
}

Test(convert_synth, refuses_corrupt_images)
{
	struct cs_dump s;
	uint8_t junk[64];

	memset(junk, 0x5a, sizeof(junk));
	cs_open(&s, "conv-corrupt");
	synth_basic(&s, 5000, -1);
	{
		int fd = openat(s.dirfd, "mm-5000.img", O_WRONLY);

		cr_assert_eq(pwrite(fd, junk, sizeof(junk), 8), (ssize_t)sizeof(junk));
		close(fd);
	}
	expect_refused(&s, "mm-5000.img");
	cs_done(&s);

	/* Registers of the wrong size. */
	cs_open(&s, "conv-badregs");
	synth_basic(&s, 5000, -1);
	{
		ThreadEntry t = THREAD_ENTRY__INIT;
		uint8_t regs[100] = { 0 };
		const void *m[] = { &t };

		t.tid = 5000;
		t.gpregs.data = regs;
		t.gpregs.len = sizeof(regs);
		cs_put(s.dirfd, IMG_THREADS, 5000, m, 1);
	}
	expect_refused(&s, "corrupt general registers");
	cs_done(&s);
}

Test(convert_synth, refuses_pages_file_outside_dir)
{
	struct cs_dump s;
	PagemapHead h = PAGEMAP_HEAD__INIT;
	struct img *pm;

	cs_open(&s, "conv-escape");
	synth_basic(&s, 5000, -1);
	pm = img_create(s.dirfd, IMG_PAGEMAP, 5000);
	h.pages_file = (char *)"../../etc/passwd";
	img_write(pm, &h);
	img_close(pm);
	expect_refused(&s, "bad pages file");
	cs_done(&s);
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

/* NT_FILE names objects as the kernel's d_path() does: unlinked files,
 * shared anonymous memory and memfds all end in " (deleted)". */
Test(convert_synth, nt_file_names_like_the_kernel)
{
	static const char *const want[] = { "/tmp/gone.so (deleted)", "/dev/zero (deleted)",
					    "/memfd:buf (deleted)", "/usr/lib/x.so" };
	struct cs_dump s;
	struct cs_core c;
	struct cs_note n[16];
	uint32_t pids[] = { 9100 };
	VmaEntry v[4];
	char out[300];
	const char *name;
	size_t nr;

	cs_open(&s, "conv-ntfile");
	cs_inventory(&s, 9100, NULL, INVENTORY_KIND_DUMP);
	cs_pstree(&s, pids, 1, 1);
	cs_proc(&s, 9100, 1, -1);
	cs_threads(&s, 9100, 1);
	v[0] = cs_vma(A_START, A_START + PG, PROT_READ, VMA_FILE_PRIVATE | VMA_FILE_DELETED);
	v[0].name = (char *)"/tmp/gone.so";
	v[1] = cs_vma(A_START + PG, A_START + 2 * PG, PROT_READ, VMA_ANON_SHARED);
	v[1].name = (char *)"/dev/zero";
	v[2] = cs_vma(A_START + 2 * PG, A_START + 4 * PG, PROT_READ, VMA_ANON_SHARED);
	v[2].name = (char *)"/memfd:buf";
	v[3] = cs_vma(A_START + 4 * PG, A_START + 5 * PG, PROT_READ, VMA_FILE_PRIVATE);
	v[3].name = (char *)"/usr/lib/x.so";
	v[3].pgoff = 3 * PG;
	cs_vmas(&s, 9100, v, 4);
	cs_pm_begin(&s, 9100);
	cs_pm_end(&s);
	cs_core_path(&s, out, sizeof(out));
	cr_assert_eq(cs_convert(&s, out, NULL, 0, NULL), 0);
	cs_core_open(&c, out);
	nr = cs_core_notes(&c, n, 16);
	cr_assert_eq(n[4].type, NT_FILE);
	cr_expect_eq(((uint64_t *)n[4].desc)[0], 4);
	cr_expect_eq(((uint64_t *)n[4].desc)[2 + 3 * 3 + 2], 3, "offset in pages");
	name = (const char *)n[4].desc + 16 + 4 * 24;
	for (int i = 0; i < 4; i++) {
		cr_expect_str_eq(name, want[i]);
		name += strlen(name) + 1;
	}
	cr_expect_eq(name, (const char *)n[4].desc + n[4].len, "bytes after the last name");
	cs_notes_free(n, nr);
	cs_core_close(&c);
	cs_done(&s);
}
