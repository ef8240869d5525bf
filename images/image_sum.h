/* Integrity of a dump (issue 15): every file a dump writes is hashed as it
 * is written (XXH3-64: at ~10 GB/s it costs a pages file a fraction of its
 * write), and inventory.img, written last, lists each file's name, size,
 * hash and entry count; inventory.img itself ends in a seal, the hash of
 * the bytes before it. Readers (images/dump_read*.c) refuse a file that
 * differs in any of these: a bit flip, or a cut at an entry boundary that
 * leaves every entry whole.
 *
 * Writers note what they wrote here (img_close does it for images, the
 * pages writer for its file); img_write_inventory collects the notes of its
 * directory. A raw file created with img_create_raw but never noted with a
 * hash is hashed back from disk when the inventory is written. */
#ifndef CRIU_LITE_IMAGE_SUM_H
#define CRIU_LITE_IMAGE_SUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.pb-c.h"

/* inventory_entry.sum_algo */
#define IMG_SUM_XXH3	1

/* A streaming hash; all-zero is "not started" (update and digest do nothing). */
struct img_hash {
	void *st;
	uint64_t size;
};

int img_hash_init(struct img_hash *h);
void img_hash_update(struct img_hash *h, const void *p, size_t n);
uint64_t img_hash_digest(const struct img_hash *h);
void img_hash_fini(struct img_hash *h);
/* Hash the whole of fd from offset 0 (pread: the offset is left alone). */
int img_hash_fd(int fd, uint64_t *hash, uint64_t *size);
/* The same into h (started) through the caller's buf: it allocates and
 * locks nothing, so a thread may run it while its process forks with a
 * raw clone (no atfork handlers). img_hash_reset starts h over. */
int img_hash_fd_into(int fd, struct img_hash *h, void *buf, size_t len);
void img_hash_reset(struct img_hash *h);

/* Writers: `name` in dirfd is complete with this size and hash (entries < 0:
 * a raw file, no entries). Replaces an earlier note of that name. */
void img_sum_note(int dirfd, const char *name, uint64_t size, uint64_t hash, int64_t entries);
/* A raw file is being written at name: hashed back at inventory time unless
 * noted meanwhile. */
void img_sum_note_raw(int dirfd, const char *name);
/* The file is gone (a write abandoned): no note of it. */
void img_sum_forget(int dirfd, const char *name);
/* Fill inv->sums from the notes of dirfd (dropping them) and set sum_algo.
 * img_sum_fill_free undoes it. */
int img_sum_fill(int dirfd, InventoryEntry *inv);
void img_sum_fill_free(InventoryEntry *inv);

/* Readers: the sum inv lists for name. 1 and *out set; 0 when inv predates
 * sums (nothing to check against); -EBADMSG, logged, when inv has sums but
 * none for name (a file the dump did not write). dir is for the message. */
int img_sum_find(const InventoryEntry *inv, const char *dir, const char *name,
		 const ImageSum **out);
/* Every file inv lists is in dirfd, a regular file (not a symlink) of its
 * size: a cut anywhere in the dump is refused before anything is read.
 * With IMG_SUM_IMAGES, each image's contents are checked too (a few KiB to
 * MiB each), with IMG_SUM_RAW each raw (pages) file's. */
#define IMG_SUM_IMAGES	(1u << 0)
#define IMG_SUM_RAW	(1u << 1)
int img_sum_check_dir(int dirfd, const char *dir, const InventoryEntry *inv, unsigned hash);
/* The whole raw file at fd against s (size, then hash); one line if not. */
int img_sum_check_fd(int fd, const char *dir, const ImageSum *s);
/* What img_sum_check_fd says of a file hashed elsewhere (err: -errno of
 * its open or read, or 0). */
int img_sum_verdict(const char *dir, const ImageSum *s, int err, uint64_t hash, uint64_t size);

#endif
