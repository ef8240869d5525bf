/* A big image read whole into an arena is unpacked on two threads (its
 * first half by a worker, images/image_read_all.c): the entries must come
 * back all and in order, and a bad entry in either half, or a file cut
 * short, must fail the read as one thread does (the same -errno, nothing
 * handed out). Each case is read both ways (CRIU_LITE_THREADS=1 and 2),
 * into a plain arena and into one that maps huge pages for what it expects
 * (arena_new_huge: a restore's). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/arena.h"
#include "images/image.h"
#include "images/log.h"
#include "test/helpers.h"

#define MAGIC_PSTREE 0x434c0002u
/* ~300 KiB: over the size from which a worker unpacks, and each half's
 * entries, unpacked, over what a huge arena maps for (half a huge page) */
#define ENTRIES 24000
/* ~140 KiB: both halves' entries fit one huge page, which the worker
 * shares (arena_expect_shared) */
#define ENTRIES_ONE_PAGE 11000

static size_t entries = ENTRIES;	/* in the image the test writes */

static char dir[256];
static int dfd = -1;

static void setup(void)
{
	log_set_level(0);	/* the refusals are logged: keep the output readable */
	dfd = make_tmpdir_fd(dir, sizeof(dir), "big-img");
}

static void teardown(void)
{
	unsetenv("CRIU_LITE_THREADS");
	tmpdir_gone(&dfd, dir);
}

TestSuite(images_big, .init = setup, .fini = teardown, .timeout = 60);

static size_t varint(uint8_t *p, uint32_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/* pstree.img of ENTRIES entries {pid i + 1, ppid 1, pgid 5, sid 5,
 * threads [i + 1]}; entry bad (if < ENTRIES) is garbage, and the file is
 * cut bytes short of its end. */
static void write_image(size_t bad, size_t cut)
{
	static uint8_t buf[ENTRIES * 24 + 4];
	size_t len = 0;
	uint32_t magic = MAGIC_PSTREE;
	int fd;

	memcpy(buf, &magic, 4);
	len = 4;
	for (size_t i = 0; i < entries; i++) {
		uint8_t e[20];
		uint32_t n = 0, pid = (uint32_t)i + 1;

		e[n++] = 0x08;
		n += (uint32_t)varint(e + n, pid);
		e[n++] = 0x10, e[n++] = 1, e[n++] = 0x18, e[n++] = 5, e[n++] = 0x20, e[n++] = 5;
		e[n++] = 0x28;
		n += (uint32_t)varint(e + n, pid);
		if (i == bad)
			memset(e, 0xff, n);
		memcpy(buf + len, &n, 4);
		memcpy(buf + len + 4, e, n);
		len += 4 + n;
	}
	fd = openat(dfd, "pstree.img", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len - cut), (ssize_t)(len - cut));
	close(fd);
}

/* img_read_all_in on threads ("1" or "2"): its result; every entry checked
 * when it succeeds. */
static int read_whole(const char *threads, bool huge)
{
	struct arena *a = huge ? arena_new_huge() : arena_new();
	PstreeEntry **v = NULL;
	size_t n = 123;
	int r;

	setenv("CRIU_LITE_THREADS", threads, 1);
	r = img_read_all_in(dfd, IMG_PSTREE, 0, true, a, (void ***)&v, &n);
	if (r) {
		cr_expect_null(v, "%s threads: entries handed out on error", threads);
		cr_expect_eq(n, 0, "%s threads: %zu entries on error", threads, n);
	} else {
		cr_expect_eq(n, entries, "%s threads: %zu entries", threads, n);
		for (size_t i = 0; i < n && i < entries; i++)
			if (v[i]->pid != i + 1 || v[i]->n_threads != 1 || v[i]->threads[0] != i + 1) {
				cr_expect_fail("%s threads: entry %zu is pid %u", threads, i, v[i]->pid);
				break;
			}
	}
	free(v);
	arena_free(a);
	return r;
}

/* The image as written read on one thread and on two, into each kind of
 * arena: want from every read. */
static void each_way(int want)
{
	for (int huge = 0; huge < 2; huge++) {
		cr_expect_eq(read_whole("1", huge), want, "one thread%s", huge ? ", huge" : "");
		cr_expect_eq(read_whole("2", huge), want, "two threads%s", huge ? ", huge" : "");
	}
}

static void both_ways(size_t bad, size_t cut, int want)
{
	write_image(bad, cut);
	each_way(want);
}

Test(images_big, every_entry_comes_back_in_order)
{
	both_ways(ENTRIES, 0, 0);
}

Test(images_big, entries_that_fit_one_huge_page_come_back_in_order)
{
	entries = ENTRIES_ONE_PAGE;
	both_ways(entries, 0, 0);
}

Test(images_big, a_bad_entry_in_the_first_half_fails_the_read)
{
	both_ways(10, 0, -EINVAL);
}

Test(images_big, a_bad_entry_in_the_second_half_fails_the_read)
{
	both_ways(ENTRIES - 10, 0, -EINVAL);
}

Test(images_big, a_file_cut_short_fails_the_read)
{
	both_ways(ENTRIES, 3, -EIO);
}

