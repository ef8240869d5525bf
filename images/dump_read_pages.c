/* Page runs: building them (for the backends), the rules every level of a
 * chain must keep, and looking addresses up. A run says where bytes are,
 * never holds them: a 4 GiB dump costs a few bytes per run here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/dump_read_backend.h"
#include "images/log.h"

#define PE_KINDS (PE_PRESENT | PE_ZERO | PE_FILE | PE_PARENT)
#define RUNS_MIN 256

struct dr_pages *dr_pages_new(const char *dir, const char *image, const char *pages_file)
{
	struct dr_pages *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return NULL;
	pg->pages_fd = -1;
	pg->dir = strdup(dir);
	pg->image = strdup(image);
	pg->pages_file = strdup(pages_file ? pages_file : "");
	if (!pg->dir || !pg->image || !pg->pages_file) {
		dr_pages_free(pg);
		return NULL;
	}
	return pg;
}

void dr_pages_free(struct dr_pages *pg)
{
	while (pg) {
		struct dr_pages *parent = pg->parent;

		if (pg->pages_fd >= 0)
			close(pg->pages_fd);
		free(pg->run);
		free(pg->dir);
		free(pg->image);
		free(pg->pages_file);
		free(pg);
		pg = parent;
	}
}

/* The array is full when nr is RUNS_MIN or a larger power of two: it grows
 * by doubling, so no capacity needs keeping beside nr. */
static bool runs_full(const struct dr_pages *pg)
{
	return !pg->run || (pg->nr >= RUNS_MIN && !(pg->nr & (pg->nr - 1)));
}

int dr_pages_add(struct dr_pages *pg, uint64_t vaddr, uint64_t nr_pages, uint32_t flags,
		 uint64_t off)
{
	struct dr_run *last = pg->nr ? &pg->run[pg->nr - 1] : NULL;
	uint64_t len = nr_pages * DR_PAGE;

	/* A length that wraps is kept wrapped (end <= start) for the checks. */
	if (nr_pages > UINT64_MAX / DR_PAGE)
		len = 0;
	if (!(flags & PE_PRESENT))
		off = 0;
	if (last && len && last->end == vaddr && last->flags == flags &&
	    (flags != PE_PRESENT ||
	     (off != DR_NO_OFF && last->off != DR_NO_OFF && last->off + (last->end - last->start) == off))) {
		last->end = vaddr + len;
		return 0;
	}
	if (runs_full(pg)) {
		size_t n = pg->nr < RUNS_MIN ? RUNS_MIN : 2 * pg->nr;
		struct dr_run *r = realloc(pg->run, n * sizeof(*r));

		if (!r)
			return -ENOMEM;
		pg->run = r;
	}
	pg->run[pg->nr++] = (struct dr_run){ .start = vaddr, .end = vaddr + len, .flags = flags,
					     .off = off };
	return 0;
}

static int bad_run(const struct dr_pages *pg, const struct dr_run *r, const char *why)
{
	pr_err("%s: %s: run at %#llx %s", pg->dir, pg->image, (unsigned long long)r->start, why);
	return -EINVAL;
}

static int check_run(const struct dr_pages *pg, size_t i, bool resolved)
{
	const struct dr_run *r = &pg->run[i], *prev = i ? &pg->run[i - 1] : NULL;
	uint64_t len = r->end - r->start;

	if (!r->flags || (r->flags & (r->flags - 1)) || (r->flags & ~PE_KINDS))
		return bad_run(pg, r, "is not exactly one kind of page");
	if ((r->start & (DR_PAGE - 1)) || r->end <= r->start)
		return bad_run(pg, r, "is not page-aligned, or empty, or wraps");
	if (!r->start)
		return bad_run(pg, r, "is at address 0, which no process can map");
	if (prev && r->start < prev->start)
		return bad_run(pg, r, "is out of order");
	if (prev && r->start < prev->end)
		return bad_run(pg, r, "overlaps the run before it");
	if (r->flags == PE_PRESENT) {
		if (r->off == DR_NO_OFF)
			return bad_run(pg, r, "has present pages without an offset");
		if (r->off < pg->pages_base || ((r->off - pg->pages_base) & (DR_PAGE - 1)))
			return bad_run(pg, r, "has its pages at an offset that is not page-aligned");
		if (r->off > pg->pages_size || len > pg->pages_size - r->off)
			return bad_run(pg, r, "reaches past the end of the pages file");
	}
	if (r->flags == PE_PARENT && resolved && !pg->parent)
		return bad_run(pg, r, "is in a parent dump, and there is none");
	return 0;
}

