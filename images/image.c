#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/arena.h"
#include "images/image.h"
#include "images/image_sum.h"
#include "images/log.h"

struct img_desc {
	const char *name;	/* file name, with %d for the pid when per_pid */
	bool per_pid;
	uint32_t magic;
	const ProtobufCMessageDescriptor *desc;
};

/* The one table of image kinds. Magics are arbitrary but distinct so that a
 * file renamed to the wrong kind is refused rather than misparsed. */
static const struct img_desc img_table[IMG_KIND_COUNT] = {
	[IMG_INVENTORY] = { "inventory.img", false, 0x434c0001, &inventory_entry__descriptor },
	[IMG_PSTREE]    = { "pstree.img", false, 0x434c0002, &pstree_entry__descriptor },
	[IMG_STATS]     = { "stats.img", false, 0x434c0003, &stats_entry__descriptor },
	[IMG_PROC]      = { "proc-%d.img", true, 0x434c0004, &proc_entry__descriptor },
	[IMG_THREADS]   = { "threads-%d.img", true, 0x434c0005, &thread_entry__descriptor },
	[IMG_MM]        = { "mm-%d.img", true, 0x434c0006, &vma_entry__descriptor },
	[IMG_PAGEMAP]   = { "pagemap-%d.img", true, 0x434c0007, &pagemap_entry__descriptor },
	[IMG_FILES]     = { "files-%d.img", true, 0x434c0008, &fd_entry__descriptor },
	[IMG_CRASH]     = { "crash.img", false, 0x434c00c1, &crash_entry__descriptor },
	[IMG_GHOST]     = { "ghost-%d.img", true, 0x434c0020, &ghost_entry__descriptor },
	[IMG_FCOPY]     = { "fcopy.img", false, 0x434c0050, &fcopy_entry__descriptor },
};

#define IMG_BUF_SIZE (64 * 1024)

/* Where a length would be, inventory.img has this, then the XXH3-64 of the
 * bytes before it (image_sum.h). Over IMG_MAX_ENTRY, and still so with any
 * one bit flipped: never taken for a length. */
#define IMG_SEAL 0x5345414cu

struct img {
	enum img_kind kind;
	int fd;
	int err;		/* first write error, -errno */
	int dirfd;		/* writing: where the image is, for its note */
	struct img_hash h;	/* of every byte written, or read so far */
	int64_t entries;
	bool sealed;		/* reading: a good seal ended the file */
	const ImageSum *expect;	/* reading: what the end must match, or NULL */
	struct arena *arena;	/* reading: where entries are unpacked (NULL: the heap) */
	char name[64];
	size_t len, pos;	/* buffer fill and read position */
	unsigned char buf[IMG_BUF_SIZE];
};

