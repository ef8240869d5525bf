/* PT_LOAD contents. Each segment's bytes come, run by run, from the pages
 * file (copied), a parent dump's pages file, the mapped file (pages the dump
 * left there), or nowhere: unpopulated and all-zero pages stay holes in a
 * sparse core, never written zeros. Bytes move kernel-side with
 * copy_file_range where the filesystems allow, else through one 1 MiB
 * buffer: memory use does not grow with the dump. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "convert/convert.h"
#include "images/log.h"

#define COPY_BUF	(1u << 20)
#define COPY_CHUNK	(1ull << 30)

struct wctx {
	int core_fd;
	const VmaEntry *v;
	uint64_t seg_off;	/* core offset of v->start */
	struct conv_files *files;
	struct conv_stats *st;
	uint8_t *buf;
	int no_cfr[8];		/* sources copy_file_range refused: don't ask again */
	int nr_no_cfr;
};

/* copy_file_range works within a filesystem (and a few across); whether it
 * does is a property of the source and the core, so it is asked once per
 * source: the pages files and the mapped files may sit on different ones. */
static bool cfr_refused(const struct wctx *c, int fd)
{
	if (c->nr_no_cfr == (int)(sizeof(c->no_cfr) / sizeof(c->no_cfr[0])))
		return true;
	for (int i = 0; i < c->nr_no_cfr; i++)
		if (c->no_cfr[i] == fd)
			return true;
	return false;
}

int conv_segments_plan(const struct dr_proc *p, uint32_t filter, uint64_t page_size,
		       struct conv_seg **out, size_t *nr)
{
	struct conv_seg *seg = calloc(p->nr_vma ? p->nr_vma : 1, sizeof(*seg));

	if (!seg)
		return -ENOMEM;
	for (size_t i = 0; i < p->nr_vma; i++) {
		const VmaEntry *v = p->vma[i];
		bool written = dr_pages_written(p->pages, v->start, v->end);

		seg[i].vma = v;
		seg[i].filesz = conv_filter_dump_size(v, filter, written, page_size);
	}
	*out = seg;
	*nr = p->nr_vma;
	return 0;
}

static ssize_t copy_buffered(struct wctx *c, int in, uint64_t ioff, uint64_t ooff, size_t len)
{
	ssize_t n, w;

	if (!c->buf && !(c->buf = malloc(COPY_BUF)))
		return -ENOMEM;
	do
		n = pread(in, c->buf, len < COPY_BUF ? len : COPY_BUF, ioff);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	for (ssize_t done = 0; done < n; done += w) {
		w = pwrite(c->core_fd, c->buf + done, n - done, ooff + done);
		if (w < 0 && errno == EINTR)
			w = 0;
		else if (w <= 0)
			return w < 0 ? -errno : -EIO;
	}
	return n;
}

/* Copy up to len bytes; fewer only at the input's end. Returns bytes. */
static int64_t copy_bytes(struct wctx *c, int in, uint64_t ioff, uint64_t ooff, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		uint64_t want = len - done < COPY_CHUNK ? len - done : COPY_CHUNK;
		ssize_t n;

		if (!cfr_refused(c, in)) {
			loff_t i = ioff + done, o = ooff + done;

			n = copy_file_range(in, &i, c->core_fd, &o, want, 0);
			if (n < 0 && errno == EINTR)
				continue;
			/* Across filesystems, or a filesystem without it. */
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
				      errno == EOPNOTSUPP || errno == EBADF)) {
				c->no_cfr[c->nr_no_cfr++] = in;
				continue;
			}
			if (n < 0)
				n = -errno;
		} else {
			n = copy_buffered(c, in, ioff + done, ooff + done, want);
		}
		if (n < 0) {
			errno = -n;
			return pr_perror("cannot write the core");
		}
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

static uint64_t core_off(const struct wctx *c, uint64_t addr)
{
	return c->seg_off + (addr - c->v->start);
}

static void hole(struct wctx *c, uint64_t s, uint64_t e)
{
	c->st->bytes_hole += e - s;
}

/* Pages still equal to the mapped file: read them from it, if it is the
 * same file; past its end (or when it changed) they stay holes. */
static int from_file(struct wctx *c, uint64_t s, uint64_t e)
{
	int fd = conv_files_get(c->files, c->v);
	int64_t n;

	if (fd < 0) {
		hole(c, s, e);
		return 0;
	}
	n = copy_bytes(c, fd, c->v->pgoff + (s - c->v->start), core_off(c, s), e - s);
	if (n < 0)
		return (int)n;
	c->st->bytes_file += n;
	hole(c, s + n, e);
	return 0;
}

/* No run: never populated. A file mapping's content is then the file's. */
static int gap(struct wctx *c, uint64_t s, uint64_t e)
{
	if (s >= e)
		return 0;
	if (conv_vma_path(c->v) && !(c->v->status & (VMA_ANON | VMA_ANON_SHARED)))
		return from_file(c, s, e);
	hole(c, s, e);
	return 0;
}

static int fill(struct wctx *c, const struct dr_pages *pg, uint64_t start, uint64_t end);

static int one_run(struct wctx *c, const struct dr_pages *pg, const struct dr_run *run,
		   uint64_t s, uint64_t e)
{
	int64_t n;

	switch (run->flags) {
	case PE_PRESENT:
		n = copy_bytes(c, pg->pages_fd, run->off + (s - run->start), core_off(c, s), e - s);
		if (n >= 0 && (uint64_t)n != e - s) {
			pr_err("%s: pages file ended early (changed during convert?)", pg->dir);
			n = -EIO;
		}
		if (n < 0)
			return (int)n;
		c->st->bytes_copied += n;
		return 0;
	case PE_FILE:
		return from_file(c, s, e);
	case PE_PARENT:
		if (pg->parent)
			return fill(c, pg->parent, s, e);
		/* fallthrough */
	default:		/* PE_ZERO */
		hole(c, s, e);
		return 0;
	}
}

static int fill(struct wctx *c, const struct dr_pages *pg, uint64_t start, uint64_t end)
{
	const struct dr_run *run = dr_pages_next(pg, start), *last = pg->run + pg->nr;
	uint64_t addr = start;
	int r = 0;

	for (; !r && run && run < last && addr < end; run++) {
		uint64_t s = run->start > addr ? run->start : addr;
		uint64_t e = run->end < end ? run->end : end;

		if (s >= end)
			break;
		r = gap(c, addr, s);
		if (!r)
			r = one_run(c, pg, run, s, e);
		addr = e;
	}
	if (!r && addr < end)
		r = gap(c, addr, end);
	return r;
}

int conv_segments_write(const struct dr_proc *p, const struct conv_seg *seg, size_t nr,
			int core_fd, struct conv_stats *st)
{
	struct wctx c = { .core_fd = core_fd, .st = st };
	int r = 0;

	c.files = conv_files_new();
	if (!c.files)
		return -ENOMEM;
	for (size_t i = 0; i < nr && !r; i++) {
		if (!seg[i].filesz)
			continue;
		c.v = seg[i].vma;
		c.seg_off = seg[i].offset;
		r = fill(&c, p->pages, c.v->start, c.v->start + seg[i].filesz);
	}
	conv_files_free(c.files);
	free(c.buf);
	return r;
}
