/* Helpers of the convert tests: see convert_synth.h. */
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include "test/convert_synth.h"
#include "test/helpers.h"

/* ---- building a dump ---- */


void cs_put(int dirfd, enum img_kind kind, int pid, const void **msgs, size_t n)
{
	struct img *img = img_create(dirfd, kind, pid);

	cr_assert_not_null(img);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(img_write(img, msgs[i]), 0);
	cr_assert_eq(img_close(img), 0);
}

/* AMD's standard-format XSAVE layout for XCR0 0xe7 (this machine's). */
void cs_inventory(struct cs_dump *s, uint32_t root, const char *parent, uint32_t kind)
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

void cs_open(struct cs_dump *s, const char *tag)
{
	make_tmpdir(s->dir, sizeof(s->dir), tag);
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(s->dirfd, 0);
}

void cs_pstree(struct cs_dump *s, const uint32_t *pids, size_t n, uint32_t ppid)
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
	cs_put(s->dirfd, IMG_PSTREE, 0, m, n);
}

static const char cmdline[] = "/bin/synth\0--flag\0value";

void cs_proc(struct cs_dump *s, uint32_t pid, uint32_t ppid, int64_t filter)
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
	cs_put(s->dirfd, IMG_PROC, pid, m, 1);
}

/* Threads tid = pid, pid+1, ...; registers and XSAVE bytes carry the tid. */
void cs_threads(struct cs_dump *s, uint32_t pid, int n)
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
	cs_put(s->dirfd, IMG_THREADS, pid, m, n);
}

VmaEntry cs_vma(uint64_t start, uint64_t end, uint32_t prot, uint32_t status)
{
	VmaEntry v = VMA_ENTRY__INIT;

	v.start = start;
	v.end = end;
	v.prot = prot;
	v.flags = MAP_PRIVATE | (status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED) ? 0 : MAP_ANONYMOUS);
	v.status = status | VMA_AREA_REGULAR;
	return v;
}

void cs_vmas(struct cs_dump *s, uint32_t pid, VmaEntry *v, size_t n)
{
	const void **m = calloc(n, sizeof(*m));

	for (size_t i = 0; i < n; i++)
		m[i] = &v[i];
	cs_put(s->dirfd, IMG_MM, pid, m, n);
	free(m);
}

void cs_pm_begin(struct cs_dump *s, uint32_t pid)
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
uint8_t cs_page_byte(uint64_t vaddr, size_t i)
{
	return (uint8_t)((vaddr >> 12) * 7 + i % 251 + 1);
}

void cs_pm_run(struct cs_dump *s, uint64_t vaddr, uint32_t nr, uint32_t flags)
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
				page[i] = cs_page_byte(vaddr + p * PG, i);
			cr_assert_eq(pwrite(s->pages_fd, page, PG, s->pages_off), (ssize_t)PG);
			s->pages_off += PG;
		}
	}
	cr_assert_eq(img_write(s->pm, &e), 0);
}

void cs_pm_end(struct cs_dump *s)
{
	cr_assert_eq(img_close(s->pm), 0);
	close(s->pages_fd);
	reseal_dump(s->dir);
}

/* A one-process dump: anon VMA with present, zero and untouched pages, a
 * DONTDUMP VMA, an untouched anon VMA, vvar, vdso. */
/* ---- reading a core ---- */


void cs_core_open(struct cs_core *c, const char *path)
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

void cs_core_close(struct cs_core *c)
{
	elf_end(c->elf);
	close(c->fd);
}

const GElf_Phdr *cs_core_load(const struct cs_core *c, uint64_t vaddr)
{
	for (size_t i = 0; i < c->phnum && i < 64; i++)
		if (c->ph[i].p_type == PT_LOAD && c->ph[i].p_vaddr == vaddr)
			return &c->ph[i];
	cr_assert_fail("no PT_LOAD at %#lx", (unsigned long)vaddr);
	return NULL;
}


size_t cs_core_notes(const struct cs_core *c, struct cs_note *out, size_t max)
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

void cs_notes_free(struct cs_note *n, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		free(n[i].desc);
}

void cs_read_at(const struct cs_core *c, uint64_t off, void *buf, size_t len)
{
	cr_assert_eq(pread(c->fd, buf, len, off), (ssize_t)len);
}

bool cs_is_hole(int fd, uint64_t off, uint64_t len)
{
	off_t data = lseek(fd, off, SEEK_DATA);

	return data < 0 || (uint64_t)data >= off + len;
}

int cs_convert(const struct cs_dump *s, const char *out, char *err, size_t errlen,
		   const char *extra)
{
	reseal_dump(s->dir);
	if (extra)
		return run_criu_lite(err, errlen, "convert", "-D", s->dir, "-o", out, extra,
				     NULL);
	return run_criu_lite(err, errlen, "convert", "-D", s->dir, "-o", out, NULL);
}

void cs_core_path(const struct cs_dump *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s/core", s->dir);
}

void cs_done(struct cs_dump *s)
{
	close(s->dirfd);
	rm_rf(s->dir);
}
