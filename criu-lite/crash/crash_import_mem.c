/* Memory of an imported crash. The kernel's core has, per VMA, one PT_LOAD
 * whose p_filesz says how much of it was written: anonymous memory whole
 * (holes where never touched), private file mappings whole once written
 * to (they have an anon_vma), else only an ELF header page or nothing
 * (coredump_filter). So, per page of each VMA:
 *   in the core, not zero  -> PE_PRESENT, copied to pages-PID.img
 *   in the core, zero      -> PE_ZERO (restore zero-fills private file pages)
 *   past p_filesz of a file mapping -> PE_FILE: mapping the file gives it
 *   past p_filesz of anonymous memory -> lost to the filter: zero, said. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu-lite/crash/crash_import_int.h"
#include "images/log.h"

#define PAGE	4096ull
#define CHUNK	(1u << 20)

struct mem_ctx {
	int core_fd, pages_fd;
	struct img *pm;
	uint64_t pages_off;	/* next free offset in the pages file */
	PagemapEntry run;	/* pending run, nr_pages 0 if none */
	uint64_t stored, lost;
	uint8_t *buf;
	int err;
};

static int flush_run(struct mem_ctx *c)
{
	int r = 0;

	if (c->run.nr_pages)
		r = img_write(c->pm, &c->run);
	c->run.nr_pages = 0;
	return r;
}

/* Extend the pending run or start a new one. */
static int add_run(struct mem_ctx *c, uint64_t vaddr, uint64_t nr, uint32_t flags)
{
	PagemapEntry *e = &c->run;
	int r;

	if (e->nr_pages && e->flags == flags &&
	    e->vaddr + (uint64_t)e->nr_pages * PAGE == vaddr &&
	    (uint64_t)e->nr_pages + nr < (1u << 30) &&
	    (!(flags & PE_PRESENT) ||
	     e->pages_off + (uint64_t)e->nr_pages * PAGE == c->pages_off)) {
		e->nr_pages += (uint32_t)nr;
		return 0;
	}
	r = flush_run(c);
	if (r)
		return r;
	e->vaddr = vaddr;
	e->nr_pages = (uint32_t)nr;
	e->flags = flags;
	e->has_pages_off = !!(flags & PE_PRESENT);
	e->pages_off = c->pages_off;
	return 0;
}

static bool page_zero(const uint8_t *p)
{
	static const uint8_t zero[PAGE];

	return !memcmp(p, zero, PAGE);
}

/* [vaddr, vaddr+len) is at core offset `off`. */
static int copy_range(struct mem_ctx *c, uint64_t vaddr, uint64_t off, uint64_t len)
{
	for (uint64_t done = 0; done < len;) {
		uint64_t n = len - done < CHUNK ? len - done : CHUNK;
		off_t data = lseek(c->core_fd, (off_t)(off + done), SEEK_DATA);
		ssize_t got;
		int r;

		/* A hole in the stored core: zero pages, nothing to read. */
		if (data < 0 || (uint64_t)data >= off + done + PAGE) {
			uint64_t hole = data < 0 ? len - done : ((uint64_t)data - off - done) & ~(PAGE - 1);

			if (hole > len - done)
				hole = len - done;
			if (!hole)
				hole = PAGE;
			r = add_run(c, vaddr + done, hole / PAGE, PE_ZERO);
			if (r)
				return r;
			done += hole;
			continue;
		}
		got = pread(c->core_fd, c->buf, n, (off_t)(off + done));
		if (got != (ssize_t)n)
			return got < 0 ? pr_perror("cannot read the core") : -EIO;
		for (uint64_t p = 0; p < n; p += PAGE) {
			bool zero = page_zero(c->buf + p);

			r = add_run(c, vaddr + done + p, 1, zero ? PE_ZERO : PE_PRESENT);
			if (!r && !zero) {
				r = img_write_all(c->pages_fd, c->buf + p, PAGE);
				c->pages_off += PAGE;
				c->stored += PAGE;
			}
			if (r)
				return r < 0 ? r : -EIO;
		}
		done += n;
	}
	return 0;
}

static bool is_file(const VmaEntry *v)
{
	return (v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) && v->file &&
	       !(v->status & (VMA_FILE_DELETED | VMA_ANON_SHARED));
}

static const Elf64_Phdr *load_for(const struct crash_elf *core, const VmaEntry *v)
{
	for (size_t i = 0; i < core->nph; i++)
		if (core->ph[i].p_type == PT_LOAD && core->ph[i].p_vaddr == v->start)
			return &core->ph[i];
	return NULL;
}

static int vma_pages(struct mem_ctx *c, const struct crash_elf *core, const VmaEntry *v)
{
	const Elf64_Phdr *ph = load_for(core, v);
	uint64_t len = v->end - v->start, in = 0;
	int r = 0;

	if (!(v->status & VMA_AREA_REGULAR) || v->status & (VMA_VDSO | VMA_VVAR | VMA_VSYSCALL))
		return 0;
	if (ph) {
		in = ph->p_filesz < len ? ph->p_filesz & ~(PAGE - 1) : len;
		if (ph->p_memsz != len)
			pr_warn("core segment at %#llx is %llu bytes, the recorded mapping %llu",
				(unsigned long long)v->start, (unsigned long long)ph->p_memsz,
				(unsigned long long)len);
	}
	/* Shared file mappings are the file: restore never writes them. */
	if (v->status & VMA_FILE_SHARED && is_file(v))
		in = 0;
	if (in)
		r = copy_range(c, v->start, ph->p_offset, in);
	if (!r && in < len) {
		if (is_file(v))
			r = add_run(c, v->start + in, (len - in) / PAGE, PE_FILE);
		else
			c->lost += len - in;
	}
	return r;
}

int crash_import_mem(int dirfd, const CrashEntry *ce, const struct crash_elf *core,
		     uint64_t *stored)
{
	struct mem_ctx c = { .core_fd = core->fd, .run = PAGEMAP_ENTRY__INIT };
	PagemapHead head = PAGEMAP_HEAD__INIT;
	char pages_name[64];
	struct img *mm;
	int r = 0;

	snprintf(pages_name, sizeof(pages_name), "pages-%u.img", ce->pid);
	mm = img_create(dirfd, IMG_MM, (int)ce->pid);
	c.pm = img_create(dirfd, IMG_PAGEMAP, (int)ce->pid);
	c.pages_fd = img_create_raw(dirfd, pages_name);
	c.buf = malloc(CHUNK);
	if (!mm || !c.pm || c.pages_fd < 0 || !c.buf)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < ce->n_maps; i++)
		r = img_write(mm, ce->maps[i]);
	head.pages_file = pages_name;
	if (!r)
		r = img_write(c.pm, &head);
	for (size_t i = 0; !r && i < ce->n_maps; i++)
		r = vma_pages(&c, core, ce->maps[i]);
	if (!r)
		r = flush_run(&c);
	if (mm && img_close(mm) && !r)
		r = -EIO;
	if (c.pm && img_close(c.pm) && !r)
		r = -EIO;
	if (c.pages_fd >= 0 && (fsync(c.pages_fd) || close(c.pages_fd)) && !r)
		r = pr_perror("cannot write %s", pages_name);
	free(c.buf);
	if (c.lost)
		pr_warn("%llu KiB of anonymous memory were left out of the core (coredump_filter "
			"or MADV_DONTDUMP): they come back as zeroes",
			(unsigned long long)(c.lost >> 10));
	*stored = c.stored;
	return r;
}
