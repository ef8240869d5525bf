/* CRIU's image framing. A file is its magic(s) (img_table.c), then entries
 * `u32 length | protobuf message`, some followed by raw bytes the message
 * counts (pipe data, queued socket packets). Images are metadata, small
 * next to the pages: each is read whole into memory, from wherever the dump
 * keeps it (a directory or an archive member), and parsed from there. A
 * file cut short, an entry longer than what is left, a message protobuf-c
 * cannot decode: one line naming the file, and -EINVAL or -EIO. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/criu/criu.h"
#include "images/criu/criu_read.h"
#include "images/image.h"
#include "images/log.h"

/* Metadata images of a very large tree stay far below this; beyond it the
 * file is not an image (a pages file under an image's name, say). */
#define CIMG_MAX_FILE (256u << 20)

struct cimg {
	const struct cimg_desc *d;
	char name[80];
	uint8_t *buf;
	size_t len, pos;
	bool first;		/* the next entry is the first */
};

static int read_whole(const struct cfile *f, const char *name, uint8_t **out)
{
	uint8_t *p;
	size_t got = 0;

	if (f->size > CIMG_MAX_FILE) {
		pr_err("%s: %llu bytes is too large for a CRIU image", name,
		       (unsigned long long)f->size);
		return -EFBIG;
	}
	p = malloc(f->size ? f->size : 1);
	if (!p)
		return -ENOMEM;
	while (got < f->size) {
		ssize_t n = pread(f->fd, p + got, f->size - got, f->off + got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			free(p);
			pr_err("cannot read %s: %s", name, n < 0 ? strerror(e) : "file shrank");
			return -e;
		}
		got += n;
	}
	*out = p;
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Where the entries start, after the magic(s) d demands; -EINVAL if absent. */
static int check_magic(struct cimg *im)
{
	const struct cimg_desc *d = im->d;
	size_t need = d->head ? 8 : 4;
	uint32_t head = im->len >= 4 ? le32(im->buf) : 0;
	uint32_t magic = im->len >= 8 ? le32(im->buf + 4) : 0;

	if (!d->head)
		magic = head, head = 0;
	if (im->len < need || head != d->head || magic != d->magic) {
		pr_err("%s: not a CRIU %s image (bad or missing magic)", im->name, d->crit);
		return -EINVAL;
	}
	im->pos = need;
	return 0;
}

static int cimg_load(const struct csrc *s, const char *name, struct cimg **out)
{
	struct cimg *im = calloc(1, sizeof(*im));
	struct cfile f;
	int r;

	*out = NULL;
	if (!im)
		return -ENOMEM;
	snprintf(im->name, sizeof(im->name), "%s", name);
	r = csrc_get(s, name, &f);
	if (r == 0) {
		im->len = f.size;
		r = read_whole(&f, name, &im->buf);
		cfile_close(&f);
	}
	if (r < 0) {
		free(im);
		return r;
	}
	im->first = true;
	*out = im;
	return 0;
}

/* The file name of kind d for id: "%u" decimal, "%x" hex. */
static void kind_file(const struct cimg_desc *d, uint64_t id, char *name, size_t len)
{
	const char *pct = strchr(d->file, '%');

	if (!pct)
		snprintf(name, len, "%s", d->file);
	else
		snprintf(name, len, pct[1] == 'x' ? "%.*s%llx%s" : "%.*s%llu%s",
			 (int)(pct - d->file), d->file, (unsigned long long)id, pct + 2);
}

int cimg_open(const struct csrc *s, enum cimg_kind k, uint64_t id, bool must_exist,
	      struct cimg **out)
{
	const struct cimg_desc *d = cimg_desc(k);
	char name[80];
	int r;

	kind_file(d, id, name, sizeof(name));
	r = cimg_load(s, name, out);
	if (r == -ENOENT && must_exist)
		pr_err("%s: no %s (a CRIU dump needs it)", s->label, name);
	if (r < 0)
		return r;
	(*out)->d = d;
	r = check_magic(*out);
	if (r < 0) {
		cimg_close(*out);
		*out = NULL;
	}
	return r;
}

int cimg_open_name(const struct csrc *s, const char *name, struct cimg **out)
{
	struct cimg *im;
	int r, k;

	r = cimg_load(s, name, &im);
	if (r == -ENOENT)
		pr_err("%s: no %s", s->label, name);
	if (r < 0)
		return r;
	k = im->len >= 4 && le32(im->buf) == CIMG_INVENTORY_MAGIC ? CIMG_INVENTORY :
	    im->len >= 8 ? cimg_kind_of_magic(le32(im->buf), le32(im->buf + 4)) : -1;
	if (k < 0) {
		pr_err("%s: not a CRIU image (unknown magic)", name);
		cimg_close(im);
		return -EINVAL;
	}
	im->d = cimg_desc(k);
	im->pos = k == CIMG_INVENTORY ? 4 : 8;
	*out = im;
	return 0;
}

int cimg_kind_at(const struct cfile *f)
{
	uint8_t h[8];
	ssize_t n = pread(f->fd, h, f->size < 8 ? f->size : 8, f->off);

	if (n >= 4 && le32(h) == CIMG_INVENTORY_MAGIC)
		return CIMG_INVENTORY;
	return n == 8 ? cimg_kind_of_magic(le32(h), le32(h + 4)) : -1;
}

bool criu_is_image_file(const char *path)
{
	struct cfile f = { .own = true };
	struct stat st;
	int k = -1;

	f.fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (f.fd < 0)
		return false;
	if (!fstat(f.fd, &st) && S_ISREG(st.st_mode)) {
		f.size = st.st_size;
		k = cimg_kind_at(&f);
	}
	cfile_close(&f);
	return k >= 0;
}

const struct cimg_desc *cimg_desc_of(const struct cimg *im)
{
	return im->d;
}

const char *cimg_name(const struct cimg *im)
{
	return im->name;
}

int cimg_next(struct cimg *im, void **msg, const uint8_t **payload, size_t *plen)
{
	const ProtobufCMessageDescriptor *desc = im->first && im->d->first ? im->d->first
									   : im->d->desc;
	size_t left = im->len - im->pos;
	uint32_t len, extra;

	*msg = NULL;
	if (payload)
		*payload = NULL, *plen = 0;
	if (!left)
		return 0;
	if (!desc) {
		pr_err("%s: CRIU %s images are not decoded here", im->name, im->d->crit);
		return -EOPNOTSUPP;
	}
	if (left < 4 || (len = le32(im->buf + im->pos)) > left - 4) {
		pr_err("%s: truncated entry at offset %zu", im->name, im->pos);
		return -EIO;
	}
	*msg = protobuf_c_message_unpack(desc, NULL, len, im->buf + im->pos + 4);
	if (!*msg) {
		pr_err("%s: malformed entry at offset %zu (protobuf decoding failed)", im->name,
		       im->pos);
		return -EINVAL;
	}
	im->pos += 4 + len;
	extra = im->d->payload && !(im->first && im->d->first) ? im->d->payload(*msg) : 0;
	im->first = false;
	if (extra > im->len - im->pos) {
		pr_err("%s: entry's %u bytes of data run past the end of the file", im->name, extra);
		protobuf_c_message_free_unpacked(*msg, NULL);
		*msg = NULL;
		return -EIO;
	}
	if (payload)
		*payload = im->buf + im->pos, *plen = extra;
	im->pos += extra;
	return 1;
}

int cimg_count(const struct csrc *s, enum cimg_kind k, uint64_t id, size_t *n)
{
	struct cimg *im;
	int r;

	*n = 0;
	r = cimg_open(s, k, id, false, &im);
	if (r < 0)
		return r;
	while (im->pos < im->len) {
		size_t left = im->len - im->pos;
		uint32_t len;

		if (left < 4 || (len = le32(im->buf + im->pos)) > left - 4) {
			pr_err("%s: truncated entry at offset %zu", im->name, im->pos);
			r = -EIO;
			break;
		}
		im->pos += 4 + len;
		(*n)++;
	}
	cimg_close(im);
	return r;
}

void cimg_close(struct cimg *im)
{
	if (!im)
		return;
	free(im->buf);
	free(im);
}

void cimg_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

void cimg_free_all(void **v, size_t n)
{
	while (n)
		cimg_free(v[--n]);
	free(v);
}

int cimg_read_all(const struct csrc *s, enum cimg_kind k, uint64_t id, bool must_exist,
		  void ***out, size_t *n)
{
	struct cimg *im;
	void **v = NULL, *msg;
	size_t cap = 0;
	int r;

	*out = NULL;
	*n = 0;
	r = cimg_open(s, k, id, must_exist, &im);
	if (r < 0)
		return r;
	while ((r = cimg_next(im, &msg, NULL, NULL)) > 0)
		if ((r = img_push(&v, n, &cap, msg)) < 0) {
			cimg_free(msg);
			break;
		}
	cimg_close(im);
	if (r < 0) {
		cimg_free_all(v, *n);
		*n = 0;
		return r;
	}
	*out = v;
	return 0;
}

int cimg_read_one(const struct csrc *s, enum cimg_kind k, uint64_t id, bool must_exist,
		  void **msg)
{
	void **v;
	size_t n;
	int r;

	*msg = NULL;
	r = cimg_read_all(s, k, id, must_exist, &v, &n);
	if (r < 0)
		return r;
	if (n != 1) {
		pr_err("%s: %s holds %zu entries, one expected", s->label, cimg_desc(k)->crit, n);
		cimg_free_all(v, n);
		return -EINVAL;
	}
	*msg = v[0];
	free(v);
	return 0;
}
