/* The crash store (see crash_store.h). Publication is a rename of a
 * complete, fsync'ed directory; listing and retention take flock on the
 * store directory so that concurrent writers (server children, pipe
 * handlers) never remove what another is about to list or publish. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "criu-lite/crash/crash_store.h"
#include "images/log.h"

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Root writes anywhere access(2) says; only trying tells a read-only mount
 * or a full disk. */
static int probe_writable(int dirfd)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), ".probe-%d", getpid());
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	unlinkat(dirfd, name, 0);
	return 0;
}

int crash_store_open(const char *path, bool create, struct crash_store *s)
{
	struct stat st;
	int r;

	s->dirfd = -1;
	if (!path || !*path || snprintf(s->path, sizeof(s->path), "%s", path) >= (int)sizeof(s->path)) {
		pr_err("bad crash store path");
		return -EINVAL;
	}
	if (create && (r = mkdir_p(path, 0700)) < 0) {
		pr_err("cannot create the crash store %s: %s", path, strerror(-r));
		return r;
	}
	s->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0)
		return pr_perror("cannot open the crash store %s", path);
	if (fstat(s->dirfd, &st) == 0 && (st.st_mode & 0077) && create)
		pr_warn("crash store %s is readable by others: cores hold process memory", path);
	if (create && (r = probe_writable(s->dirfd)) < 0) {
		pr_err("crash store %s is not writable: %s", path, strerror(-r));
		crash_store_close(s);
		return r;
	}
	return 0;
}

void crash_store_close(struct crash_store *s)
{
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->dirfd = -1;
}

static int store_lock(struct crash_store *s)
{
	int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	return fd;
}

static void store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

int crash_store_remove(struct crash_store *s, const char *name)
{
	int dfd = openat(s->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dfd, de->d_name, 0);
	closedir(d);
	return unlinkat(s->dirfd, name, AT_REMOVEDIR) ? -errno : 0;
}

int crash_tmp_create(struct crash_store *s, struct crash_tmp *t)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	srandom((unsigned int)(ts.tv_nsec ^ getpid()));
	for (int tries = 0; tries < 100; tries++) {
		char sfx[7];

		for (int i = 0; i < 6; i++)
			sfx[i] = chars[random() % (sizeof(chars) - 1)];
		sfx[6] = '\0';
		snprintf(t->name, sizeof(t->name), ".tmp-%d-%s", getpid(), sfx);
		if (!mkdirat(s->dirfd, t->name, 0700))
			break;
		if (errno != EEXIST)
			return pr_perror("cannot create a directory in the crash store %s", s->path);
	}
	t->dirfd = openat(s->dirfd, t->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0) {
		int r = pr_perror("cannot open %s/%s", s->path, t->name);

		unlinkat(s->dirfd, t->name, AT_REMOVEDIR);
		return r;
	}
	return 0;
}

void crash_tmp_discard(struct crash_store *s, struct crash_tmp *t)
{
	if (t->dirfd >= 0)
		close(t->dirfd);
	t->dirfd = -1;
	if (t->name[0])
		crash_store_remove(s, t->name);
	t->name[0] = '\0';
}

static void make_id(const CrashEntry *ce, int n, char *id, size_t len)
{
	time_t sec = (time_t)(ce->time_ns / 1000000000ull);
	struct tm tm;
	char when[32];

	localtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", &tm);
	if (n)
		snprintf(id, len, "%s-%u.%d", when, ce->pid, n);
	else
		snprintf(id, len, "%s-%u", when, ce->pid);
}

int crash_tmp_publish(struct crash_store *s, struct crash_tmp *t, const CrashEntry *ce, char *id,
		      size_t idlen)
{
	struct img *img = img_create(t->dirfd, IMG_CRASH, 0);
	int r, lock, fd;

	if (!img)
		return -errno;
	r = img_write(img, ce);
	if (!r)
		r = img_close(img);
	else
		img_abort(img, t->dirfd);
	if (r)
		return r;
	/* The record and core are fsync'ed by their writers; the directory
	 * entries need it too before the rename makes them visible. */
	fd = openat(t->dirfd, "crash.img", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd))
			r = pr_perror("cannot sync crash.img");
		close(fd);
	}
	if (!r && fsync(t->dirfd))
		r = pr_perror("cannot sync %s", t->name);
	if (r)
		return r;
	lock = store_lock(s);
	for (int n = 0; n < 1000; n++) {
		make_id(ce, n, id, idlen);
		/* RENAME_NOREPLACE: two crashes of one pid in one second. */
		if (!renameat2(s->dirfd, t->name, s->dirfd, id, RENAME_NOREPLACE)) {
			r = 0;
			break;
		}
		r = -errno;
		if (errno != EEXIST && errno != ENOTEMPTY)
			break;
	}
	if (!r) {
		t->name[0] = '\0';
		fsync(s->dirfd);
	} else {
		errno = -r;
		pr_perror("cannot publish the crash in %s", s->path);
	}
	store_unlock(lock);
	return r;
}

