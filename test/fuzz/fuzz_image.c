/* libFuzzer target for the framed image reader (images/image.c).
 *
 * The input is an image file as it would sit in a dump directory, so the
 * fuzzer reaches the reader exactly as `show`, convert and restore do: by
 * path (img_open_path: magic decides the kind) and by directory and name
 * (img_open/img_read_one). Every entry is decoded with its kind's
 * descriptor and with one other (every one we have, across inputs), because
 * a reader handed a file of the wrong kind under the right magic must fail
 * cleanly too. Entries that decode are written back through
 * img_create/img_write and re-read: the writer must accept anything the
 * reader produced, and the round trip must give the same bytes. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/image.h"
#include "images/log.h"
#include "test/fuzz/fuzz_dir.h"

static struct fuzz_dir dir;

/* Entries read from one file are capped: a few thousand tiny frames per
 * input are plenty, and the cap keeps each run fast. */
#define MAX_ENTRIES 4096

/* Pack `msg` and check it unpacks to the same bytes again. */
static void check_roundtrip(const ProtobufCMessageDescriptor *desc, const void *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *a = malloc(len + 1), *b;
	void *again;

	if (!a)
		abort();
	if (protobuf_c_message_pack(msg, a) != len)
		abort();
	again = protobuf_c_message_unpack(desc, NULL, len, a);
	if (!again)
		abort();	/* what we decoded we must be able to decode again */
	if (protobuf_c_message_get_packed_size(again) != len)
		abort();
	b = malloc(len + 1);
	if (!b)
		abort();
	protobuf_c_message_pack(again, b);
	if (memcmp(a, b, len))
		abort();
	free(a);
	free(b);
	img_free(again);
}

/* Read the whole image with `desc` (NULL: the table's; for a pagemap with
 * head_first, pagemap_head then pagemap_entry as readers do). Returns the
 * number of entries read before the end or the first error. */
static int read_all(const char *path, const ProtobufCMessageDescriptor *desc, bool head_first)
{
	struct img *img = img_open_path(path);
	int n = 0, r = 1;

	if (!img)
		return -1;
	while (n < MAX_ENTRIES) {
		const ProtobufCMessageDescriptor *d = desc;
		void *msg;

		if (head_first && n == 0)
			d = &pagemap_head__descriptor;
		r = img_read(img, d, &msg);
		if (r <= 0)
			break;
		if (!msg)
			abort();	/* 1 means an entry was handed out */
		check_roundtrip(d ? d : img_descriptor(img_kind_of(img)), msg);
		img_free(msg);
		n++;
	}
	/* After an error, the reader must not hand out anything else. */
	if (r < 0) {
		void *msg = (void *)1;

		img_read(img, desc, &msg);
		img_free(msg);
	}
	img_close_read(img);
	return n;
}

/* Write every entry of `path` (read with the table's descriptor) into a new
 * image of `kind` and check that reading it back gives the same entries. */
static void rewrite(const char *path, enum img_kind kind)
{
	const ProtobufCMessageDescriptor *desc = img_descriptor(kind);
	struct img *in = img_open_path(path), *out;
	void *msg;
	int n = 0, m = 0;

	if (!in)
		return;
	out = img_create(dir.fd, kind, 42);
	if (!out)
		abort();
	while (n < MAX_ENTRIES && img_read(in, NULL, &msg) > 0) {
		if (img_write(out, msg))
			abort();
		img_free(msg);
		n++;
	}
	img_close_read(in);
	if (img_close(out))
		abort();
	in = img_open(dir.fd, kind, 42, true);
	if (!in)
		abort();
	while (img_read(in, desc, &msg) > 0) {
		img_free(msg);
		m++;
	}
	img_close_read(in);
	if (m != n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char input[] = "input.img";
	char path[512], name[64];
	struct img *img;
	enum img_kind kind;
	void *one;

	if (!dir.path[0])
		fuzz_dir_init(&dir, "fuzz-image");
	fuzz_put_file(dir.fd, input, data, size);
	snprintf(path, sizeof(path), "%s/%s", dir.path, input);

	img = img_open_path(path);
	if (!img)
		return 0;
	kind = img_kind_of(img);
	img_close_read(img);

	read_all(path, NULL, kind == IMG_PAGEMAP);
	/* One other descriptor per input, picked by a byte of it, so that the
	 * fuzzer can steer it and each run stays cheap. */
	{
		unsigned pick = size ? data[size / 2] % (IMG_KIND_COUNT + 1) : 0;

		read_all(path, pick < IMG_KIND_COUNT ? img_descriptor(pick) :
			 &pagemap_head__descriptor, false);
	}

	/* The same bytes under their canonical name, as convert and restore open them. */
	if (img_name(kind, 7, name, sizeof(name)))
		abort();
	fuzz_put_file(dir.fd, name, data, size);
	if (img_read_one(dir.fd, kind, 7, true, &one) == 0 && !one)
		abort();
	img_free(one);
	unlinkat(dir.fd, name, 0);

	if (kind != IMG_PAGEMAP)
		rewrite(path, kind);
	return 0;
}
