/* Files that exist only while open: deleted regular files and directories
 * (and the contents of memfds), saved with the dump as ghost-ID.img.
 *
 * Dump: once per file (dev, ino) in the tree, its head (mode, owner, size,
 * mtime) and its data, read through /proc/PID/fd/N (which reopens even a
 * deleted file) one extent at a time between SEEK_DATA and SEEK_HOLE, so
 * that holes are neither read nor stored. A regular file that holds more
 * than --ghost-limit is not saved: its fd records the size, and every check
 * (dump --kill's, restore's) refuses it with the limit in the message.
 *
 * Restore: the file is made again at its old path when that is free (else
 * beside it), with its data, holes, mode, owner and mtime, for the kinds to
 * open; it stays until every process of the tree has opened, mapped or
 * entered it, then is unlinked: the fds see "(deleted)" as before. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/fd/fd.h"
#include "common/fscreds.h"
#include "images/log.h"

#define CHUNK (1u << 20)
#define DELETED " (deleted)"

struct fd_ghost_seen {
	uint64_t dev, ino;
	uint32_t id;		/* 0: over the limit, not saved */
};

/* ---- dump ---- */

static struct fd_ghost_seen *seen(struct fd_dump_tree *t, const struct stat *st)
{
	for (size_t i = 0; i < t->nr_ghosts; i++)
		if (t->ghosts[i].dev == st->st_dev && t->ghosts[i].ino == st->st_ino)
			return &t->ghosts[i];
	return NULL;
}

static struct fd_ghost_seen *seen_add(struct fd_dump_tree *t, const struct stat *st)
{
	if (t->nr_ghosts == t->cap_ghosts) {
		size_t cap = t->cap_ghosts ? t->cap_ghosts * 2 : 8;
		struct fd_ghost_seen *v = realloc(t->ghosts, cap * sizeof(*v));

		if (!v)
			return NULL;
		t->ghosts = v;
		t->cap_ghosts = cap;
	}
	t->ghosts[t->nr_ghosts] = (struct fd_ghost_seen){ st->st_dev, st->st_ino, 0 };
	return &t->ghosts[t->nr_ghosts++];
}

static int write_extent(struct img *img, int fd, uint64_t off, uint64_t end, uint8_t *buf)
{
	while (off < end) {
		GhostEntry ge = GHOST_ENTRY__INIT;
		size_t want = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;	/* shrunk meanwhile (a writer outside the tree) */
		ge.has_off = ge.has_data = true;
		ge.off = off;
		ge.data.data = buf;
		ge.data.len = (size_t)n;
		r = img_write(img, &ge);
		if (r)
			return r;
		off += (uint64_t)n;
	}
	return 0;
}

/* The data, extent by extent. A file system without SEEK_DATA gives it
 * all as one extent. */
static int write_data(struct img *img, int fd, uint64_t size)
{
	uint8_t *buf = malloc(CHUNK);
	off_t off = 0, end;
	int r = buf ? 0 : -ENOMEM;

	while (!r && (uint64_t)off < size) {
		off = lseek(fd, off, SEEK_DATA);
		if (off < 0) {
			r = errno == ENXIO ? 0 : -errno;
			break;
		}
		end = lseek(fd, off, SEEK_HOLE);
		if (end < 0 || (uint64_t)end > size)
			end = (off_t)size;
		r = write_extent(img, fd, (uint64_t)off, (uint64_t)end, buf);
		off = end;
	}
	free(buf);
	return r;
}

static int write_ghost(struct fd_dump *c, const struct fd_desc *d, uint32_t id)
{
	GhostEntry ge = GHOST_ENTRY__INIT;
	GhostFile head = GHOST_FILE__INIT;
	struct img *img;
	char path[64];
	int fd = -1, r;

	if (S_ISREG(d->st.st_mode)) {
		if (d->fd >= 0)
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->pid, d->fd);
		else
			snprintf(path, sizeof(path), "/proc/%d/exe", c->pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? -ENOENT : pr_perror("cannot reopen %s (%s)", path,
								       d->link);
	}
	head.id = id;
	head.mode = d->st.st_mode;
	head.has_uid = head.has_gid = head.has_size = head.has_mtime_ns = true;
	head.has_dev = head.has_ino = true;
	head.uid = d->st.st_uid;
	head.gid = d->st.st_gid;
	head.size = S_ISREG(d->st.st_mode) ? (uint64_t)d->st.st_size : 0;
	head.mtime_ns = (uint64_t)d->st.st_mtim.tv_sec * 1000000000ull + d->st.st_mtim.tv_nsec;
	head.dev = d->st.st_dev;
	head.ino = d->st.st_ino;
	ge.head = &head;
	img = img_create(c->tree->dirfd, IMG_GHOST, (int)id);
	if (!img) {
		r = -errno;
		goto out;
	}
	r = img_write(img, &ge);
	if (!r && fd >= 0)
		r = write_data(img, fd, head.size);
	if (r) {
		pr_err("pid %d fd %d: cannot save the deleted file %s: %s", c->pid, d->fd, d->link,
		       strerror(-r));
		img_abort(img, c->tree->dirfd);
	} else {
		r = img_close(img);
	}
out:
	if (fd >= 0)
		close(fd);
	return r;
}

