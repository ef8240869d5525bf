/* Where a CRIU dump's files are: a directory (CRIU's own -D, or an unpacked
 * checkpoint archive with the images under checkpoint/), or the members of
 * a checkpoint archive (archive.c). Readers ask for a file by name and get
 * an fd with a byte range, whichever it is. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/criu/criu.h"
#include "images/criu/criu_read.h"
#include "images/log.h"

/* Metadata files beside checkpoint/ are a few KiB; more is not theirs. */
#define META_MAX (1u << 20)

/* The inventory at dirfd/name starts with CRIU's inventory magic. */
static bool criu_inventory_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	uint32_t magic = 0;
	struct stat st;
	bool yes;

	if (fd < 0)
		return false;
	yes = !fstat(fd, &st) && S_ISREG(st.st_mode) &&
	      pread(fd, &magic, sizeof(magic), 0) == sizeof(magic) &&
	      magic == CIMG_INVENTORY_MAGIC;
	close(fd);
	return yes;
}

int csrc_probe_dir(const char *path)
{
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool yes;

	if (dirfd < 0)
		return 0;
	yes = criu_inventory_at(dirfd, "inventory.img") ||
	      criu_inventory_at(dirfd, "checkpoint/inventory.img");
	close(dirfd);
	return yes;
}

int csrc_probe_archive(const char *path)
{
	static const struct { unsigned off; const char *m; size_t len; } sig[] = {
		{ 0, "\x1f\x8b", 2 },			/* gzip */
		{ 0, "\x28\xb5\x2f\xfd", 4 },		/* zstd */
		{ 0, "\xfd" "7zXZ", 6 },		/* xz */
		{ 0, "BZh", 3 },			/* bzip2 */
		{ 257, "ustar", 5 },			/* tar */
	};
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	uint8_t h[264] = { 0 };
	struct stat st;
	bool yes = false;

	if (fd < 0)
		return 0;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && pread(fd, h, sizeof(h), 0) > 0)
		for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]) && !yes; i++)
			yes = !memcmp(h + sig[i].off, sig[i].m, sig[i].len);
	close(fd);
	return yes;
}

bool criu_is_dump(const char *path)
{
	return csrc_probe_dir(path) || csrc_probe_archive(path);
}

static int read_small(int dirfd, const char *name, char **text, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	ssize_t n;

	*text = NULL;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > META_MAX) {
		close(fd);
		return 0;	/* not metadata we can read: leave it out */
	}
	*text = malloc(st.st_size + 1);
	n = *text ? pread(fd, *text, st.st_size, 0) : -1;
	close(fd);
	if (n < 0) {
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	(*text)[n] = '\0';
	*len = n;
	return 0;
}

/* An unpacked archive: config.dump and spec.dump beside checkpoint/. */
static int dir_meta(struct csrc *s, int topfd)
{
	static const char *const files[] = { "config.dump", "spec.dump" };
	int r = 0;

	for (size_t i = 0; i < 2 && !r; i++) {
		char *text;
		size_t len;

		r = read_small(topfd, files[i], &text, &len);
		if (!r && text)
			r = cmeta_parse(s, files[i], text, len);
		free(text);
	}
	return r;
}

int csrc_open_dir(const char *path, int dirfd, struct csrc **out)
{
	struct csrc *s = calloc(1, sizeof(*s));
	int top = -1, r = 0;

	*out = NULL;
	if (!s || !(s->label = strdup(path))) {
		free(s);
		return -ENOMEM;
	}
	s->fd = -1;
	s->dirfd = dirfd >= 0 ? dirfd : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = pr_perror("cannot open %s", path);
		goto out;
	}
	if (!criu_inventory_at(s->dirfd, "inventory.img") &&
	    criu_inventory_at(s->dirfd, "checkpoint/inventory.img")) {
		top = s->dirfd;
		s->dirfd = openat(top, "checkpoint", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (s->dirfd < 0)
			r = pr_perror("cannot open %s/checkpoint", path);
		else
			r = dir_meta(s, top);
	}
out:
	if (top >= 0)
		close(top);
	if (r < 0)
		csrc_free(s);
	else
		*out = s;
	return r;
}

