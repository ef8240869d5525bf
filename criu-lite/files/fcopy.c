/* Copies of the files the tree could write, taken while it is frozen.
 *
 * A replay backs these files with private copies; made at replay time they
 * would hold whatever the original wrote since (a database rewritten in
 * place, a MAP_SHARED data file it keeps writing). So the dump copies them
 * inside the freeze, where their bytes agree with the memory dumped, in
 * every mode (plain, --snapshot fork and wp freeze around the same walk).
 *
 * That is downtime: the copies are bounded by --file-copy-limit (default
 * FCOPY_LIMIT_DEFAULT in all: 0.3-0.4 ms a MiB from the page cache here, so
 * 20-27 ms, the order of a --snapshot wp dump's whole freeze), smallest
 * files first, and a file over what is left of it is named and left out. Each file is copied once (dev, ino), opened
 * through the process (/proc/PID/fd/N, /proc/PID/map_files/A-B: the file
 * it holds, even renamed), FICLONE first (free where the filesystem shares
 * extents), else copy_file_range (in the kernel, no pass through us), else
 * sendfile (across filesystems). The copies are raw files of the dump,
 * hashed into inventory.img after the thaw like pages files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "common/file_copy.h"
#include "common/vma.h"
#include "criu-lite/files/fcopy.h"
#include "images/clock.h"
#include "images/image_sum.h"
#include "images/log.h"

static struct fcopy_item *find(struct fcopy_set *s, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].dev == dev && s->v[i].ino == ino)
			return &s->v[i];
	return NULL;
}

static int add(struct fcopy_set *s, pid_t pid, const char *src, const char *path, uint64_t dev,
	       uint64_t ino, bool mapped)
{
	struct fcopy_item *it = find(s, dev, ino);

	if (it) {
		it->mapped_shared |= mapped;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct fcopy_item *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	it = &s->v[s->n];
	memset(it, 0, sizeof(*it));
	fcopy_entry__init(&it->e);
	it->path = strdup(path);
	if (!it->path)
		return -ENOMEM;
	it->pid = pid;
	snprintf(it->src, sizeof(it->src), "%s", src);
	it->dev = dev;
	it->ino = ino;
	it->mapped_shared = mapped;
	s->n++;
	return 0;
}

int fcopy_note_fd(struct fcopy_set *s, pid_t pid, const FdEntry *e)
{
	char src[32];

	if (!s || e->type != FD_TYPE__FD_REG || !e->file || e->file->path[0] != '/' ||
	    e->has_ghost_id || (e->flags & O_ACCMODE) == O_RDONLY || !e->file->has_ino)
		return 0;
	snprintf(src, sizeof(src), "fd/%d", e->fd);
	return add(s, pid, src, e->file->path, e->file->dev, e->file->ino, false);
}

int fcopy_note_maps(struct fcopy_set *s, pid_t pid)
{
	struct vma_list l = { 0 };
	int r = vma_list_read(pid, false, &l);

	for (size_t i = 0; !r && i < l.nr; i++) {
		const struct vma *v = &l.v[i];
		char src[48];

		if (v->kind != VMAK_FILE || !v->shared || v->deleted || v->name[0] != '/')
			continue;
		snprintf(src, sizeof(src), "map_files/%llx-%llx", (unsigned long long)v->start,
			 (unsigned long long)v->end);
		r = add(s, pid, src, v->name, v->dev, v->ino, true);
	}
	vma_list_free(&l);
	return r;
}

/* The file the process holds; by its path (O_NOFOLLOW) where map_files
 * is closed to us (it wants CAP_SYS_ADMIN), then checked to be that file. */
static int open_src(const struct fcopy_item *it, struct stat *st)
{
	char proc[96];
	int fd;

	snprintf(proc, sizeof(proc), "/proc/%d/%s", it->pid, it->src);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && (errno == EPERM || errno == EACCES))
		fd = open(it->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) || st->st_dev != it->dev || st->st_ino != it->ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* FICLONE first: free where the filesystem shares extents. */
static int copy_data(int from, int to, uint64_t len)
{
	if (!ioctl(to, FICLONE, from))
		return 0;
	return file_copy_bytes(from, to, len);
}

static int copy_one(struct fcopy_item *it, int from, uint64_t size, int dirfd, uint32_t nr)
{
	char name[32];
	int to, r;

	img_fcopy_name(nr, name, sizeof(name));
	to = img_create_raw(dirfd, name);
	if (to < 0)
		return to;
	r = copy_data(from, to, size);
	if (r == -ENODATA) {
		pr_warn("%s was cut short while copied: its copy ends in zeroes", it->path);
		r = ftruncate(to, (off_t)size) ? -errno : 0;
	}
	if (close(to) && !r)
		r = -errno;
	if (r) {
		errno = -r;
		r = pr_perror("cannot copy %s into the dump", it->path);
		unlinkat(dirfd, name, 0);
		img_sum_forget(dirfd, name);
		return r;
	}
	it->e.copy = strdup(name);
	return it->e.copy ? 0 : -ENOMEM;
}