int fd_dump_ghost(struct fd_dump *c, const struct fd_desc *d, FdEntry *e, bool limited)
{
	struct fd_dump_tree *t = c->tree;
	struct fd_ghost_seen *g = seen(t, &d->st);
	uint64_t held = (uint64_t)d->st.st_blocks * 512;
	int r;

	if (!g) {
		g = seen_add(t, &d->st);
		if (!g)
			return -ENOMEM;
		if (held > (uint64_t)d->st.st_size)
			held = (uint64_t)d->st.st_size;
		if (limited && S_ISREG(d->st.st_mode) && held > t->ghost_limit) {
			pr_warn("pid %d fd %d: %s holds %llu bytes, over --ghost-limit %llu: its "
				"contents are not saved and restore will refuse it", c->pid, d->fd,
				d->link, (unsigned long long)held,
				(unsigned long long)t->ghost_limit);
		} else {
			g->id = ++t->next_ghost_id;
			r = write_ghost(c, d, g->id);
			if (r)
				return r;
		}
	}
	if (g->id) {
		e->has_ghost_id = true;
		e->ghost_id = g->id;
	} else {
		e->has_ghost_size = true;
		e->ghost_size = (uint64_t)d->st.st_size;
	}
	return 0;
}

/* A process run from a memfd (fexecve): the executable is saved as a
 * ghost too, for PR_SET_MM_MAP to have a file to name at the restore. */
int fd_dump_exe(struct fd_dump *c)
{
	struct fd_dump_tree *t = c->tree;
	struct fd_desc *d = calloc(1, sizeof(*d));
	FdEntry e = FD_ENTRY__INIT;
	char path[64];
	ssize_t n;
	int r = 0;

	if (!d)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/exe", c->pid);
	n = readlink(path, d->link, sizeof(d->link) - 1);
	d->fd = -1;
	if (n > 0)
		d->link[n] = 0;
	if (n > 0 && !strncmp(d->link, "/memfd:", 7) && !stat(path, &d->st))
		r = fd_dump_ghost(c, d, &e, false);
	if (!r && e.has_ghost_id) {
		struct fd_ghost_seen *v = realloc(t->exes, (t->nr_exes + 1) * sizeof(*v));

		if (!v) {
			r = -ENOMEM;
		} else {
			t->exes = v;
			t->exes[t->nr_exes++] = (struct fd_ghost_seen){ (uint64_t)c->pid, 0, e.ghost_id };
		}
	}
	free(d);
	return r;
}

uint32_t fd_dump_tree_exe(const struct fd_dump_tree *t, pid_t pid)
{
	for (size_t i = 0; t && i < t->nr_exes; i++)
		if (t->exes[i].dev == (uint64_t)pid)
			return t->exes[i].id;
	return 0;
}

/* ---- restore ---- */

bool fd_link_deleted(const char *link)
{
	size_t n = link ? strlen(link) : 0, k = strlen(DELETED);

	return n > k && !strcmp(link + n - k, DELETED);
}

static struct fd_rst_ghost *ghost_new(struct fd_rst *r)
{
	struct fd_rst_ghost *v = realloc(r->ghosts, (r->nr_ghosts + 1) * sizeof(*v));

	if (!v)
		return NULL;
	r->ghosts = v;
	v = &r->ghosts[r->nr_ghosts];
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	return v;
}

/* mkdir -p of path's parents, each one made remembered to go again. */
static int make_parents(struct fd_rst_ghost *g, const char *path)
{
	char buf[PATH_MAX];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
		char **v;

		*s = '\0';
		if (mkdir(buf, 0755) < 0) {
			*s = '/';
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		v = realloc(g->made, (g->nr_made + 1) * sizeof(*v));
		if (v)
			g->made = v;
		if (!v || !(v[g->nr_made] = strdup(buf))) {
			rmdir(buf);
			return -ENOMEM;
		}
		g->nr_made++;
		*s = '/';
	}
	return 0;
}

