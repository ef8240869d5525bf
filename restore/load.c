/* Read a whole dump into memory: inventory, pstree, and per process its
 * proc, threads, mm, pagemap and files images. Everything is read before
 * any process is created, so that a malformed image refuses the restore
 * while nothing has happened yet. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/log.h"
#include "restore/rst.h"

#define MAX_PARENT_DEPTH 16

/* Every entry of an image, as an array the caller frees with free_all. */
static int read_all(int dirfd, enum img_kind kind, int pid, const ProtobufCMessageDescriptor *first,
		    void **head, void ***out, size_t *nr)
{
	struct img *img = img_open(dirfd, kind, pid, true);
	size_t cap = 0;
	void *msg;
	int r;

	*out = NULL;
	*nr = 0;
	if (!img)
		return -errno;
	if (first) {
		r = img_read(img, first, head);
		if (r <= 0) {
			if (!r)
				pr_err("image of kind %d for pid %d is empty", kind, pid);
			img_close_read(img);
			return r ? r : -EINVAL;
		}
	}
	while ((r = img_read(img, NULL, &msg)) > 0) {
		if (*nr == cap) {
			void **n = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(*n));

			if (!n) {
				img_free(msg);
				r = -ENOMEM;
				break;
			}
			*out = n;
		}
		(*out)[(*nr)++] = msg;
	}
	img_close_read(img);
	return r;
}

static void free_all(void **v, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		img_free(v[i]);
	free(v);
}

static int load_pstree(struct rst_tree *t)
{
	void **v;
	size_t nr;
	int r = read_all(t->dirfd, IMG_PSTREE, 0, NULL, NULL, &v, &nr);

	if (r < 0) {
		free_all(v, nr);
		return r;
	}
	if (!nr) {
		pr_err("%s: pstree.img lists no process", t->dir);
		free(v);
		return -EINVAL;
	}
	t->procs = calloc(nr, sizeof(*t->procs));
	if (!t->procs) {
		free_all(v, nr);
		return -ENOMEM;
	}
	t->nr_procs = nr;
	for (size_t i = 0; i < nr; i++) {
		t->procs[i].ps = v[i];
		t->procs[i].exe_mf = t->procs[i].zero_mf = -1;
	}
	free(v);
	return 0;
}

/* Link processes to their parents; the root is the inventory's root_pid. */
static int link_tree(struct rst_tree *t)
{
	t->root = -1;
	for (size_t i = 0; i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i], *pp;

		if (p->ps->pid == t->inv->root_pid) {
			t->root = (int)i;
			p->parent = -1;
			continue;
		}
		pp = rst_find_proc(t, p->ps->ppid);
		if (!pp) {
			pr_err("pstree.img: process %u has parent %u, which is not in the dump",
			       p->ps->pid, p->ps->ppid);
			return -EINVAL;
		}
		p->parent = (int)(pp - t->procs);
		for (size_t j = 0; j < i; j++)
			if (t->procs[j].ps->pid == p->ps->pid) {
				pr_err("pstree.img: process %u listed twice", p->ps->pid);
				return -EINVAL;
			}
	}
	if (t->root < 0) {
		pr_err("pstree.img: the root process %u is missing", t->inv->root_pid);
		return -EINVAL;
	}
	return 0;
}

static int load_pages_src(int dirfd, const char *dir, uint32_t pid, struct rst_pages_src *s)
{
	PagemapHead *head = NULL;
	char path[PATH_MAX];
	int r;

	r = read_all(dirfd, IMG_PAGEMAP, (int)pid, &pagemap_head__descriptor, (void **)&head,
		     (void ***)&s->pm, &s->nr_pm);
	if (r < 0)
		goto out;
	if (!head->pages_file[0] || strchr(head->pages_file, '/')) {
		pr_err("pagemap-%u.img: bad pages file name '%s'", pid, head->pages_file);
		r = -EINVAL;
		goto out;
	}
	if (snprintf(path, sizeof(path), "%s/%s", dir, head->pages_file) >= (int)sizeof(path)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	s->path = strdup(path);
	r = s->path ? 0 : -ENOMEM;
out:
	img_free(head);
	return r;
}

static bool has_parent_pages(const struct rst_pages_src *s)
{
	for (size_t i = 0; i < s->nr_pm; i++)
		if (s->pm[i]->flags & PE_PARENT)
			return true;
	return false;
}

/* dir/parent, with a relative parent taken relative to dir. */
static int parent_path(const char *dir, const char *parent, char *out)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s/%s", dir, parent) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if (!realpath(parent[0] == '/' ? parent : tmp, out))
		return pr_perror("cannot find the parent images %s", parent);
	return 0;
}

/* The pre-dump chain, followed only as far as pages are marked PE_PARENT:
 * each level's pagemap for this pid, and its own parent_dir. */
