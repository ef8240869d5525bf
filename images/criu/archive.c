/* A checkpoint archive, as kubelet, CRI-O and Podman write it: a tar
 * (maybe gzip-, zstd-, xz- or bzip2-compressed) holding checkpoint/ (the
 * CRIU images), config.dump and spec.dump (the container), status.dump,
 * stats-dump, rootfs-diff.tar... libarchive reads the tar; nothing of it
 * is ever written to the filesystem.
 *
 * An uncompressed tar is read in place: each member of checkpoint/ is a
 * byte range of the tar file itself, so the pages are copied straight from
 * it (copy_file_range) as from a directory. A compressed one has no such
 * ranges: its checkpoint/ members are unpacked once into a memfd, each at a
 * page-aligned offset, and read from there. A member of a plain tar
 * starts on a 512-byte boundary only: its runs are page-aligned from the
 * member's start (dr_pages.pages_base), and restore, which maps the pages,
 * maps from the page boundary below.
 *
 * An archive with a member named by an absolute path or with a ".."
 * component is refused whole: whatever wrote it did not mean well, and
 * another tool extracting it would write outside its directory. So are
 * two members of one name (which of them is the dump?). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "images/criu/criu.h"
#include "images/lazy_lib.h"
#include "images/log.h"

/* libarchive, loaded by the first archive opened (images/lazy_lib.h). */
static struct {
	LAZY_FN(archive_entry_filetype);
	LAZY_FN(archive_entry_hardlink);
	LAZY_FN(archive_entry_pathname);
	LAZY_FN(archive_entry_size);
	LAZY_FN(archive_entry_sparse_count);
	LAZY_FN(archive_error_string);
	LAZY_FN(archive_filter_bytes);
	LAZY_FN(archive_filter_code);
	LAZY_FN(archive_read_data);
	LAZY_FN(archive_read_data_block);
	LAZY_FN(archive_read_free);
	LAZY_FN(archive_read_new);
	LAZY_FN(archive_read_next_header);
	LAZY_FN(archive_read_open_fd);
	LAZY_FN(archive_read_support_filter_bzip2);
	LAZY_FN(archive_read_support_filter_gzip);
	LAZY_FN(archive_read_support_filter_xz);
	LAZY_FN(archive_read_support_filter_zstd);
	LAZY_FN(archive_read_support_format_tar);
} lib;

static const struct lazy_sym lib_syms[] = {
	LAZY_SYM(lib, archive_entry_filetype),
	LAZY_SYM(lib, archive_entry_hardlink),
	LAZY_SYM(lib, archive_entry_pathname),
	LAZY_SYM(lib, archive_entry_size),
	LAZY_SYM(lib, archive_entry_sparse_count),
	LAZY_SYM(lib, archive_error_string),
	LAZY_SYM(lib, archive_filter_bytes),
	LAZY_SYM(lib, archive_filter_code),
	LAZY_SYM(lib, archive_read_data),
	LAZY_SYM(lib, archive_read_data_block),
	LAZY_SYM(lib, archive_read_free),
	LAZY_SYM(lib, archive_read_new),
	LAZY_SYM(lib, archive_read_next_header),
	LAZY_SYM(lib, archive_read_open_fd),
	LAZY_SYM(lib, archive_read_support_filter_bzip2),
	LAZY_SYM(lib, archive_read_support_filter_gzip),
	LAZY_SYM(lib, archive_read_support_filter_xz),
	LAZY_SYM(lib, archive_read_support_filter_zstd),
	LAZY_SYM(lib, archive_read_support_format_tar),
};

static struct lazy_lib libarchive = {
	"libarchive.so.13", "to read a checkpoint archive", lib_syms,
	sizeof(lib_syms) / sizeof(lib_syms[0]), 0,
};

#define META_MAX (1u << 20)
#define PAGE_ALIGN(x) (((x) + 4095) & ~(uint64_t)4095)

struct arch {
	struct archive *a;
	struct csrc *s;
	const char *path;
	uint64_t file_size;
	uint64_t mem_end;	/* memfd: where the next member goes */
	size_t cap;
};