/* ".tmp-PID-XXXXXX" whose PID is gone: a writer killed mid-crash. */
void crash_store_sweep(struct crash_store *s)
{
	int dfd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		int pid;

		if (sscanf(de->d_name, ".tmp-%d-", &pid) != 1 || pid <= 0)
			continue;
		if (kill(pid, 0) && errno == ESRCH) {
			pr_info("removing %s/%s, left by a writer that died", s->path, de->d_name);
			crash_store_remove(s, de->d_name);
		}
	}
	closedir(d);
}

static uint64_t dir_disk(int dirfd, const char *name)
{
	int dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	uint64_t total = 0;
	struct dirent *de;
	struct stat st;
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while ((de = readdir(d)))
		if (!fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_blocks * 512;
	closedir(d);
	return total;
}

static int cmp_item(const void *a, const void *b)
{
	const struct crash_item *x = a, *y = b;
	uint64_t tx = x->ce ? x->ce->time_ns : 0, ty = y->ce ? y->ce->time_ns : 0;

	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int list_locked(struct crash_store *s, struct crash_item **items, size_t *nr)
{
	int dfd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct crash_item *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return pr_perror("cannot read the crash store %s", s->path);
	}
	while ((de = readdir(d))) {
		int cfd;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= CRASH_ID_MAX)
			continue;
		cfd = openat(s->dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			continue;
		if (n == cap) {
			struct crash_item *nv = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(*v));

			if (!nv) {
				close(cfd);
				break;
			}
			v = nv;
		}
		memset(&v[n], 0, sizeof(v[n]));
		snprintf(v[n].id, sizeof(v[n].id), "%s", de->d_name);
		if (img_read_one(cfd, IMG_CRASH, 0, false, (void **)&v[n].ce) < 0)
			v[n].ce = NULL;
		close(cfd);
		v[n].disk = dir_disk(s->dirfd, de->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_item);
	*items = v;
	*nr = n;
	return 0;
}

int crash_store_list(struct crash_store *s, struct crash_item **items, size_t *nr)
{
	int lock = store_lock(s), r = list_locked(s, items, nr);

	store_unlock(lock);
	return r;
}

void crash_items_free(struct crash_item *items, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		img_free(items[i].ce);
	free(items);
}

int crash_store_find(struct crash_store *s, const char *what, char *id, size_t idlen)
{
	struct crash_item *v;
	size_t n, hits = 0;
	char *end;
	unsigned long pid = strtoul(what, &end, 10);
	int r = crash_store_list(s, &v, &n), found = -1;

	if (r < 0)
		return r;
	for (size_t i = 0; i < n && found < 0; i++)
		if (!strcmp(v[i].id, what))
			found = (int)i;
	/* A pid: its latest crash (the list is oldest first). */
	for (size_t i = 0; i < n && found < 0 && *what && !*end; i++)
		if (v[n - 1 - i].ce && v[n - 1 - i].ce->pid == pid)
			found = (int)(n - 1 - i);
	for (size_t i = 0; i < n && found < 0 && *what; i++)
		if (!strncmp(v[i].id, what, strlen(what)))
			hits++;
	for (size_t i = 0; i < n && found < 0 && hits == 1; i++)
		if (!strncmp(v[i].id, what, strlen(what)))
			found = (int)i;
	if (found >= 0)
		snprintf(id, idlen, "%s", v[found].id);
	crash_items_free(v, n);
	if (found >= 0)
		return 0;
	if (hits > 1) {
		pr_err("'%s' names %zu crashes in %s: give the whole ID", what, hits, s->path);
		return -EEXIST;
	}
	pr_err("no crash '%s' in %s (see criu-lite crashes)", what, s->path);
	return -ENOENT;
}

int crash_store_retain(struct crash_store *s, uint64_t max_size, uint64_t max_count,
		       const char *keep)
{
	struct crash_item *v;
	uint64_t total = 0, count;
	size_t n;
	int lock = store_lock(s), r;

	r = list_locked(s, &v, &n);
	if (r < 0) {
		store_unlock(lock);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		total += v[i].disk;
	count = n;
	for (size_t i = 0; i < n; i++) {
		if ((!max_count || count <= max_count) && (!max_size || total <= max_size))
			break;
		if (keep && !strcmp(v[i].id, keep))
			continue;
		pr_info("removing crash %s (%llu bytes) to keep the store within its limits", v[i].id,
			(unsigned long long)v[i].disk);
		if (crash_store_remove(s, v[i].id) == 0) {
			total -= v[i].disk;
			count--;
		}
	}
	crash_items_free(v, n);
	store_unlock(lock);
	return 0;
}