int csrc_open_archive(const char *path, struct csrc **out)
{
	struct csrc *s = calloc(1, sizeof(*s));
	int r;

	*out = NULL;
	if (!s || !(s->label = strdup(path))) {
		free(s);
		return -ENOMEM;
	}
	s->dirfd = s->fd = -1;
	r = carch_open(path, s);
	if (r < 0) {
		csrc_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void csrc_free(struct csrc *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->fd >= 0)
		close(s->fd);
	for (size_t i = 0; i < s->nr; i++)
		free(s->m[i].name);
	free(s->m);
	cmeta_free(s->meta);
	free(s->label);
	free(s);
}

static int cmp_member(const void *key, const void *m)
{
	return strcmp(key, ((const struct csrc_member *)m)->name);
}

int csrc_get(const struct csrc *s, const char *name, struct cfile *f)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (s->dirfd < 0) {
		const struct csrc_member *m = s->nr ? bsearch(name, s->m, s->nr, sizeof(*s->m),
							      cmp_member) : NULL;

		if (!m)
			return -ENOENT;
		f->fd = s->fd;
		f->off = m->off;
		f->size = m->size;
		return 0;
	}
	/* O_NONBLOCK: a FIFO planted at an image's name must not block the open. */
	f->fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (f->fd < 0)
		return errno == ENOENT ? -ENOENT : pr_perror("%s: cannot open %s", s->label, name);
	f->own = true;
	if (fstat(f->fd, &st) || !S_ISREG(st.st_mode)) {
		cfile_close(f);
		pr_err("%s: %s is not a regular file", s->label, name);
		return -EINVAL;
	}
	f->size = st.st_size;
	return 0;
}

void cfile_close(struct cfile *f)
{
	if (f->own && f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->own = false;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dir_names(const struct csrc *s, char ***names, size_t *n)
{
	int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t cap = 0;
	int r = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return pr_perror("cannot list %s", s->label);
	}
	while (!r && (de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || fstatat(s->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode))
			continue;
		if (*n == cap) {
			char **nn = realloc(*names, (cap = cap ? cap * 2 : 64) * sizeof(*nn));

			if (!nn) {
				r = -ENOMEM;
				break;
			}
			*names = nn;
		}
		if (!((*names)[*n] = strdup(de->d_name)))
			r = -ENOMEM;
		else
			(*n)++;
	}
	closedir(d);
	return r;
}

int csrc_names(const struct csrc *s, char ***names, size_t *n)
{
	int r = 0;

	*names = NULL;
	*n = 0;
	if (s->dirfd >= 0) {
		r = dir_names(s, names, n);
	} else {
		*names = calloc(s->nr ? s->nr : 1, sizeof(**names));
		if (!*names)
			return -ENOMEM;
		for (; *n < s->nr && !r; (*n)++)
			if (!((*names)[*n] = strdup(s->m[*n].name)))
				r = -ENOMEM;
	}
	if (r < 0) {
		csrc_names_free(*names, *n);
		*names = NULL;
		*n = 0;
		return r;
	}
	qsort(*names, *n, sizeof(**names), cmp_names);
	return 0;
}

void csrc_names_free(char **names, size_t n)
{
	while (n)
		free(names[--n]);
	free(names);
}

int csrc_parent(const struct csrc *s, struct csrc **out)
{
	char *label;
	int fd, r;

	*out = NULL;
	if (s->dirfd < 0)
		return 0;	/* an archive carries no pre-dump */
	/* CRIU links "parent" to the pre-dump's directory (--prev-images-dir). */
	fd = openat(s->dirfd, "parent", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : pr_perror("%s: cannot open its parent images", s->label);
	if (asprintf(&label, "%s/parent", s->label) < 0) {
		close(fd);
		return -ENOMEM;
	}
	r = csrc_open_dir(label, fd, out);
	free(label);
	return r;
}