int img_name(enum img_kind kind, int pid, char *buf, size_t len)
{
	const struct img_desc *d = &img_table[kind];
	int n;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	n = d->per_pid ? snprintf(buf, len, d->name, pid) : snprintf(buf, len, "%s", d->name);
#pragma GCC diagnostic pop
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const ProtobufCMessageDescriptor *img_descriptor(enum img_kind kind)
{
	return img_table[kind].desc;
}

uint32_t img_magic(enum img_kind kind)
{
	return img_table[kind].magic;
}

int img_fcopy_name(uint32_t n, char *buf, size_t len)
{
	int k = snprintf(buf, len, "fcopy-%u.data", n);

	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

bool img_is_fcopy_data(const char *name)
{
	size_t n = strlen(name);

	return n > 11 && !strncmp(name, "fcopy-", 6) && !strcmp(name + n - 5, ".data") &&
	       strspn(name + 6, "0123456789") == n - 11;
}

int img_kind_from_name(const char *name, int *pid)
{
	for (int k = 0; k < IMG_KIND_COUNT; k++) {
		const char *fmt = img_table[k].name;
		const char *pct = strchr(fmt, '%');
		char *end;
		long v;

		if (!img_table[k].per_pid) {
			if (!strcmp(name, fmt))
				return *pid = 0, k;
			continue;
		}
		if (strncmp(name, fmt, pct - fmt))
			continue;
		/* Only the spelling img_name() writes: plain digits, no sign, space or
		 * leading zero, within an int; else the pid would name another file. */
		if (name[pct - fmt] < '1' || name[pct - fmt] > '9')
			continue;
		errno = 0;
		v = strtol(name + (pct - fmt), &end, 10);
		if (errno || v > INT_MAX || strcmp(end, pct + 2))
			continue;
		*pid = (int)v;
		return k;
	}
	return -1;
}

static int create_file(int dirfd, const char *name)
{
	int fd;

	if (unlinkat(dirfd, name, 0) && errno != ENOENT)
		return pr_perror("cannot remove old %s", name);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return pr_perror("cannot create image %s", name);
	return fd;
}

int img_create_raw(int dirfd, const char *name)
{
	int fd = create_file(dirfd, name);

	if (fd >= 0)
		img_sum_note_raw(dirfd, name);
	return fd;
}

static struct img *img_alloc(enum img_kind kind, int fd, const char *name)
{
	struct img *img = malloc(sizeof(*img));

	if (!img)
		return NULL;
	img->kind = kind;
	img->fd = fd;
	img->err = 0;
	img->dirfd = -1;
	img->h = (struct img_hash){ 0 };
	img->entries = 0;
	img->sealed = false;
	img->expect = NULL;
	img->arena = NULL;
	img->len = img->pos = 0;
	snprintf(img->name, sizeof(img->name), "%s", name);
	return img;
}

int img_write_all(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p = (const char *)p + n;
		len -= n;
	}
	return 0;
}

static int img_flush(struct img *img)
{
	int r;

	if (img->err || !img->len)
		return img->err;
	r = img_write_all(img->fd, img->buf, img->len);
	img->len = 0;
	if (r < 0) {
		errno = -r;
		img->err = pr_perror("cannot write %s", img->name);
	}
	return img->err;
}

static int img_put(struct img *img, const void *p, size_t len)
{
	img_hash_update(&img->h, p, len);
	while (len && !img->err) {
		size_t room = sizeof(img->buf) - img->len;
		size_t n = len < room ? len : room;

		memcpy(img->buf + img->len, p, n);
		img->len += n;
		p = (const char *)p + n;
		len -= n;
		if (img->len == sizeof(img->buf))
			img_flush(img);
	}
	return img->err;
}

struct img *img_create(int dirfd, enum img_kind kind, int pid)
{
	char name[64];
	struct img *img;
	int fd;

	if (img_name(kind, pid, name, sizeof(name)))
		return errno = ENAMETOOLONG, NULL;
	fd = create_file(dirfd, name);
	if (fd < 0)
		return errno = -fd, NULL;
	img = img_alloc(kind, fd, name);
	if (!img || img_hash_init(&img->h)) {
		free(img);
		close(fd);
		unlinkat(dirfd, name, 0);
		return errno = ENOMEM, NULL;
	}
	img->dirfd = dirfd;
	img_put(img, &img_table[kind].magic, sizeof(uint32_t));
	return img;
}

int img_write(struct img *img, const void *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint32_t len32 = (uint32_t)len;
	uint8_t stackbuf[4096], *p = stackbuf;

	if (len > IMG_MAX_ENTRY) {
		pr_err("%s: entry of %zu bytes is over the format's limit", img->name, len);
		return img->err = -E2BIG;
	}
	if (len > sizeof(stackbuf) && !(p = malloc(len)))
		return img->err = -ENOMEM;
	protobuf_c_message_pack(msg, p);
	img_put(img, &len32, sizeof(len32));
	img_put(img, p, len);
	if (p != stackbuf)
		free(p);
	img->entries++;
	return img->err;
}

int img_close(struct img *img)
{
	int r;

	if (!img)
		return -EINVAL;
	r = img_flush(img);
	if (close(img->fd) && !r) {
		r = pr_perror("cannot close %s", img->name);
	}
	if (!r)
		img_sum_note(img->dirfd, img->name, img->h.size, img_hash_digest(&img->h),
			     img->entries);
	img_hash_fini(&img->h);
	free(img);
	return r;
}

void img_abort(struct img *img, int dirfd)
{
	if (!img)
		return;
	close(img->fd);
	unlinkat(dirfd, img->name, 0);
	img_sum_forget(dirfd, img->name);
	img_hash_fini(&img->h);
	free(img);
}

static int img_check_magic(struct img *img, uint32_t magic)
{
	uint32_t m;
	ssize_t n = pread(img->fd, &m, sizeof(m), 0);

	if (n != sizeof(m) || m != magic) {
		pr_err("%s: not a criu-lite %s image (bad or missing magic)", img->name,
		       img_table[img->kind].desc->short_name);
		return -EINVAL;
	}
	img->pos = img->len = 0;
	if (img_hash_init(&img->h))
		return -ENOMEM;
	img_hash_update(&img->h, &m, sizeof(m));
	return lseek(img->fd, sizeof(m), SEEK_SET) < 0 ? -errno : 0;
}

/* Open an image for reading. Only a regular file will do: O_NONBLOCK keeps a
 * FIFO planted at an image name from blocking the open until a writer comes
 * (it changes nothing for regular files), and a device or directory is
 * refused before it is read. */
static int img_open_file(int dirfd, const char *name, int nofollow)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | nofollow);
	struct stat st;
	int e;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st))
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	else
		return fd;
	close(fd);
	errno = e;
	return -1;
}