/* A name that would escape the directory it is extracted into. */
static bool evil_name(const char *name)
{
	const char *p = name;

	if (*name == '/')
		return true;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += n;
		p += *p == '/';
	}
	return false;
}

static int add_member(struct arch *ar, const char *name, uint64_t off, uint64_t size)
{
	struct csrc *s = ar->s;

	for (size_t i = 0; i < s->nr; i++) {
		if (!strcmp(s->m[i].name, name)) {
			pr_err("%s: checkpoint/%s is in the archive twice", ar->path, name);
			return -EINVAL;
		}
	}
	if (s->nr == ar->cap) {
		size_t cap = ar->cap ? ar->cap * 2 : 64;
		struct csrc_member *m = realloc(s->m, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		s->m = m;
		ar->cap = cap;
	}
	s->m[s->nr].name = strdup(name);
	if (!s->m[s->nr].name)
		return -ENOMEM;
	s->m[s->nr].off = off;
	s->m[s->nr].size = size;
	s->nr++;
	return 0;
}

static int arch_err(struct arch *ar, const char *what)
{
	const char *why = lib.archive_error_string(ar->a);

	pr_err("%s: %s: %s", ar->path, what, why ? why : "not a readable archive");
	return -EINVAL;
}

/* A compressed member: unpacked into the memfd at a page boundary. */
static int unpack_member(struct arch *ar, const char *name, uint64_t size)
{
	uint64_t base = ar->mem_end, got = 0;
	const void *buf;
	size_t len;
	la_int64_t at;
	int r;

	if (ftruncate(ar->s->fd, PAGE_ALIGN(base + size)))
		return pr_perror("%s: cannot unpack checkpoint/%s", ar->path, name);
	while ((r = lib.archive_read_data_block(ar->a, &buf, &len, &at)) == ARCHIVE_OK) {
		if (at < 0 || (uint64_t)at + len > size) {
			pr_err("%s: checkpoint/%s holds more than its %llu bytes", ar->path, name,
			       (unsigned long long)size);
			return -EINVAL;
		}
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(ar->s->fd, (const char *)buf + done, len - done,
					   base + at + done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return pr_perror("%s: cannot unpack checkpoint/%s", ar->path, name);
			done += n;
		}
		got += len;
	}
	if (r != ARCHIVE_EOF)
		return arch_err(ar, "truncated or corrupt");
	if (got != size) {
		pr_err("%s: checkpoint/%s is truncated", ar->path, name);
		return -EIO;
	}
	ar->mem_end = PAGE_ALIGN(base + size);
	return add_member(ar, name, base, size);
}

/* config.dump, spec.dump: small JSON documents, kept for show. */
static int read_meta(struct arch *ar, const char *name, uint64_t size)
{
	char *text;
	la_ssize_t n;
	int r;

	if (size > META_MAX)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return -ENOMEM;
	n = lib.archive_read_data(ar->a, text, size);
	if (n != (la_ssize_t)size) {
		free(text);
		return arch_err(ar, "truncated or corrupt");
	}
	text[size] = '\0';
	r = cmeta_parse(ar->s, name, text, size);
	free(text);
	return r;
}

/* One member of checkpoint/: where its bytes are. In place, the format
 * reader has consumed the header(s) when it returns the entry, so the
 * bytes it has consumed so far are the offset of the data. */
static int checkpoint_member(struct arch *ar, struct archive_entry *e, const char *name)
{
	uint64_t size = lib.archive_entry_size(e);
	int64_t off;

	if (!ar->s->in_place)
		return unpack_member(ar, name, size);
	if (lib.archive_entry_sparse_count(e) > 0) {
		pr_err("%s: checkpoint/%s is stored sparse; unpack the archive first", ar->path,
		       name);
		return -EINVAL;
	}
	off = lib.archive_filter_bytes(ar->a, 0);
	if (off < 0 || (uint64_t)off > ar->file_size || size > ar->file_size - off) {
		pr_err("%s: checkpoint/%s runs past the end of the archive", ar->path, name);
		return -EIO;
	}
	return add_member(ar, name, off, size);
}

static const char *strip_dot(const char *name)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	return name;
}