/* A frame that cannot be one (a length over the format's limit) before the
 * middle, where the first half is still being read and no worker has it:
 * the read fails as on one thread, whatever the threads. */
Test(images_big, a_broken_frame_before_the_middle_fails_the_read)
{
	uint32_t len = 0xfffffff0u;
	int fd;

	write_image(ENTRIES, 0);
	fd = openat(dfd, "pstree.img", O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, &len, sizeof(len), 4), (ssize_t)sizeof(len));
	close(fd);
	each_way(-EINVAL);
}

/* All of it in the first half: one entry of 30000 threads, over 64 KiB.
 * The reader then has nothing of its own to unpack. */
Test(images_big, one_entry_over_half_the_file_comes_back)
{
	static uint8_t buf[4 + 4 + 8 + 30000 * 4];
	uint32_t magic = MAGIC_PSTREE, n = 0;
	const char *threads[] = { "1", "2" };
	int fd;

	memcpy(buf, &magic, 4);
	buf[8 + n++] = 0x08, buf[8 + n++] = 7, buf[8 + n++] = 0x10, buf[8 + n++] = 1;
	buf[8 + n++] = 0x18, buf[8 + n++] = 7, buf[8 + n++] = 0x20, buf[8 + n++] = 7;
	for (uint32_t t = 0; t < 30000; t++) {
		buf[8 + n++] = 0x28;
		n += (uint32_t)varint(buf + 8 + n, t + 100000);
	}
	memcpy(buf + 4, &n, 4);
	fd = openat(dfd, "pstree.img", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, 8 + n), (ssize_t)(8 + n));
	close(fd);
	for (int k = 0; k < 2; k++) {
		struct arena *a = arena_new();
		PstreeEntry **v = NULL;
		size_t got = 0;

		setenv("CRIU_LITE_THREADS", threads[k], 1);
		cr_expect_eq(img_read_all_in(dfd, IMG_PSTREE, 0, true, a, (void ***)&v, &got), 0,
			     "%s threads: the read failed", threads[k]);
		cr_expect(got == 1 && v[0]->pid == 7 && v[0]->n_threads == 30000 &&
			  v[0]->threads[29999] == 129999, "%s threads: %zu entries", threads[k], got);
		free(v);
		arena_free(a);
	}
}


/* A huge arena told to expect less than it is then given: what does not
 * fit its mapping goes to chunks as before, and every allocation keeps its
 * bytes (each one filled with its own number, all checked at the end). */
Test(images_big, a_huge_arena_given_more_than_it_expected_keeps_every_byte)
{
	enum { N = 3000, SIZE = 1000 };
	struct arena *a = arena_new_huge();
	static unsigned char *p[N];

	cr_assert_not_null(a);
	arena_expect(a, 1u << 20);
	for (size_t i = 0; i < N; i++) {
		p[i] = arena_alloc(a, SIZE);
		cr_assert_not_null(p[i]);
		cr_assert_eq((uintptr_t)p[i] % 16, 0, "allocation %zu not aligned", i);
		memset(p[i], (int)(i % 251), SIZE);
	}
	for (size_t i = 0; i < N; i++)
		for (size_t k = 0; k < SIZE; k++)
			if (p[i][k] != (unsigned char)(i % 251))
				cr_assert_fail("allocation %zu byte %zu is %u", i, k, p[i][k]);
	arena_free(a);
}

/* One mapping for two arenas (arena_expect_shared), each then given more
 * than it was told: no allocation of one overlaps one of the other, and
 * every byte stays as written, through the adoption and until the free. */
Test(images_big, two_arenas_sharing_a_huge_mapping_keep_apart)
{
	enum { N = 1500, SIZE = 1000 };
	static unsigned char *p[2 * N];
	struct arena *a, *b;

#ifdef __SANITIZE_ADDRESS__
	cr_skip_test("under AddressSanitizer an arena maps nothing (arena.h)");
#endif
	a = arena_new_huge();
	cr_assert_not_null(a);
	b = arena_expect_shared(a, 700u << 10, 700u << 10);
	cr_assert_not_null(b, "two halves of 700 KiB: one huge page for both");
	for (size_t i = 0; i < 2 * N; i++) {
		p[i] = arena_alloc(i % 2 ? b : a, SIZE);
		cr_assert_not_null(p[i]);
		cr_assert_eq((uintptr_t)p[i] % 16, 0, "allocation %zu not aligned", i);
		memset(p[i], (int)(i % 251), SIZE);
	}
	arena_adopt(a, b);
	for (size_t i = 0; i < 2 * N; i++)
		for (size_t k = 0; k < SIZE; k++)
			if (p[i][k] != (unsigned char)(i % 251))
				cr_assert_fail("allocation %zu (%s) byte %zu is %u", i,
					       i % 2 ? "lent" : "lender", k, p[i][k]);
	arena_free(a);
	a = arena_new_huge();
	cr_assert_null(arena_expect_shared(a, 1500u << 10, 1500u << 10),
		       "two halves over a huge page: each its own mapping");
	arena_free(a);
}
