/* Reading whole images: one entry, or all of them (on two threads for a
 * big one read into an arena). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "images/arena.h"
#include "images/image.h"
#include "images/log.h"
#include "images/par.h"

int img_read_one_from(struct img *img, void **out)
{
	void *more = NULL;
	int r;

	*out = NULL;
	r = img_read(img, NULL, out);
	if (r == 0) {
		pr_err("%s: image is empty", img_file_name(img));
		r = -EINVAL;
	}
	/* Read to the end: the seal, the sum and any extra entry are checked there. */
	if (r > 0 && (r = img_read(img, NULL, &more)) > 0) {
		pr_err("%s: more than the one entry this image holds", img_file_name(img));
		r = -EINVAL;
	}
	img_drop(img, more);
	if (r < 0) {
		img_drop(img, *out);
		*out = NULL;
	}
	img_close_read(img);
	return r < 0 ? r : 0;
}

int img_read_one(int dirfd, enum img_kind kind, int pid, bool must_exist, void **out)
{
	return img_read_one_in(dirfd, kind, pid, must_exist, NULL, out);
}

int img_read_one_in(int dirfd, enum img_kind kind, int pid, bool must_exist, struct arena *a,
		    void **out)
{
	struct img *img = img_open(dirfd, kind, pid, must_exist);

	*out = NULL;
	if (!img)
		return -errno;
	img_use_arena(img, a);
	return img_read_one_from(img, out);
}

int img_read_all(int dirfd, enum img_kind kind, int pid, bool must_exist,
		 const ProtobufCMessageDescriptor *first, void ***out, size_t *n)
{
	struct img *img = img_open(dirfd, kind, pid, must_exist);

	*out = NULL;
	*n = 0;
	return img ? img_read_all_from(img, first, out, n) : -errno;
}

int img_read_all_in(int dirfd, enum img_kind kind, int pid, bool must_exist, struct arena *a,
		    void ***out, size_t *n)
{
	struct img *img = img_open(dirfd, kind, pid, must_exist);

	*out = NULL;
	*n = 0;
	if (!img)
		return -errno;
	img_use_arena(img, a);
	return img_read_all_from(img, NULL, out, n);
}

