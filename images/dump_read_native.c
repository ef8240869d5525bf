/* The dump reader's backend for criu-lite's own format: a directory of
 * images (README: The images). Reading only: every rule is checked by
 * dump_read.c and dump_read_check.c once this returns. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/arena.h"
#include "images/dump_read_backend.h"
#include "images/image_sum.h"
#include "images/log.h"

/* kind's image in dirfd is a regular file with criu-lite's magic. */
static bool has_image(int dirfd, enum img_kind kind)
{
	char name[64];
	uint32_t magic = 0;
	struct stat st;
	bool ok;
	int fd;

	if (img_name(kind, 0, name, sizeof(name)))
		return false;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ok = !fstat(fd, &st) && S_ISREG(st.st_mode) &&
	     pread(fd, &magic, sizeof(magic), 0) == sizeof(magic) && magic == img_magic(kind);
	close(fd);
	return ok;
}

/* Ours: a directory with our inventory, or at least our pstree (an
 * incomplete dump, which open then refuses for what it is). */
static int native_probe(const char *path)
{
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ours;

	if (dirfd < 0)
		return 0;
	ours = has_image(dirfd, IMG_INVENTORY) || has_image(dirfd, IMG_PSTREE);
	close(dirfd);
	return ours;
}

static int native_open(struct dump_read *d, const char *path)
{
	StatsEntry *st = NULL;
	int r;

	d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0)
		return pr_perror("cannot open dump directory %s", path);
	/* The whole dump, once, whatever the reader goes on to read: a
	 * damaged file refuses the dump even where this reader would not
	 * look (convert never reads files-PID.img). */
	r = dr_read_inventory(d->dirfd, path, false, IMG_SUM_IMAGES |
			      (d->flags & (DR_NO_PAGES_SUM | DR_PAGES_SUM_LATER) ? 0 : IMG_SUM_RAW),
			      &d->inv);
	if (!r && (d->flags & DR_PAGES_SUM_LATER) && !(d->flags & DR_NO_PAGES_SUM))
		r = dr_sum_bg_start(d);
	if (r == -ENOENT)
		pr_err("%s: not a complete dump (no inventory.img)", path);
	if (r < 0)
		return r;
	r = dr_img_read_all(d->dirfd, path, d->inv, IMG_PSTREE, 0, true, NULL, (void ***)&d->ps,
			    &d->nr_ps);
	if (r < 0)
		return r;
	r = dr_img_read_one(d->dirfd, path, d->inv, IMG_STATS, 0, false, NULL, (void **)&st);
	if (r == 0 && st->has_nr_procs)
		d->nr_counted = st->nr_procs;
	img_free(st);
	return r == -ENOENT ? 0 : r;
}

/* The pages file is named by the image: a plain name in the dump's
 * directory, never a path that could lead elsewhere. With `hash` (a parent
 * dump's: dr_open checked its own dump's whole), its contents are checked
 * against inv's sum. The trackers (dr_pages_open) skip it: they only
 * compare parent pages with live ones, and what they reuse is verified by
 * the restore or convert that reads it. */
static int open_pages_file(int dirfd, const InventoryEntry *inv, bool hash, struct dr_pages *pg)
{
	const char *name = pg->pages_file;
	struct stat st;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		pr_err("%s: %s names a bad pages file '%s'", pg->dir, pg->image, name);
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
	pg->pages_size = (uint64_t)st.st_size;
	return dr_pages_verify(pg->pages_fd, pg->dir, inv, name, hash);
}

static int read_runs(struct img *img, struct dr_pages *pg)
{
	PagemapEntry *e;
	int r;

	while ((r = img_read(img, NULL, (void **)&e)) > 0) {
		r = dr_pages_add(pg, e->vaddr, e->nr_pages, e->flags,
				 e->has_pages_off ? e->pages_off : DR_NO_OFF);
		img_free(e);
		if (r < 0)
			return r;
	}
	return r;
}

/* One level: pagemap-PID.img of the dump at dirfd and its pages file.
 * -ENOENT, said by the caller, when the image is absent and !must. */
