/* The page runs of one process: where each populated page's bytes are. A
 * run never holds page contents, only where to find them, so a 4 GiB dump
 * costs a few bytes per run here, never its pages. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert/convert.h"
#include "images/log.h"

#define PE_KINDS (PE_PRESENT | PE_ZERO | PE_FILE | PE_PARENT)

static int cmp_run(const void *a, const void *b)
{
	const struct conv_run *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The pages file is named by the image; it must be a plain name in the
 * dump directory, never a path that could lead elsewhere. */
static int open_pages_file(int dirfd, pid_t pid, const char *name, struct conv_pages *pg)
{
	struct stat st;

	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		pr_err("%s: pagemap-%d.img names a bad pages file", pg->dir, pid);
		return -EINVAL;
	}
	/* O_NONBLOCK: a FIFO at that name must not block the open (fstat refuses it). */
	pg->pages_fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (pg->pages_fd < 0)
		return pr_perror("%s: cannot open %s", pg->dir, name);
	if (fstat(pg->pages_fd, &st) || !S_ISREG(st.st_mode)) {
		pr_err("%s: %s is not a regular file", pg->dir, name);
		return -EINVAL;
	}
	pg->pages_size = st.st_size;
	posix_fadvise(pg->pages_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

static int add_run(struct conv_pages *pg, size_t *cap, const struct conv_run *r)
{
	struct conv_run *last = pg->nr ? &pg->run[pg->nr - 1] : NULL;

	/* Adjacent runs of one kind whose bytes also follow each other become
	 * one: fewer, larger copies. */
	if (last && last->end == r->start && last->flags == r->flags &&
	    (r->flags != PE_PRESENT || last->off + (last->end - last->start) == r->off)) {
		last->end = r->end;
		return 0;
	}
	if (pg->nr == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct conv_run *n = realloc(pg->run, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		pg->run = n;
		*cap = ncap;
	}
	pg->run[pg->nr++] = *r;
	return 0;
}

static int check_entry(const struct conv_pages *pg, pid_t pid, const PagemapEntry *e,
		       uint64_t page_size, struct conv_run *r)
{
	uint64_t len = (uint64_t)e->nr_pages * page_size;
	uint32_t kind = e->flags & PE_KINDS;

	r->start = e->vaddr;
	r->end = e->vaddr + len;
	r->flags = kind;
	r->off = e->has_pages_off ? e->pages_off : 0;
	if (!e->nr_pages || (e->vaddr & (page_size - 1)) || r->end <= r->start ||
	    (e->flags & ~PE_KINDS) || !kind || (kind & (kind - 1)))
		goto bad;
	if (kind == PE_PRESENT &&
	    (!e->has_pages_off || r->off > pg->pages_size || len > pg->pages_size - r->off))
		goto bad;
	return 0;
bad:
	pr_err("%s: pagemap-%d.img: entry at %#lx is corrupt or points past the pages file",
	       pg->dir, pid, (unsigned long)e->vaddr);
	return -EINVAL;
}

static int read_runs(struct img *img, struct conv_pages *pg, pid_t pid, uint64_t page_size)
{
	bool sorted = true;
	size_t cap = 0;
	void *msg;
	int r;

	while ((r = img_read(img, NULL, &msg)) > 0) {
		struct conv_run run;

		r = check_entry(pg, pid, msg, page_size, &run);
		img_free(msg);
		if (!r && pg->nr && run.start < pg->run[pg->nr - 1].start)
			sorted = false;
		if (!r)
			r = add_run(pg, &cap, &run);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (!sorted)
		qsort(pg->run, pg->nr, sizeof(*pg->run), cmp_run);
	for (size_t i = 1; i < pg->nr; i++) {
		if (pg->run[i].start < pg->run[i - 1].end) {
			pr_err("%s: pagemap-%d.img: runs overlap at %#lx", pg->dir, pid,
			       (unsigned long)pg->run[i].start);
			return -EINVAL;
		}
	}
	return 0;
}

static bool has_parent_runs(const struct conv_pages *pg)
{
	for (size_t i = 0; i < pg->nr; i++)
		if (pg->run[i].flags == PE_PARENT)
			return true;
	return false;
}

/* PE_PARENT pages live in the pre-dump this dump was made against. */
static int load_parent(int dirfd, struct conv_pages *pg, pid_t pid, const InventoryEntry *inv,
		       uint64_t page_size, int depth)
{
	InventoryEntry *pinv = NULL;
	char *pdir = NULL;
	int pfd, r;

	if (!inv->parent_dir || !*inv->parent_dir) {
		pr_err("%s: pages of %d are in a parent dump, but the inventory names none",
		       pg->dir, pid);
		return -EINVAL;
	}
	if (depth <= 0) {
		pr_err("%s: chain of parent dumps too long (a loop?)", pg->dir);
		return -ELOOP;
	}
	pfd = openat(dirfd, inv->parent_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return pr_perror("%s: cannot open parent dump %s", pg->dir, inv->parent_dir);
	r = img_read_one(pfd, IMG_INVENTORY, 0, false, (void **)&pinv);
	if (r == -ENOENT)
		pr_err("%s: parent dump %s is incomplete (no inventory.img)", pg->dir,
		       inv->parent_dir);
	if (r == 0 && pinv->page_size != page_size) {
		pr_err("%s: parent dump %s has another page size", pg->dir, inv->parent_dir);
		r = -EINVAL;
	}
	if (r == 0 && asprintf(&pdir, "%s/%s", pg->dir, inv->parent_dir) < 0) {
		pdir = NULL;
		r = -ENOMEM;
	}
	if (r == 0)
		r = conv_pages_load(pfd, pdir, pid, pinv, page_size, depth - 1, &pg->parent);
	free(pdir);
	img_free(pinv);
	close(pfd);
	return r;
}

int conv_pages_load(int dirfd, const char *dir, pid_t pid, const InventoryEntry *inv,
		    uint64_t page_size, int depth, struct conv_pages **out)
{
	struct conv_pages *pg = calloc(1, sizeof(*pg));
	PagemapHead *head = NULL;
	struct img *img = NULL;
	int r;

	*out = NULL;
	if (!pg || !(pg->dir = strdup(dir))) {
		free(pg);
		return -ENOMEM;
	}
	pg->pages_fd = -1;
	img = img_open(dirfd, IMG_PAGEMAP, pid, true);
	if (!img) {
		r = -errno;
		goto fail;
	}
	r = img_read(img, &pagemap_head__descriptor, (void **)&head);
	if (r == 0) {
		pr_err("%s: pagemap-%d.img is empty", dir, pid);
		r = -EINVAL;
	}
	if (r < 0)
		goto fail;
	r = open_pages_file(dirfd, pid, head->pages_file, pg);
	if (r < 0)
		goto fail;
	r = read_runs(img, pg, pid, page_size);
	if (r < 0)
		goto fail;
	if (has_parent_runs(pg)) {
		r = load_parent(dirfd, pg, pid, inv, page_size, depth);
		if (r < 0)
			goto fail;
	}
	img_free(head);
	img_close_read(img);
	*out = pg;
	return 0;
fail:
	img_free(head);
	img_close_read(img);
	conv_pages_free(pg);
	return r;
}

void conv_pages_free(struct conv_pages *pg)
{
	while (pg) {
		struct conv_pages *parent = pg->parent;

		if (pg->pages_fd >= 0)
			close(pg->pages_fd);
		free(pg->run);
		free(pg->dir);
		free(pg);
		pg = parent;
	}
}

size_t conv_pages_find(const struct conv_pages *pg, uint64_t addr)
{
	size_t lo = 0, hi = pg->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pg->run[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool conv_pages_written(const struct conv_pages *pg, uint64_t start, uint64_t end)
{
	for (size_t i = conv_pages_find(pg, start); i < pg->nr && pg->run[i].start < end; i++) {
		const struct conv_run *r = &pg->run[i];

		if (r->flags == PE_PRESENT || r->flags == PE_ZERO)
			return true;
		if (r->flags == PE_PARENT && pg->parent &&
		    conv_pages_written(pg->parent, r->start > start ? r->start : start,
				       r->end < end ? r->end : end))
			return true;
	}
	return false;
}
