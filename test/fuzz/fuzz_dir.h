/* Shared by the fuzz targets: a scratch directory, and a fuzz input turned
 * into a whole dump directory.
 *
 * Directory inputs are a dump directory serialized as a sequence of files,
 * each introduced by a line "\n@@file NAME\n" or "\n@@file NAME SIZE\n"
 * followed by its bytes up to the next such line (scripts/fuzz.sh pack DIR
 * writes one). With SIZE the file is extended with zeros (sparse) to SIZE
 * bytes, at most FUZZ_MAX_SIZE: a seed keeps the head of a big pages file and
 * its real length, so offsets in the pagemap still point inside it. Names are
 * limited to what a dump directory holds ([a-z0-9._-], no leading dot), so a
 * mutated name can never leave the scratch directory. */
#ifndef FUZZ_DIR_H
#define FUZZ_DIR_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/log.h"

#define FUZZ_SEP "\n@@file "
#define FUZZ_MAX_SIZE (64u << 20)

struct fuzz_dir {
	char path[256];
	int fd;
};

static inline void fuzz_dir_cleanup_path(const char *path)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	(void)!system(cmd);
}

static struct fuzz_dir *fuzz_dirs[4];

static inline void fuzz_dir_atexit(void)
{
	for (int i = 0; i < 4; i++)
		if (fuzz_dirs[i])
			fuzz_dir_cleanup_path(fuzz_dirs[i]->path);
}

/* Once per process: a private directory under $TMPDIR, removed at exit.
 * Errors are what the fuzzer feeds in, so the log stays silent. */
static inline void fuzz_dir_init(struct fuzz_dir *d, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	log_set_level(0);
	snprintf(d->path, sizeof(d->path), "%s/criu-lite-%s-XXXXXX", tmp ? tmp : "/tmp", tag);
	if (!mkdtemp(d->path) || (d->fd = open(d->path, O_RDONLY | O_DIRECTORY)) < 0) {
		perror("fuzz: temp dir");
		abort();
	}
	for (int i = 0; i < 4; i++)
		if (!fuzz_dirs[i]) {
			if (!i)
				atexit(fuzz_dir_atexit);
			fuzz_dirs[i] = d;
			break;
		}
}

static inline void fuzz_put_file(int dirfd, const char *name, const uint8_t *data, size_t size)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		abort();
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0)
			abort();
		off += n;
	}
	close(fd);
}

static inline void fuzz_extend(int dirfd, const char *name, off_t size)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || ftruncate(fd, size))
		abort();
	close(fd);
}

/* Remove every file of the scratch directory (it holds no subdirectories). */
static inline void fuzz_dir_empty(struct fuzz_dir *d)
{
	int fd = dup(d->fd);
	struct dirent *de;
	DIR *dir;

	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0 || !(dir = fdopendir(fd)))
		abort();
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			unlinkat(d->fd, de->d_name, 0);
	closedir(dir);
}

static inline int fuzz_name_ok(const char *name, size_t len)
{
	if (!len || len > 64 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_'))
			return 0;
	}
	return 1;
}

/* Write the files of `data` into the (emptied) scratch directory; returns
 * how many were written. Bytes before the first separator are ignored. */
static inline int fuzz_dir_unpack(struct fuzz_dir *d, const uint8_t *data, size_t size)
{
	const size_t sl = sizeof(FUZZ_SEP) - 1;
	const uint8_t *p = memmem(data, size, FUZZ_SEP, sl), *end = data + size;
	int n = 0;

	fuzz_dir_empty(d);
	while (p) {
		const uint8_t *name = p + sl, *nl, *body, *next;
		char fname[65];

		const uint8_t *sp;
		size_t nlen, len;

		nl = memchr(name, '\n', end - name);
		if (!nl)
			break;
		body = nl + 1;
		next = memmem(body, end - body, FUZZ_SEP, sl);
		len = (next ? next : end) - body;
		sp = memchr(name, ' ', nl - name);
		nlen = (sp ? sp : nl) - name;
		if (fuzz_name_ok((const char *)name, nlen)) {
			memcpy(fname, name, nlen);
			fname[nlen] = '\0';
			fuzz_put_file(d->fd, fname, body, len);
			if (sp) {
				unsigned long long size = strtoull((const char *)sp + 1, NULL, 10);

				if (size > len && size <= FUZZ_MAX_SIZE)
					fuzz_extend(d->fd, fname, size);
			}
			n++;
		}
		p = next;
	}
	return n;
}

#endif