static int load_level(int dirfd, const char *dir, const InventoryEntry *inv, bool hash, uint32_t pid,
		      bool must, struct dr_pages **out)
{
	PagemapHead *head = NULL;
	struct img *img;
	char image[64];
	int r;

	*out = NULL;
	img_name(IMG_PAGEMAP, (int)pid, image, sizeof(image));
	img = dr_img_open(dirfd, dir, inv, IMG_PAGEMAP, (int)pid, must);
	if (!img)
		return -errno;
	r = img_read(img, &pagemap_head__descriptor, (void **)&head);
	if (r == 0) {
		pr_err("%s: %s has no header", dir, image);
		r = -EINVAL;
	}
	if (r > 0) {
		*out = dr_pages_new(dir, image, head->pages_file);
		r = *out ? open_pages_file(dirfd, inv, hash, *out) : -ENOMEM;
	}
	if (r >= 0)
		r = read_runs(img, *out);
	img_free(head);
	img_close_read(img);
	if (r < 0) {
		dr_pages_free(*out);
		*out = NULL;
	}
	return r < 0 ? r : 0;
}

static bool has_parent_runs(const struct dr_pages *pg)
{
	for (size_t i = 0; i < pg->nr; i++)
		if (pg->run[i].flags == PE_PARENT)
			return true;
	return false;
}

struct chain {
	dev_t dev[DR_MAX_CHAIN];
	ino_t ino[DR_MAX_CHAIN];
	int n;
};

/* Remember the directory at fd; a second visit is a loop. */
static int chain_enter(struct chain *c, int fd, const char *dir)
{
	struct stat st;

	if (fstat(fd, &st))
		return pr_perror("%s: cannot stat", dir);
	for (int i = 0; i < c->n; i++)
		if (c->dev[i] == st.st_dev && c->ino[i] == st.st_ino) {
			pr_err("%s: the chain of parent dumps loops back to a dump already in it",
			       dir);
			return -ELOOP;
		}
	if (c->n == DR_MAX_CHAIN) {
		pr_err("%s: chain of parent dumps longer than %d", dir, DR_MAX_CHAIN);
		return -ELOOP;
	}
	c->dev[c->n] = st.st_dev;
	c->ino[c->n++] = st.st_ino;
	return 0;
}

static char *join(const char *dir, const char *rel)
{
	char *s;

	if (rel[0] == '/')
		return strdup(rel);
	return asprintf(&s, "%s/%s", dir, rel) < 0 ? NULL : s;
}

/* The parent of the level `pg` (whose dump has inventory inv) at dirfd. */
static int load_parent(struct chain *c, int dirfd, const InventoryEntry *inv, uint32_t pid,
		       struct dr_pages *pg);

static int parent_level(struct chain *c, int pfd, const char *pdir, uint32_t pid,
			struct dr_pages *pg)
{
	InventoryEntry *pinv = NULL;
	int r = chain_enter(c, pfd, pdir);

	if (!r) {
		r = dr_read_inventory(pfd, pdir, false, 0, &pinv);
		if (r == -ENOENT)
			pr_err("%s: parent dump %s is incomplete (no inventory.img)", pg->dir, pdir);
	}
	if (!r)
		r = dr_check_inventory(pinv, pdir, DR_PREDUMP_OK);
	if (!r) {
		r = load_level(pfd, pdir, pinv, true, pid, false, &pg->parent);
		if (r == -ENOENT)
			pr_err("%s: pages of %u are in the parent dump %s, which has no %s",
			       pg->dir, pid, pdir, pg->image);
	}
	if (!r && has_parent_runs(pg->parent))
		r = load_parent(c, pfd, pinv, pid, pg->parent);
	img_free(pinv);
	return r;
}

static int load_parent(struct chain *c, int dirfd, const InventoryEntry *inv, uint32_t pid,
		       struct dr_pages *pg)
{
	char *pdir;
	int pfd, r;