static int make_one(const char *path, mode_t mode)
{
	if (S_ISDIR(mode))
		return mkdir(path, mode & 07777) ? -1 : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (S_ISFIFO(mode))
		return mkfifo(path, mode & 07777) ? -1 : open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
}

/* Where the file goes: its old path, or beside it when that is taken. */
static int ghost_place(struct fd_rst_ghost *g, const char *link, uint32_t id, mode_t mode)
{
	size_t n = strlen(link) - strlen(DELETED);
	char path[PATH_MAX];
	int fd = -1, r;

	if (n >= sizeof(path) - 40)
		return -ENAMETOOLONG;
	memcpy(path, link, n);
	path[n] = '\0';
	r = make_parents(g, path);
	for (int i = 0; !r && i < 2; i++) {
		if (i)
			snprintf(path + n, sizeof(path) - n, ".criu-lite-ghost.%u.%d", id, getpid());
		fd = make_one(path, mode);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (!r && fd < 0)
		r = -errno;
	if (!r && !(g->path = strdup(path))) {
		close(fd);
		r = -ENOMEM;
	}
	g->dir = S_ISDIR(mode);
	return r ? r : fd;
}

/* hugetlbfs has no write(): the data goes in through a mapping, sized
 * first (to whole huge pages, as the kernel wants). */
static int fill_mapped(int fd, void **v, size_t n, const GhostFile *h)
{
	struct stat st;
	uint8_t *m;

	if (!h->has_size || !h->size)
		return 0;
	if (ftruncate(fd, (off_t)h->size) || fstat(fd, &st))
		return -errno;
	m = mmap(NULL, h->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	for (size_t i = 1; i < n; i++) {
		const GhostEntry *ge = v[i];

		if (ge->has_data && ge->off <= h->size && ge->data.len <= h->size - ge->off)
			memcpy(m + ge->off, ge->data.data, ge->data.len);
	}
	munmap(m, h->size);
	return 0;
}

static int fill(int fd, void **v, size_t n, const GhostFile *h)
{
	for (size_t i = 1; i < n; i++) {
		const GhostEntry *ge = v[i];
		size_t off = 0;

		while (ge->has_data && off < ge->data.len) {
			ssize_t w = pwrite(fd, ge->data.data + off, ge->data.len - off,
					   (off_t)(ge->off + off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w < 0 ? -errno : -EIO;
			off += (size_t)w;
		}
	}
	return h->has_size && ftruncate(fd, (off_t)h->size) ? -errno : 0;
}

static void set_attrs(int fd, const GhostFile *h)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT },
				  { (time_t)(h->mtime_ns / 1000000000ull),
				    (long)(h->mtime_ns % 1000000000ull) } };

	/* Best effort, as root always works: only what stat shows differs. */
	if (h->has_uid && fchown(fd, h->uid, h->gid))
		return;
	fchmod(fd, h->mode & 07777);
	if (h->has_mtime_ns)
		futimens(fd, ts);
}

static int load(const struct fd_rst *r, uint32_t id, void ***v, size_t *n, char *why, size_t len)
{
	const struct fscreds *prev;
	int rc;

	/* An image: criu-lite's to read, whoever the file is made as. */
	fscreds_enter(NULL, &prev);
	rc = img_read_all(r->dirfd, IMG_GHOST, (int)id, false, NULL, v, n);
	fscreds_leave(prev);

	if (rc == -ENOENT)
		return fd_rst_fail(why, len, ENOENT, "ghost-%u.img, the deleted file's contents, "
				   "is missing", id);
	if (rc < 0)
		return fd_rst_fail(why, len, -rc, "ghost-%u.img cannot be read: %s", id,
				   strerror(-rc));
	if (!*n || !((GhostEntry *)(*v)[0])->head || ((GhostEntry *)(*v)[0])->head->id != id) {
		img_free_all(*v, *n);
		return fd_rst_fail(why, len, EINVAL, "ghost-%u.img has no head", id);
	}
	return 0;
}

int fd_rst_ghost_fill(const struct fd_rst *r, uint32_t id, int fd, bool mapped, char *why,
		      size_t len)
{
	void **v;
	size_t n;
	int rc = load(r, id, &v, &n, why, len);

	if (rc)
		return rc;
	rc = (mapped ? fill_mapped : fill)(fd, v, n, ((GhostEntry *)v[0])->head);
	img_free_all(v, n);
	return rc ? fd_rst_fail(why, len, -rc, "cannot write ghost-%u.img's data back: %s", id,
				strerror(-rc)) : 0;
}

const char *fd_rst_ghost_path(struct fd_rst *r, uint32_t id, const char *link, mode_t mode,
			      char *why, size_t len)
{
	struct fd_rst_ghost *g;
	const GhostFile *h;
	void **v;
	size_t n;
	int fd, rc;

	for (size_t i = 0; i < r->nr_ghosts; i++)
		if (r->ghosts[i].id == id && (id || !strcmp(r->ghosts[i].link, link)))
			return r->ghosts[i].path;
	if (!fd_link_deleted(link)) {
		fd_rst_fail(why, len, EINVAL, "%s is not a deleted file", link);
		return NULL;
	}
	if (!(g = ghost_new(r)) || (id && load(r, id, &v, &n, why, len)))
		return NULL;
	h = id ? ((GhostEntry *)v[0])->head : NULL;
	g->id = id;
	g->as = fscreds_current();
	g->link = strdup(link);
	fd = g->link ? ghost_place(g, link, id, h ? h->mode : mode) : -ENOMEM;
	r->nr_ghosts++;	/* from here on removed with the others, made or not */
	rc = fd < 0 ? fd : h && S_ISREG(h->mode) ? fill(fd, v, n, h) : 0;
	if (fd >= 0 && h)
		set_attrs(fd, h);
	if (fd >= 0)
		close(fd);
	if (id)
		img_free_all(v, n);
	if (rc) {
		fd_rst_fail(why, len, -rc, "cannot recreate the deleted %s: %s", link,
			    strerror(-rc));
		return NULL;
	}
	return g->path;
}

const char *fd_rst_ghost_memfd(struct fd_rst *r, uint32_t id, const char *link, char *why,
			       size_t len)
{
	const char *name = strncmp(link, "/memfd:", 7) ? link : link + 7;
	size_t n = strcspn(name, " ");
	struct fd_rst_ghost *g;
	char buf[256], path[64];
	int fd, rc;

	for (size_t i = 0; i < r->nr_ghosts; i++)
		if (r->ghosts[i].id == id && r->ghosts[i].fd >= 0)
			return r->ghosts[i].path;
	snprintf(buf, sizeof(buf), "%.*s", (int)n, name);
	/* MFD_EXEC: executable whatever vm.memfd_noexec says (6.3 on). */
	fd = memfd_create(buf, MFD_CLOEXEC | 0x10U);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(buf, MFD_CLOEXEC);
	if (fd < 0) {
		fd_rst_fail(why, len, errno, "memfd_create(%s): %s", buf, strerror(errno));
		return NULL;
	}
	rc = fd_rst_ghost_fill(r, id, fd, false, why, len);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), fd);
	g = rc ? NULL : ghost_new(r);
	if (g && (g->path = strdup(path)) && (g->link = strdup(link))) {
		g->id = id;
		g->fd = fd;
		r->nr_ghosts++;
		return g->path;
	}
	if (g) {
		free(g->path);
		free(g->link);
	}
	close(fd);
	if (!rc)
		fd_rst_fail(why, len, ENOMEM, "out of memory");
	return NULL;
}

void fd_rst_ghosts_remove(struct fd_rst *r)
{
	for (size_t i = 0; i < r->nr_ghosts; i++) {
		struct fd_rst_ghost *g = &r->ghosts[i];
		const struct fscreds *prev;
		/* As it was made: its directories are the images' word, and
		 * may have been swapped for a link to where root should not
		 * remove anything. */
		bool as = !fscreds_enter(g->as, &prev);

		if (g->fd >= 0) {
			close(g->fd);
			g->fd = -1;
		} else if (g->path && (!as || (g->dir ? rmdir(g->path) : unlink(g->path))) &&
			   (!as || errno != ENOENT))
			pr_warn("cannot remove %s, made for the restore: %s", g->path,
				as ? strerror(errno) : "cannot take its maker's credentials");
		for (size_t k = g->nr_made; k-- > 0; ) {
			if (as)
				rmdir(g->made[k]);
			free(g->made[k]);
		}
		if (as)
			fscreds_leave(prev);
		free(g->made);
		free(g->path);
		free(g->link);
	}
	free(r->ghosts);
	r->ghosts = NULL;
	r->nr_ghosts = 0;
}