static const char *left_out(struct fcopy_item *it, const char *why, int err)
{
	char buf[160];

	if (err)
		snprintf(buf, sizeof(buf), "%s: %s", why, strerror(-err));
	else
		snprintf(buf, sizeof(buf), "%s", why);
	it->e.why_not = strdup(buf);
	return it->e.why_not ? it->e.why_not : why;
}

/* A kernel's file (a /proc or /sys knob open for writing): its bytes are
 * made when read, its size says nothing; no copy would be its content. */
static bool pseudo_fs(int fd)
{
	static const unsigned long kinds[] = { PROC_SUPER_MAGIC, SYSFS_MAGIC, CGROUP_SUPER_MAGIC,
					       CGROUP2_SUPER_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC,
					       SECURITYFS_MAGIC, BPF_FS_MAGIC };
	struct statfs sf;

	if (fstatfs(fd, &sf))
		return false;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((unsigned long)sf.f_type == kinds[i])
			return true;
	return false;
}

/* What the file is now: 1, 0 when it cannot be read (said), -1 when it
 * is no regular file (a device mapped shared, a /proc knob): not listed. */
static int probe(struct fcopy_item *it)
{
	struct stat st;
	int fd = open_src(it, &st);
	bool pseudo;

	it->e.path = it->path;
	it->e.dev = it->dev;
	it->e.ino = it->ino;
	it->e.has_mapped_shared = it->mapped_shared;
	it->e.mapped_shared = it->mapped_shared;
	if (fd < 0) {
		pr_warn("%s not copied: %s; a replay gets its content as of the replay",
			it->path, left_out(it, "cannot be read", fd));
		return 0;
	}
	pseudo = pseudo_fs(fd);
	close(fd);
	if (!S_ISREG(st.st_mode) || pseudo)
		return -1;
	it->e.size = (uint64_t)st.st_size;
	it->e.mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
	it->e.ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000ull + (uint64_t)st.st_ctim.tv_nsec;
	return 1;
}

/* Copied if it fits in what is left of the limit (said if not): 0, or
 * -errno when the dump must fail. */
static int take_one(struct fcopy_set *s, struct fcopy_item *it, int dirfd, uint32_t nr)
{
	struct stat st;
	int from, r;

	if (it->e.size > s->limit - s->copied) {
		left_out(it, "over the limit", 0);
		/* --file-copy-limit 0: asked for, no news. */
		log_printf(s->limit ? LOG_WARN : LOG_INFO,
			   "%s (%llu bytes) not copied: over the limit (--file-copy-limit %llu); "
			   "a replay gets its content as of the replay", it->path,
			   (unsigned long long)it->e.size, (unsigned long long)s->limit);
		return 0;
	}
	from = open_src(it, &st);
	if (from < 0) {
		pr_warn("%s not copied: %s; a replay gets its content as of the replay",
			it->path, left_out(it, "cannot be read", from));
		return 0;
	}
	r = copy_one(it, from, it->e.size, dirfd, nr);
	close(from);
	if (!r)
		s->copied += it->e.size;
	return r;
}

static int by_size(const void *a, const void *b, void *set)
{
	const struct fcopy_item *x = &((struct fcopy_set *)set)->v[*(const size_t *)a];
	const struct fcopy_item *y = &((struct fcopy_set *)set)->v[*(const size_t *)b];

	if (x->e.size != y->e.size)
		return x->e.size < y->e.size ? -1 : 1;
	return (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/* Smallest first: the limit is spent on as many files (logs, small
 * databases) as it holds, and a big one is what is left out. */
int fcopy_take(struct fcopy_set *s, int dirfd)
{
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	size_t *order = calloc(s->n ? s->n : 1, sizeof(*order)), nr = 0;
	int r = order ? 0 : -ENOMEM;

	for (size_t i = 0; !r && i < s->n; i++) {
		int k = probe(&s->v[i]);

		s->v[i].dropped = k < 0;
		if (k > 0)
			order[nr++] = i;
	}
	qsort_r(order, nr, sizeof(*order), by_size, s);
	for (size_t i = 0; !r && i < nr; i++)
		r = take_one(s, &s->v[order[i]], dirfd, (uint32_t)order[i]);
	free(order);
	s->took_ns = clock_ns(CLOCK_MONOTONIC) - t0;
	if (!r && s->copied)
		pr_info("copied the files the tree could write (%llu bytes) in %.3f ms, frozen",
			(unsigned long long)s->copied, s->took_ns / 1e6);
	return r;
}

int fcopy_write(const struct fcopy_set *s, int dirfd)
{
	void **msgs;
	size_t n = 0;
	int r;

	if (!s->n)
		return 0;
	msgs = malloc(s->n * sizeof(*msgs));
	if (!msgs)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (!s->v[i].dropped)
			msgs[n++] = &s->v[i].e;
	r = n ? img_write_entries(dirfd, IMG_FCOPY, 0, msgs, n) : 0;
	free(msgs);
	return r;
}

void fcopy_set_free(struct fcopy_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].e.copy);
		free(s->v[i].e.why_not);
	}
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}