	if (!inv->parent_dir || !*inv->parent_dir)
		return 0;	/* PE_PARENT without a parent: the checks say so */
	pdir = join(pg->dir, inv->parent_dir);
	if (!pdir)
		return -ENOMEM;
	pfd = openat(dirfd, inv->parent_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		r = pr_perror("%s: cannot open the parent dump %s", pg->dir, inv->parent_dir);
	else
		r = parent_level(c, pfd, pdir, pid, pg);
	if (pfd >= 0)
		close(pfd);
	free(pdir);
	return r;
}

/* -ENOENT only when this dump has no pagemap for pid; whatever is missing
 * further down the chain is an error (already said). */
static int load_pages(struct dump_read *d, uint32_t pid, bool must, struct dr_pages **out)
{
	struct chain c = { .n = 0 };
	int r = load_level(d->dirfd, d->dir, d->inv, false, pid, must, out);

	if (r)
		return r;
	r = chain_enter(&c, d->dirfd, d->dir);
	if (!r && has_parent_runs(*out))
		r = load_parent(&c, d->dirfd, d->inv, pid, *out);
	return r == -ENOENT ? -EINVAL : r;
}

/* One part: 1 loaded, 0 absent and that is fine, <0 error (said). */
static int part(int r, unsigned what)
{
	if (r == -ENOENT && (what & DR_MISSING_OK))
		return 0;
	return r < 0 ? r : 1;
}

/* A process's messages all go into one arena of its own (p->arena). */
static int native_proc_load(struct dump_read *d, size_t idx, unsigned what, struct dr_proc *p)
{
	int pid = (int)d->ps[idx]->pid, fd = d->dirfd;
	bool must = !(what & DR_MISSING_OK);
	struct arena *a;
	int r = 1;

	if (what & (DR_PROC | DR_THREADS | DR_VMAS | DR_FDS) && !(p->arena = arena_new_huge()))
		return -ENOMEM;
	a = p->arena;
	if (what & DR_PROC) {
		r = part(dr_img_read_one(fd, d->dir, d->inv, IMG_PROC, pid, must, a,
					 (void **)&p->pe), what);
		p->loaded |= r > 0 ? DR_PROC : 0;
	}
	if (r >= 0 && (what & DR_THREADS)) {
		r = part(dr_img_read_all(fd, d->dir, d->inv, IMG_THREADS, pid, must, a,
					 (void ***)&p->th, &p->nr_th), what);
		p->loaded |= r > 0 ? DR_THREADS : 0;
	}
	if (r >= 0 && (what & DR_VMAS)) {
		r = part(dr_img_read_all(fd, d->dir, d->inv, IMG_MM, pid, must, a,
					 (void ***)&p->vma, &p->nr_vma), what);
		p->loaded |= r > 0 ? DR_VMAS : 0;
	}
	if (r >= 0 && (what & DR_PAGES)) {
		r = part(load_pages(d, (uint32_t)pid, must, &p->pages), what);
		p->loaded |= r > 0 ? DR_PAGES : 0;
	}
	if (r >= 0 && (what & DR_FDS)) {
		r = part(dr_img_read_all(fd, d->dir, d->inv, IMG_FILES, pid, must, a,
					 (void ***)&p->fd, &p->nr_fd), what);
		p->loaded |= r > 0 ? DR_FDS : 0;
	}
	return r < 0 ? r : 0;
}

static void native_close(struct dump_read *d)
{
	(void)d;
}

const struct dr_format dr_format_native = {
	.name = "criu-lite",
	.probe = native_probe,
	.open = native_open,
	.proc_load = native_proc_load,
	.close = native_close,
};

int dr_pages_open(int dirfd, const char *dir, uint32_t pid, struct dr_pages **out)
{
	InventoryEntry *inv = NULL;
	int r = dr_read_inventory(dirfd, dir, false, 0, &inv);

	*out = NULL;
	if (r == -ENOENT)
		r = 0;
	if (!r)
		r = load_level(dirfd, dir, inv, false, pid, true, out);
	img_free(inv);
	if (!r)
		r = dr_pages_check(*out, false);
	if (r) {
		dr_pages_free(*out);
		*out = NULL;
	}
	return r;
}