struct img *img_open(int dirfd, enum img_kind kind, int pid, bool must_exist)
{
	char name[64];
	struct img *img;
	int fd, r;

	if (img_name(kind, pid, name, sizeof(name)))
		return errno = ENAMETOOLONG, NULL;
	/* In a dump directory, never through a symlink (a planted one could
	 * point a root restore at any file); show FILE.img follows one. */
	fd = img_open_file(dirfd, name, O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;

		if (e == EINVAL || e == ELOOP)
			pr_err("cannot open image %s: not a regular file", name);
		else if (e != ENOENT || must_exist)
			pr_err("cannot open image %s: %s", name, strerror(e));
		return errno = e, NULL;
	}
	img = img_alloc(kind, fd, name);
	if (!img) {
		close(fd);
		return errno = ENOMEM, NULL;
	}
	r = img_check_magic(img, img_table[kind].magic);
	if (r < 0) {
		img_close_read(img);
		return errno = -r, NULL;
	}
	return img;
}

struct img *img_open_path(const char *path)
{
	const char *base = strrchr(path, '/');
	struct img *img;
	uint32_t magic;
	int fd, k;

	base = base ? base + 1 : path;
	fd = img_open_file(AT_FDCWD, path, 0);
	if (fd < 0) {
		if (errno == EINVAL)
			pr_err("%s: not a regular file", path);
		else
			pr_perror("cannot open %s", path);
		return NULL;
	}
	if (pread(fd, &magic, sizeof(magic), 0) != sizeof(magic))
		magic = 0;
	for (k = 0; k < IMG_KIND_COUNT; k++)
		if (img_table[k].magic == magic)
			break;
	if (k == IMG_KIND_COUNT) {
		pr_err("%s: not a criu-lite image (unknown magic %#x)", path, magic);
		close(fd);
		return errno = EINVAL, NULL;
	}
	img = img_alloc(k, fd, base);
	if (!img || img_check_magic(img, magic)) {
		if (img)
			img_close_read(img);
		else
			close(fd);
		return errno = EINVAL, NULL;
	}
	return img;
}

void img_use_arena(struct img *img, struct arena *a)
{
	img->arena = a;
}