int img_push(void ***v, size_t *n, size_t *cap, void *msg)
{
	if (*n == *cap) {
		void **nv = realloc(*v, (*cap = *cap ? *cap * 2 : 16) * sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	(*v)[(*n)++] = msg;
	return 0;
}

static int read_all(struct img *img, const ProtobufCMessageDescriptor *first, void ***out,
		    size_t *n)
{
	struct arena *a = img_arena(img);
	void **v = NULL, *msg;
	size_t cap = 0;
	int r;

	*out = NULL;
	*n = 0;
	while ((r = img_read(img, *n ? NULL : first, &msg)) > 0)
		if ((r = img_push(&v, n, &cap, msg)) < 0) {
			img_drop(img, msg);
			break;
		}
	img_close_read(img);
	if (r < 0) {
		if (a)
			free(v);
		else
			img_free_all(v, *n);
		*n = 0;
		return r;
	}
	*out = v;
	return 0;
}

/* ---- a big image on two threads ---- */

/* From here on a second thread unpacks: a files image's entries of a
 * thousand connections are ~1.5 MiB unpacked, each page of which costs a
 * first touch of ~10 us in this guest. Below, the thread costs more than
 * it spares. */
#define PAR_BYTES (64u << 10)
/* What an entry takes unpacked, a byte of it in the file: ~8.5 for a
 * connection's (190 KiB of image, 1.6 MiB of messages). */
#define UNPACKED_PER_BYTE 9

/* The first half of the entries (copied out, framed as in the file),
 * unpacked by the worker into an arena of its own: its own mapping, or
 * the end of the reader's while both halves fit one huge page. */
struct half {
	const struct img *img;
	uint8_t *raw;
	size_t len, cap, want;
	struct arena *a;
	void **v;
	size_t n;
	int err;
};

static int half_add(struct half *h, const uint8_t *p, uint32_t len)
{
	if (h->len + sizeof(len) + len > h->cap) {
		/* first: the half of the file (and the entry that ends it), so
		 * that it is never copied again as it grows */
		size_t cap = (h->cap ? h->cap * 2 : h->want) + len;
		uint8_t *raw = realloc(h->raw, cap);

		if (!raw)
			return -ENOMEM;
		h->raw = raw;
		h->cap = cap;
	}
	memcpy(h->raw + h->len, &len, sizeof(len));
	memcpy(h->raw + h->len + sizeof(len), p, len);
	h->len += sizeof(len) + len;
	h->n++;
	return 0;
}

/* The worker: no log (the main thread says what failed). */
static void *half_unpack(void *arg)
{
	struct half *h = arg;
	size_t off = 0;

	if (!(h->v = malloc((h->n ? h->n : 1) * sizeof(*h->v)))) {
		h->err = -ENOMEM;
		return NULL;
	}
	/* (lent a part of the reader's mapping, or one of its own) */
	if (!h->a) {
		if (!(h->a = arena_new_like(img_arena(h->img)))) {
			h->err = -ENOMEM;
			return NULL;
		}
		arena_expect(h->a, h->len * UNPACKED_PER_BYTE);
	}
	for (size_t i = 0; i < h->n; i++) {
		uint32_t len;

		memcpy(&len, h->raw + off, sizeof(len));
		h->v[i] = img_unpack(h->img, NULL, h->a, h->raw + off + sizeof(len), len);
		if (!h->v[i]) {
			h->err = -EINVAL;
			return NULL;
		}
		off += sizeof(len) + len;
	}
	return NULL;
}

/* The entries of the file's first half are copied out as they are read
 * (and hashed, and checked, by img_frame as always), then handed to a
 * worker at the middle, which unpacks them while this thread unpacks the
 * rest; the worker's arena joins img's at the end. */
static int read_all_par(struct img *img, long long size, void ***out, size_t *n)
{
	struct half h = { .img = img, .want = (size_t)size / 2 + 4096 };
	struct arena *a = img_arena(img);
	bool handed = false, threaded = false;
	void **v = NULL, *msg;
	size_t cap = 0, at = 0;
	pthread_t th;
	uint32_t len;
	uint8_t *p;
	bool owned;
	int r;

	while ((r = img_frame(img, &p, &len, &owned)) > 0) {
		if (!handed && at < (size_t)size / 2) {
			r = half_add(&h, p, len);
		} else {
			if (!handed) {
				handed = true;
				h.a = arena_expect_shared(a, ((size_t)size - at) * UNPACKED_PER_BYTE,
							  h.len * UNPACKED_PER_BYTE);
				threaded = par_start(&th, half_unpack, &h);
				if (!threaded)
					half_unpack(&h);	/* no thread: here, first */
			}
			msg = img_unpack(img, NULL, a, p, len);
			r = msg ? img_push(&v, n, &cap, msg) : -EINVAL;
			if (!msg)
				img_malformed(img);
		}
		at += sizeof(len) + len;
		if (owned)
			free(p);
		if (r < 0)
			break;
	}
	if (threaded)
		pthread_join(th, NULL);
	else if (!handed && !r)
		half_unpack(&h);	/* every entry in the first half */
	img_close_read(img);
	if (!r && h.err) {
		r = h.err;
		if (r == -EINVAL)
			img_malformed(img);
	}
	if (h.a)
		arena_adopt(a, h.a);
	if (!r && !(*out = malloc((h.n + *n ? h.n + *n : 1) * sizeof(**out))))
		r = -ENOMEM;
	if (!r) {
		if (h.n)
			memcpy(*out, h.v, h.n * sizeof(**out));
		if (*n)
			memcpy(*out + h.n, v, *n * sizeof(**out));
		*n += h.n;
	} else {
		*n = 0;
	}
	free(h.v);
	free(h.raw);
	free(v);
	return r;
}

int img_read_all_from(struct img *img, const ProtobufCMessageDescriptor *first, void ***out,
		      size_t *n)
{
	long long size = img_arena(img) && !first ? img_file_size(img) : -1;

	if (size >= PAR_BYTES && par_two_threads()) {
		*out = NULL;
		*n = 0;
		return read_all_par(img, size, out, n);
	}
	if (size >= PAR_BYTES)
		arena_expect(img_arena(img), (size_t)size * UNPACKED_PER_BYTE);
	return read_all(img, first, out, n);
}
