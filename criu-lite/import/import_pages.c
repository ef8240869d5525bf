/* The pages of an imported process: the reader's runs, in address order,
 * with every PE_PARENT run looked up in the parent dump (recursively) so
 * the imported dump stands alone. Stored bytes are copied into
 * pages-PID.img with copy_file_range (kernel-side, from a directory's pages
 * file or a tar member alike), through a buffer where the filesystems
 * refuse; zero and file-backed runs are written as runs only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "criu-lite/import/import.h"
#include "images/log.h"

#define PAGE		4096ull
#define RUN_MAX		(1ull << 30)	/* pages in one pagemap_entry (a uint32) */
#define COPY_BUF	(1u << 20)

struct ctx {
	int pages_fd;
	struct img *pm;
	uint64_t out_off;	/* next free byte of pages-PID.img */
	PagemapEntry run;	/* pending, nr_pages 0 if none */
	struct import_stats *st;
	uint8_t *buf;
	bool no_cfr;		/* copy_file_range refused: buffer from now on */
};

static int flush_run(struct ctx *c)
{
	int r = c->run.nr_pages ? img_write(c->pm, &c->run) : 0;

	c->run.nr_pages = 0;
	return r;
}

static int add_run(struct ctx *c, uint64_t vaddr, uint64_t nr, uint32_t flags, uint64_t off)
{
	PagemapEntry *e = &c->run;
	int r;

	if (e->nr_pages && e->flags == flags && e->vaddr + e->nr_pages * PAGE == vaddr &&
	    e->nr_pages + nr <= RUN_MAX &&
	    (flags != PE_PRESENT || e->pages_off + e->nr_pages * PAGE == off)) {
		e->nr_pages += (uint32_t)nr;
		return 0;
	}
	r = flush_run(c);
	if (r)
		return r;
	pagemap_entry__init(e);
	e->vaddr = vaddr;
	e->nr_pages = (uint32_t)nr;
	e->flags = flags;
	e->has_pages_off = flags == PE_PRESENT;
	e->pages_off = flags == PE_PRESENT ? off : 0;
	return 0;
}

static int copy_buffered(struct ctx *c, int in, uint64_t off, uint64_t len)
{
	if (!c->buf && !(c->buf = malloc(COPY_BUF)))
		return -ENOMEM;
	while (len) {
		size_t n = len < COPY_BUF ? len : COPY_BUF;
		ssize_t got = pread(in, c->buf, n, off);
		int r;

		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)n)
			return got < 0 ? pr_perror("cannot read the pages") : -EIO;
		r = img_write_all(c->pages_fd, c->buf, n);
		if (r < 0) {
			errno = -r;
			return pr_perror("cannot write the pages");
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* Append [off, off + len) of in to the pages file. */
static int copy(struct ctx *c, int in, uint64_t off, uint64_t len)
{
	while (len && !c->no_cfr) {
		loff_t o = (loff_t)off;
		ssize_t n = copy_file_range(in, &o, c->pages_fd, NULL, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Across filesystems, or one without it (n == 0: the source
			 * ended early, which the buffered copy reports). */
			c->no_cfr = true;
			break;
		}
		off += n;
		len -= n;
	}
	return len ? copy_buffered(c, in, off, len) : 0;
}

static int emit(struct ctx *c, uint64_t s, uint64_t e, uint32_t flags, int fd, uint64_t off)
{
	uint64_t at = c->out_off;
	int r = 0;

	if (flags == PE_PRESENT) {
		r = copy(c, fd, off, e - s);
		c->out_off += e - s;
		c->st->bytes += e - s;
	}
	for (uint64_t a = s; !r && a < e;) {
		uint64_t n = (e - a) / PAGE < RUN_MAX ? (e - a) / PAGE : RUN_MAX;

		r = add_run(c, a, n, flags, at + (a - s));
		a += n * PAGE;
	}
	return r;
}

/* [start, end) of the address space as pg (and its parents) hold it. */
static int walk(struct ctx *c, const struct dr_pages *pg, uint64_t start, uint64_t end)
{
	const struct dr_run *run = pg->nr ? dr_pages_next(pg, start) : NULL;
	int r = 0;

	for (; !r && run && run < pg->run + pg->nr && run->start < end; run++) {
		uint64_t s = run->start > start ? run->start : start;
		uint64_t e = run->end < end ? run->end : end;

		if (run->flags == PE_PARENT && pg->parent)
			r = walk(c, pg->parent, s, e);
		else if (run->flags == PE_PRESENT)
			r = emit(c, s, e, PE_PRESENT, pg->pages_fd, run->off + (s - run->start));
		else if (run->flags != PE_PARENT)
			r = emit(c, s, e, run->flags, -1, 0);
	}
	return r;
}

int import_pages(int dirfd, int pid, const struct dr_pages *pg, struct import_stats *st)
{
	struct ctx c = { .st = st };
	PagemapHead head = PAGEMAP_HEAD__INIT;
	char name[32];
	int r;

	snprintf(name, sizeof(name), "pages-%d.img", pid);
	c.pm = img_create(dirfd, IMG_PAGEMAP, pid);
	if (!c.pm)
		return -errno;
	c.pages_fd = img_create_raw(dirfd, name);
	if (c.pages_fd < 0) {
		img_abort(c.pm, dirfd);
		return c.pages_fd;
	}
	head.pages_file = name;
	r = img_write(c.pm, &head);
	if (!r && pg)
		r = walk(&c, pg, 0, UINT64_MAX);
	if (!r)
		r = flush_run(&c);
	if (close(c.pages_fd) && !r)
		r = pr_perror("cannot write %s", name);
	if (!r)
		r = img_close(c.pm);
	else
		img_abort(c.pm, dirfd);
	free(c.buf);
	return r;
}