struct arena *img_arena(const struct img *img)
{
	return img->arena;
}

const char *img_file_name(const struct img *img)
{
	return img->name;
}

long long img_file_size(const struct img *img)
{
	struct stat st;

	return fstat(img->fd, &st) ? -1 : (long long)st.st_size;
}

void img_drop(const struct img *img, void *msg)
{
	if (!img->arena)
		img_free(msg);
}

enum img_kind img_kind_of(const struct img *img)
{
	return img->kind;
}

/* Fill `dst` with exactly `len` bytes; returns bytes got (short only at EOF). */
static ssize_t img_get(struct img *img, void *dst, size_t len)
{
	size_t got = 0;

	while (got < len) {
		if (img->pos == img->len) {
			ssize_t n = read(img->fd, img->buf, sizeof(img->buf));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				break;
			img->len = n;
			img->pos = 0;
		}
		size_t take = img->len - img->pos;

		if (take > len - got)
			take = len - got;
		memcpy((char *)dst + got, img->buf + img->pos, take);
		img->pos += take;
		got += take;
	}
	return got;
}

void img_expect(struct img *img, const ImageSum *sum)
{
	img->expect = sum;
}

bool img_sealed(const struct img *img)
{
	return img->sealed;
}

/* The end of the file: what the inventory says was written, if it says. */
static int img_check_end(struct img *img)
{
	const ImageSum *s = img->expect;

	if (!s)
		return 0;
	if (s->has_entries && s->entries != img->entries) {
		pr_err("%s: %lld entries where the dump wrote %u (cut short?)", img->name,
		       (long long)img->entries, s->entries);
		return -EBADMSG;
	}
	if (img->h.size != s->size || img_hash_digest(&img->h) != s->hash) {
		pr_err("%s does not match its checksum in inventory.img (corrupt)", img->name);
		return -EBADMSG;
	}
	return 0;
}

/* The seal: the hash so far, then nothing more. */
static int img_check_seal(struct img *img)
{
	uint64_t want = img_hash_digest(&img->h), got;
	uint8_t more;

	if (img_get(img, &got, sizeof(got)) != sizeof(got) || got != want ||
	    img_get(img, &more, 1) != 0) {
		pr_err("%s: seal does not match the contents (corrupt)", img->name);
		return -EBADMSG;
	}
	img->sealed = true;
	return 0;
}

int img_frame(struct img *img, uint8_t **p, uint32_t *len, bool *owned)
{
	ssize_t n;

	*p = NULL;
	*owned = false;
	if (img->sealed)
		return 0;
	n = img_get(img, len, sizeof(*len));
	if (n == 0)
		return img_check_end(img);
	if (n != sizeof(*len)) {
		pr_err("%s: truncated entry header", img->name);
		return -EIO;
	}
	if (*len == IMG_SEAL) {
		int r = img_check_seal(img);

		return r ? r : img_check_end(img);
	}
	img_hash_update(&img->h, len, sizeof(*len));
	if (*len > IMG_MAX_ENTRY) {
		pr_err("%s: entry length %u is corrupt (over %u)", img->name, *len, IMG_MAX_ENTRY);
		return -EINVAL;
	}
	/* An entry already whole in the buffer is unpacked from there (most
	 * are: a files image's run about 180 bytes each); others are copied out. */
	if (img->len - img->pos >= *len) {
		*p = img->buf + img->pos;
		img->pos += *len;
	} else {
		if (!(*p = malloc(*len ? *len : 1)))
			return -ENOMEM;
		*owned = true;
		n = img_get(img, *p, *len);
		if (n != (ssize_t)*len) {
			free(*p);
			*p = NULL;
			pr_err("%s: truncated entry (%zd of %u bytes)", img->name, n < 0 ? 0 : n,
			       *len);
			return -EIO;
		}
	}
	img_hash_update(&img->h, *p, *len);
	img->entries++;
	return 1;
}