/* The dumper writes the pages file in one sequential pass: bytes after the
 * last stored run mean runs were lost (the image cut at an entry boundary). */
static int check_tail(const struct dr_pages *pg)
{
	uint64_t end = 0;

	for (size_t i = 0; i < pg->nr; i++)
		if (pg->run[i].flags == PE_PRESENT &&
		    pg->run[i].off + (pg->run[i].end - pg->run[i].start) > end)
			end = pg->run[i].off + (pg->run[i].end - pg->run[i].start);
	if (pg->pages_size <= end)
		return 0;
	pr_err("%s: %s: the pages file holds %llu bytes no run points to (image cut short?)",
	       pg->dir, pg->image, (unsigned long long)(pg->pages_size - end));
	return -EINVAL;
}

/* Each PE_PARENT run lies on pages the parent holds: stored, zero, or in
 * its own parent (the dumper marks nothing else so). */
static int check_parent_cover(const struct dr_pages *pg)
{
	const struct dr_pages *pp = pg->parent;

	for (size_t i = 0; pp && i < pg->nr; i++) {
		const struct dr_run *r = &pg->run[i];
		const struct dr_run *q = r->flags == PE_PARENT ? dr_pages_next(pp, r->start) : NULL;
		uint64_t a = r->start;

		while (r->flags == PE_PARENT && a < r->end) {
			if (!q || q == pp->run + pp->nr || q->start > a || q->flags == PE_FILE) {
				pr_err("%s: %s: pages at %#llx are in the parent dump %s, which does "
				       "not hold them", pg->dir, pg->image, (unsigned long long)a,
				       pp->dir);
				return -EINVAL;
			}
			a = q->end;
			q++;
		}
	}
	return 0;
}

int dr_pages_check(const struct dr_pages *pg, bool resolved)
{
	int depth = 0, r = 0;

	for (const struct dr_pages *l = pg; l && !r; l = l->parent) {
		if (++depth > DR_MAX_CHAIN) {
			pr_err("%s: chain of parent dumps longer than %d", pg->dir, DR_MAX_CHAIN);
			return -ELOOP;
		}
		for (size_t i = 0; i < l->nr && !r; i++)
			r = check_run(l, i, resolved);
		if (!r)
			r = check_tail(l);
		if (!r)
			r = check_parent_cover(l);
	}
	return r;
}

const struct dr_run *dr_pages_find(const struct dr_pages *pg, uint64_t vaddr)
{
	const struct dr_run *r = dr_pages_next(pg, vaddr);

	return r && r->start <= vaddr ? r : NULL;
}

const struct dr_run *dr_pages_next(const struct dr_pages *pg, uint64_t vaddr)
{
	size_t lo = 0, hi = pg->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pg->run[mid].end <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < pg->nr ? &pg->run[lo] : NULL;
}

static int read_stored(const struct dr_pages *pg, const struct dr_run *r, uint64_t vaddr,
		       uint8_t *p, size_t n)
{
	while (n) {
		ssize_t got = pread(pg->pages_fd, p, n, r->off + (vaddr - r->start));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		p += got;
		vaddr += got;
		n -= got;
	}
	return 0;
}

int dr_pages_read(const struct dr_pages *pg, uint64_t vaddr, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		const struct dr_run *r = dr_pages_find(pg, vaddr);
		size_t n;
		int e = 0;

		if (!r || r->flags == PE_FILE || (r->flags == PE_PARENT && !pg->parent))
			return -ENODATA;
		n = r->end - vaddr < len ? r->end - vaddr : len;
		if (r->flags == PE_ZERO)
			memset(p, 0, n);
		else if (r->flags == PE_PRESENT)
			e = read_stored(pg, r, vaddr, p, n);
		else
			e = dr_pages_read(pg->parent, vaddr, p, n);
		if (e)
			return e;
		p += n;
		vaddr += n;
		len -= n;
	}
	return 0;
}

bool dr_pages_written(const struct dr_pages *pg, uint64_t start, uint64_t end)
{
	for (const struct dr_run *r = dr_pages_next(pg, start); r && r < pg->run + pg->nr &&
	     r->start < end; r++) {
		if (r->flags == PE_PRESENT || r->flags == PE_ZERO)
			return true;
		if (r->flags == PE_PARENT && pg->parent &&
		    dr_pages_written(pg->parent, r->start > start ? r->start : start,
				     r->end < end ? r->end : end))
			return true;
	}
	return false;
}