static int load_pages(struct rst_tree *t, struct rst_proc *p)
{
	char dir[PATH_MAX], next[PATH_MAX];
	InventoryEntry *inv = NULL;
	const char *parent = t->inv->parent_dir;
	int dirfd = t->dirfd, r;

	snprintf(dir, sizeof(dir), "%s", t->dir);
	p->src = calloc(MAX_PARENT_DEPTH, sizeof(*p->src));
	if (!p->src)
		return -ENOMEM;
	for (;;) {
		struct rst_pages_src *s = &p->src[p->nr_src++];

		r = load_pages_src(dirfd, dir, p->ps->pid, s);
		if (dirfd != t->dirfd)
			close(dirfd);
		if (r < 0 || !has_parent_pages(s))
			break;
		if (!parent || !parent[0]) {
			pr_err("pagemap-%u.img in %s refers to a parent dump, but there is none",
			       p->ps->pid, dir);
			r = -EINVAL;
			break;
		}
		if (p->nr_src == MAX_PARENT_DEPTH) {
			pr_err("%s: pre-dump chain deeper than %d", t->dir, MAX_PARENT_DEPTH);
			r = -ELOOP;
			break;
		}
		r = parent_path(dir, parent, next);
		if (r)
			break;
		memcpy(dir, next, sizeof(dir));
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			r = pr_perror("cannot open the parent images %s", dir);
			break;
		}
		img_free(inv);
		inv = NULL;
		/* Its own parent, if it has one, is in its inventory. */
		if (img_read_one(dirfd, IMG_INVENTORY, 0, false, (void **)&inv) < 0)
			inv = NULL;
		parent = inv ? inv->parent_dir : NULL;
	}
	img_free(inv);
	return r;
}

/* The userfaultfd a --track-mem pre-dump left in the process is criu-lite's
 * own, not the program's: it is not restored. */
static void drop_track_fd(struct rst_proc *p)
{
	size_t k = 0;

	if (!p->ps->has_track_fd || p->ps->track_fd < 0)
		return;
	for (size_t i = 0; i < p->nr_fd; i++) {
		if ((int32_t)p->fd[i]->fd == p->ps->track_fd) {
			img_free(p->fd[i]);
			continue;
		}
		p->fd[k++] = p->fd[i];
	}
	p->nr_fd = k;
}

static int load_proc(struct rst_tree *t, struct rst_proc *p)
{
	int pid = (int)p->ps->pid;
	int r;

	r = img_read_one(t->dirfd, IMG_PROC, pid, true, (void **)&p->pe);
	if (r < 0)
		return r;
	r = read_all(t->dirfd, IMG_THREADS, pid, NULL, NULL, (void ***)&p->th, &p->nr_th);
	if (r < 0)
		return r;
	if (!p->nr_th || p->th[0]->tid != p->ps->pid) {
		pr_err("threads-%d.img: the thread-group leader is not the first thread", pid);
		return -EINVAL;
	}
	r = read_all(t->dirfd, IMG_MM, pid, NULL, NULL, (void ***)&p->vma, &p->nr_vma);
	if (r < 0)
		return r;
	r = load_pages(t, p);
	if (r < 0)
		return r;
	r = read_all(t->dirfd, IMG_FILES, pid, NULL, NULL, (void ***)&p->fd, &p->nr_fd);
	if (r < 0)
		return r;
	drop_track_fd(p);
	p->tids = calloc(p->nr_th, sizeof(*p->tids));
	return p->tids ? 0 : -ENOMEM;
}

int rst_load(struct rst_tree *t)
{
	char dir[PATH_MAX];
	int r;

	if (!realpath(t->opts.dir, dir))
		return pr_perror("cannot open the image directory %s", t->opts.dir);
	t->dir = strdup(dir);
	if (!t->dir)
		return -ENOMEM;
	t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0)
		return pr_perror("cannot open the image directory %s", dir);
	r = img_read_one(t->dirfd, IMG_INVENTORY, 0, false, (void **)&t->inv);
	if (r == -ENOENT) {
		pr_err("%s has no inventory.img: the dump is incomplete (or not a dump); "
		       "refusing to restore", dir);
		return r;
	}
	if (r < 0)
		return r;
	r = load_pstree(t);
	if (r < 0)
		return r;
	r = link_tree(t);
	for (size_t i = 0; !r && i < t->nr_procs; i++)
		r = load_proc(t, &t->procs[i]);
	return r;
}

void rst_free(struct rst_tree *t)
{
	for (size_t i = 0; t->procs && i < t->nr_procs; i++) {
		struct rst_proc *p = &t->procs[i];

		img_free(p->ps);
		img_free(p->pe);
		free_all((void **)p->th, p->nr_th);
		free_all((void **)p->vma, p->nr_vma);
		free_all((void **)p->fd, p->nr_fd);
		for (size_t s = 0; s < p->nr_src; s++) {
			free(p->src[s].path);
			free_all((void **)p->src[s].pm, p->src[s].nr_pm);
		}
		free(p->src);
		free(p->mf);
		free(p->src_mf);
		free(p->attached);
		free(p->tids);
	}
	free(t->procs);
	rst_fds_free(t);
	free(t->shm);
	img_free(t->inv);
	free(t->dir);
	if (t->dirfd > 0)
		close(t->dirfd);
}

struct rst_proc *rst_find_proc(struct rst_tree *t, uint32_t dumped_pid)
{
	for (size_t i = 0; i < t->nr_procs; i++)
		if (t->procs[i].ps->pid == dumped_pid)
			return &t->procs[i];
	return NULL;
}

pid_t rst_real_pid(struct rst_tree *t, uint32_t pid)
{
	struct rst_proc *p = rst_find_proc(t, pid);

	return p ? p->pid : 0;
}