void *img_unpack(const struct img *img, const ProtobufCMessageDescriptor *desc,
		 struct arena *a, const uint8_t *p, uint32_t len)
{
	return protobuf_c_message_unpack(desc ? desc : img_table[img->kind].desc,
					 a ? arena_pb(a) : NULL, len, p);
}

void img_malformed(const struct img *img)
{
	pr_err("%s: malformed entry (protobuf decoding failed)", img->name);
}

int img_read(struct img *img, const ProtobufCMessageDescriptor *desc, void **out)
{
	uint32_t len;
	uint8_t *p;
	bool owned;
	int r = img_frame(img, &p, &len, &owned);

	*out = NULL;
	if (r <= 0)
		return r;
	*out = img_unpack(img, desc, img->arena, p, len);
	if (owned)
		free(p);
	if (!*out) {
		img_malformed(img);
		return -EINVAL;
	}
	return 1;
}

void img_close_read(struct img *img)
{
	if (!img)
		return;
	close(img->fd);
	img_hash_fini(&img->h);
	free(img);
}

void img_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

void img_free_all(void **v, size_t n)
{
	while (n)
		img_free(v[--n]);
	free(v);
}

int img_write_entries(int dirfd, enum img_kind kind, int pid, void *const *msgs, size_t n)
{
	struct img *img = img_create(dirfd, kind, pid);
	int r = 0;

	if (!img)
		return -errno;
	for (size_t i = 0; i < n && !r; i++)
		r = img_write(img, msgs[i]);
	if (r) {
		img_abort(img, dirfd);
		return r;
	}
	return img_close(img);
}

int img_write_inventory(int dirfd, const InventoryEntry *inv)
{
	static const char tmp[] = "inventory.img.tmp";
	InventoryEntry sealed = *inv;
	const uint32_t seal = IMG_SEAL;
	struct img *img;
	uint64_t hash;
	int r, fd;

	r = img_sum_fill(dirfd, &sealed);
	if (r)
		return r;
	fd = create_file(dirfd, tmp);
	img = fd < 0 ? NULL : img_alloc(IMG_INVENTORY, fd, tmp);
	if (!img || img_hash_init(&img->h)) {
		free(img);
		if (fd >= 0)
			close(fd);
		unlinkat(dirfd, tmp, 0);
		img_sum_fill_free(&sealed);
		return fd < 0 ? fd : -ENOMEM;
	}
	img_put(img, &img_table[IMG_INVENTORY].magic, sizeof(uint32_t));
	img_write(img, &sealed);
	hash = img_hash_digest(&img->h);
	img_put(img, &seal, sizeof(seal));
	img_put(img, &hash, sizeof(hash));
	img_hash_fini(&img->h);
	img_sum_fill_free(&sealed);
	r = img_flush(img);
	/* Every other image must be on disk before the inventory says "complete". */
	if (!r && syncfs(dirfd))
		r = pr_perror("cannot sync the image directory");
	if (close(fd) && !r)
		r = pr_perror("cannot close %s", tmp);
	free(img);
	if (!r && renameat(dirfd, tmp, dirfd, "inventory.img"))
		r = pr_perror("cannot publish inventory.img");
	/* The rename is durable only once the directory itself is on disk:
	 * a crash right after a reported success must not lose the inventory. */
	if (!r && fsync(dirfd))
		r = pr_perror("cannot sync the image directory after publishing inventory.img");
	if (r)
		unlinkat(dirfd, tmp, 0);
	return r;
}

int img_dir_create(const char *dir, bool *made)
{
	bool m = !mkdir(dir, 0700);
	int fd;

	if (made)
		*made = m;
	if (!m && errno != EEXIST)
		return pr_perror("cannot create %s", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("cannot open %s", dir);
	if (!faccessat(fd, "inventory.img", F_OK, 0)) {
		pr_err("%s already holds a dump: give an empty directory", dir);
		close(fd);
		return -EEXIST;
	}
	return fd;
}
