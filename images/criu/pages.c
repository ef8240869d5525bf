/* The page runs of one process from CRIU's pagemap-PID.img: a head naming
 * pages-ID.img, then runs in address order. A present run's bytes follow
 * the previous present run's in the pages file (CRIU stores no offsets:
 * they are summed here). A run in the parent lives in the pre-dump CRIU's
 * "parent" link names, whose own pagemap says where, recursively.
 *
 * Runs only: the pages are never read here. For a directory the pages
 * file is opened; for an archive member, the archive (or its memfd) with
 * the member's offset added to every run, so convert copies straight from
 * the tar. Pages CRIU never wrote (zero pages, untouched memory) are
 * holes, as in criu-lite's own dumps. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/criu/criu.h"
#include "images/dump_read_backend.h"
#include "images/log.h"

#define C_PE_PARENT	(1u << 0)
#define C_PE_LAZY	(1u << 1)
#define C_PE_PRESENT	(1u << 2)

struct pload {
	const struct csrc *src;
	uint32_t pid;
	bool must_exist;
	struct dr_pages *pg;
	uint64_t size, next;	/* the pages member's, and where its next run is */
};

static int bad(const struct pload *l, uint64_t vaddr, const char *what)
{
	pr_err("%s: pagemap-%u.img: run at %#llx %s", l->src->label, l->pid,
	       (unsigned long long)vaddr, what);
	return -EINVAL;
}

static int one_entry(struct pload *l, const Criu__PagemapEntry *e)
{
	uint64_t nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
	uint32_t fl = e->has_flags ? e->flags : e->in_parent ? C_PE_PARENT : C_PE_PRESENT;
	uint64_t off = 0;

	if (fl & ~(C_PE_PARENT | C_PE_LAZY | C_PE_PRESENT))
		return bad(l, e->vaddr, "has flags this reader does not know (compressed pages?)");
	if (!nr || nr > UINT64_MAX / CRIU_PAGE_SIZE)
		return bad(l, e->vaddr, "is corrupt");
	if ((fl & C_PE_PARENT) && (fl & C_PE_PRESENT))
		return bad(l, e->vaddr, "is both in the parent and here");
	if (fl & C_PE_PRESENT) {
		/* Each present run's bytes follow the previous one's. */
		if (nr * CRIU_PAGE_SIZE > l->size - l->next)
			return bad(l, e->vaddr, "runs past the end of the pages file");
		off = l->pg->pages_base + l->next;
		l->next += nr * CRIU_PAGE_SIZE;
	} else if (!(fl & C_PE_PARENT)) {
		return bad(l, e->vaddr, "was left to lazy migration: its pages are not in the images");
	}
	return dr_pages_add(l->pg, e->vaddr, nr, fl & C_PE_PARENT ? PE_PARENT : PE_PRESENT, off);
}

/* The pages file the head names: an fd of our own, and the member's range. */
static int open_pages(struct pload *l, const char *name)
{
	struct cfile f;
	int r;

	r = csrc_get(l->src, name, &f);
	if (r == -ENOENT)
		pr_err("%s: pagemap-%u.img names %s, which is missing", l->src->label, l->pid, name);
	if (r < 0)
		return r;
	l->pg->pages_fd = f.own ? f.fd : fcntl(f.fd, F_DUPFD_CLOEXEC, 0);
	if (l->pg->pages_fd < 0)
		return pr_perror("%s: cannot open %s", l->src->label, name);
	posix_fadvise(l->pg->pages_fd, f.off, f.size, POSIX_FADV_SEQUENTIAL);
	l->pg->pages_base = f.off;
	l->size = f.size;
	l->pg->pages_size = f.off + f.size;
	return 0;
}

static int read_runs(struct pload *l)
{
	Criu__PagemapHead *head = NULL;
	struct cimg *im;
	void *msg;
	int r;

	r = cimg_open(l->src, CIMG_PAGEMAP, l->pid, l->must_exist, &im);
	if (r < 0)
		return r;
	r = cimg_next(im, (void **)&head, NULL, NULL);
	if (r == 0) {
		pr_err("%s: pagemap-%u.img is empty", l->src->label, l->pid);
		r = -EINVAL;
	}
	if (r > 0) {
		char pages[32], image[32];

		snprintf(image, sizeof(image), "pagemap-%u.img", l->pid);
		snprintf(pages, sizeof(pages), "pages-%u.img", head->pages_id);
		l->pg = dr_pages_new(l->src->label, image, pages);
		r = l->pg ? open_pages(l, pages) : -ENOMEM;
	}
	while (r >= 0 && (r = cimg_next(im, &msg, NULL, NULL)) > 0) {
		r = one_entry(l, msg);
		cimg_free(msg);
	}
	cimg_free(head);
	cimg_close(im);
	return r;
}

static bool has_parent_runs(const struct dr_pages *pg)
{
	for (size_t i = 0; i < pg->nr; i++)
		if (pg->run[i].flags == PE_PARENT)
			return true;
	return false;
}

static int load_parent(const struct csrc *src, uint32_t pid, int depth, struct dr_pages *pg)
{
	struct csrc *parent;
	int r;

	if (depth <= 0) {
		pr_err("%s: chain of parent images too long (a loop?)", src->label);
		return -ELOOP;
	}
	r = csrc_parent(src, &parent);
	if (!r && !parent) {
		pr_err("%s: pages of %u are in the parent images, but there is no parent link%s",
		       src->label, pid, src->dirfd < 0 ? " (an archive holds none)" : "");
		r = -EINVAL;
	}
	if (!r)
		r = cpages_load(parent, pid, true, depth - 1, &pg->parent);
	csrc_free(parent);
	return r;
}

int cpages_load(const struct csrc *src, uint32_t pid, bool must_exist, int depth,
		struct dr_pages **out)
{
	struct pload l = { .src = src, .pid = pid, .must_exist = must_exist };
	int r;

	*out = NULL;
	r = read_runs(&l);
	if (!r && has_parent_runs(l.pg))
		r = load_parent(src, pid, depth, l.pg);
	if (r < 0) {
		dr_pages_free(l.pg);
		return r;
	}
	*out = l.pg;
	return 0;
}

struct dr_pages *cpages_empty(const struct csrc *src)
{
	return dr_pages_new(src->label, "", "");
}