static int one_entry(struct arch *ar, struct archive_entry *e)
{
	const char *raw = lib.archive_entry_pathname(e), *name;
	const char *link = lib.archive_entry_hardlink(e);

	if (!raw || evil_name(raw) || (link && evil_name(link))) {
		pr_err("%s: member '%s' is named outside the archive (absolute or ..): refused",
		       ar->path, raw ? raw : link ? link : "");
		return -EINVAL;
	}
	name = strip_dot(raw);
	if (lib.archive_entry_filetype(e) != AE_IFREG)
		return 0;
	if (!strncmp(name, "checkpoint/", 11) && name[11] && !strchr(name + 11, '/'))
		return checkpoint_member(ar, e, name + 11);
	if (!strcmp(name, "config.dump") || !strcmp(name, "spec.dump"))
		return read_meta(ar, name, lib.archive_entry_size(e));
	return 0;
}

static int scan(struct arch *ar)
{
	struct archive_entry *e;
	int r;

	while ((r = lib.archive_read_next_header(ar->a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		r = one_entry(ar, e);
		if (r < 0)
			return r;
	}
	if (r != ARCHIVE_EOF)
		return arch_err(ar, "truncated or corrupt");
	return 0;
}

static int cmp_member(const void *a, const void *b)
{
	return strcmp(((const struct csrc_member *)a)->name, ((const struct csrc_member *)b)->name);
}

static int open_reader(struct arch *ar, int fd)
{
	ar->a = lib.archive_read_new();
	if (!ar->a)
		return -ENOMEM;
	lib.archive_read_support_filter_gzip(ar->a);
	lib.archive_read_support_filter_zstd(ar->a);
	lib.archive_read_support_filter_xz(ar->a);
	lib.archive_read_support_filter_bzip2(ar->a);
	lib.archive_read_support_format_tar(ar->a);
	if (lib.archive_read_open_fd(ar->a, fd, 1 << 16) != ARCHIVE_OK)
		return arch_err(ar, "not a tar archive");
	return 0;
}

/* The first header decides: no filter means a plain tar, read in place. */
static int first_header(struct arch *ar, struct archive_entry **e)
{
	int r = lib.archive_read_next_header(ar->a, e);

	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return r == ARCHIVE_EOF ? 0 : arch_err(ar, "not a tar archive");
	ar->s->in_place = lib.archive_filter_code(ar->a, 0) == ARCHIVE_FILTER_NONE;
	if (!ar->s->in_place) {
		ar->s->fd = memfd_create("criu-lite-checkpoint", MFD_CLOEXEC);
		if (ar->s->fd < 0)
			return pr_perror("%s: cannot unpack it", ar->path);
	}
	return 1;
}

static int read_archive(struct arch *ar, int fd)
{
	struct archive_entry *e;
	int r = open_reader(ar, fd);

	if (!r)
		r = first_header(ar, &e);
	if (r > 0) {
		r = one_entry(ar, e);
		if (!r)
			r = scan(ar);
	}
	if (ar->a)
		lib.archive_read_free(ar->a);
	ar->a = NULL;
	return r;
}

int carch_open(const char *path, struct csrc *s)
{
	struct arch ar = { .s = s, .path = path };
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return pr_perror("cannot open %s", path);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		pr_err("%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	ar.file_size = st.st_size;
	r = lazy_lib_load(&libarchive);
	if (!r)
		r = read_archive(&ar, fd);
	if (r >= 0)
		pr_debug("%s: %s", path, s->in_place ? "read in place" : "unpacked into memory");
	if (s->in_place && r >= 0)
		s->fd = fd;
	else
		close(fd);
	if (r < 0)
		return r;
	if (s->nr)
		qsort(s->m, s->nr, sizeof(*s->m), cmp_member);
	if (!s->nr || !bsearch(&(struct csrc_member){ .name = "inventory.img" }, s->m, s->nr,
			       sizeof(*s->m), cmp_member)) {
		pr_err("%s: not a checkpoint archive (no checkpoint/inventory.img)", path);
		return -EINVAL;
	}
	return 0;
}
