#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/image.h"
#include "images/log.h"
#include "images/pagemap_read.h"

#define PMR_PAGE 4096ull
#define PMR_KINDS (PE_PRESENT | PE_ZERO | PE_FILE | PE_PARENT)

static int open_pages(int dirfd, int pid, const char *name, struct pmr *pm)
{
	struct stat st;

	/* A plain name in the dump directory, never a path leading elsewhere. */
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		pr_err("pagemap-%d.img names a bad pages file '%s'", pid, name);
		return -EINVAL;
	}
	/* O_NONBLOCK: a FIFO at that name must not block the open (fstat refuses it). */
	pm->pages_fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (pm->pages_fd < 0)
		return pr_perror("cannot open %s", name);
	if (fstat(pm->pages_fd, &st) || !S_ISREG(st.st_mode)) {
		pr_err("%s is not a regular file", name);
		return -EINVAL;
	}
	pm->pages_size = st.st_size;
	return 0;
}

static int check_run(int pid, const struct pmr *pm, const PagemapEntry *e)
{
	uint32_t kind = e->flags & PMR_KINDS;
	uint64_t len = (uint64_t)e->nr_pages * PMR_PAGE;
	const struct pmr_run *prev = pm->nr ? &pm->run[pm->nr - 1] : NULL;

	if (!e->nr_pages || e->vaddr % PMR_PAGE || e->vaddr + len < e->vaddr ||
	    (kind & (kind - 1)) || !kind) {
		pr_err("pagemap-%d.img: malformed run at %#llx", pid, (unsigned long long)e->vaddr);
		return -EINVAL;
	}
	if (prev && e->vaddr < prev->end) {
		pr_err("pagemap-%d.img: run at %#llx is out of order or overlaps", pid,
		       (unsigned long long)e->vaddr);
		return -EINVAL;
	}
	if (kind == PE_PRESENT && (!e->has_pages_off || e->pages_off % PMR_PAGE ||
				   e->pages_off + len < e->pages_off ||
				   e->pages_off + len > pm->pages_size)) {
		pr_err("pagemap-%d.img: run at %#llx points outside the pages file", pid,
		       (unsigned long long)e->vaddr);
		return -EINVAL;
	}
	return 0;
}

static int add_run(struct pmr *pm, size_t *cap, const PagemapEntry *e)
{
	if (pm->nr == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct pmr_run *n = realloc(pm->run, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		pm->run = n;
		*cap = nc;
	}
	pm->run[pm->nr++] = (struct pmr_run){
		.start = e->vaddr, .end = e->vaddr + (uint64_t)e->nr_pages * PMR_PAGE,
		.flags = e->flags & PMR_KINDS, .off = e->pages_off,
	};
	return 0;
}

int pmr_open(int dirfd, int pid, struct pmr *pm)
{
	struct img *img = img_open(dirfd, IMG_PAGEMAP, pid, true);
	PagemapHead *head = NULL;
	PagemapEntry *e;
	size_t cap = 0;
	int r;

	memset(pm, 0, sizeof(*pm));
	pm->pages_fd = -1;
	if (!img)
		return -errno;
	r = img_read(img, &pagemap_head__descriptor, (void **)&head);
	if (r == 0) {
		pr_err("pagemap-%d.img: no header", pid);
		r = -EINVAL;
	}
	if (r > 0)
		r = open_pages(dirfd, pid, head->pages_file, pm);
	img_free(head);
	while (r >= 0 && (r = img_read(img, NULL, (void **)&e)) > 0) {
		r = check_run(pid, pm, e);
		if (r >= 0)
			r = add_run(pm, &cap, e);
		img_free(e);
	}
	img_close_read(img);
	if (r < 0)
		pmr_close(pm);
	return r < 0 ? r : 0;
}

void pmr_close(struct pmr *pm)
{
	free(pm->run);
	pm->run = NULL;
	pm->nr = 0;
	if (pm->pages_fd >= 0)
		close(pm->pages_fd);
	pm->pages_fd = -1;
}

const struct pmr_run *pmr_find(const struct pmr *pm, uint64_t vaddr)
{
	size_t lo = 0, hi = pm->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (vaddr < pm->run[mid].start)
			hi = mid;
		else if (vaddr >= pm->run[mid].end)
			lo = mid + 1;
		else
			return &pm->run[mid];
	}
	return NULL;
}

const struct pmr_run *pmr_next(const struct pmr *pm, uint64_t vaddr)
{
	size_t lo = 0, hi = pm->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->run[mid].end <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < pm->nr ? &pm->run[lo] : NULL;
}

int pmr_read(const struct pmr *pm, uint64_t vaddr, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		const struct pmr_run *r = pmr_find(pm, vaddr);
		size_t n;

		if (!r || (r->flags != PE_PRESENT && r->flags != PE_ZERO))
			return -ENODATA;
		n = r->end - vaddr < len ? r->end - vaddr : len;
		if (r->flags == PE_ZERO) {
			memset(p, 0, n);
		} else {
			ssize_t got = pread(pm->pages_fd, p, n, r->off + (vaddr - r->start));

			if (got != (ssize_t)n)
				return got < 0 ? -errno : -EIO;
		}
		p += n;
		vaddr += n;
		len -= n;
	}
	return 0;
}
