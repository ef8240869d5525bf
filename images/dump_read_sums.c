/* The integrity rules of the dump reader (image_sum.h), for the criu-lite
 * backend: inventory.img must be sealed once it lists sums, every file it
 * lists must be there at its size, and every image the reader reads (and
 * each pages file it opens) must match its sum. A dump written before sums
 * existed is read as before, with one warning. */
#include <errno.h>
#include <stdbool.h>

#include "images/dump_read_backend.h"
#include "images/image_sum.h"
#include "images/log.h"

int dr_read_inventory(int dirfd, const char *dir, bool must, unsigned hash,
		      InventoryEntry **out)
{
	static bool warned;
	struct img *img = img_open(dirfd, IMG_INVENTORY, 0, must);
	void *more = NULL;
	bool sealed;
	int r;

	*out = NULL;
	if (!img)
		return -errno;
	r = img_read(img, NULL, (void **)out);
	if (r == 0)
		pr_err("%s: inventory.img is empty", dir);
	if (r > 0 && (r = img_read(img, NULL, &more)) > 0)
		pr_err("%s: inventory.img holds more than one entry", dir);
	sealed = img_sealed(img);
	img_free(more);
	img_close_read(img);
	if (r != 0) {
		img_free(*out);
		*out = NULL;
		return r < 0 ? r : -EINVAL;
	}
	if ((*out)->has_sum_algo && !sealed) {
		pr_err("%s: inventory.img lists checksums but has no seal (cut short?)", dir);
		r = -EBADMSG;
	} else if (!(*out)->has_sum_algo && !warned) {
		warned = true;
		pr_warn("%s: written without checksums (an older criu-lite): not verified", dir);
	}
	if (!r)
		r = img_sum_check_dir(dirfd, dir, *out, hash);
	if (r < 0) {
		img_free(*out);
		*out = NULL;
	}
	return r;
}

struct img *dr_img_open(int dirfd, const char *dir, const InventoryEntry *inv,
			enum img_kind kind, int pid, bool must)
{
	const ImageSum *sum = NULL;
	struct img *img = img_open(dirfd, kind, pid, must);
	char name[64];
	int r;

	if (!img || !inv)
		return img;
	img_name(kind, pid, name, sizeof(name));
	r = img_sum_find(inv, dir, name, &sum);
	if (r < 0) {
		img_close_read(img);
		return errno = -r, NULL;
	}
	img_expect(img, sum);
	return img;
}

int dr_img_read_one(int dirfd, const char *dir, const InventoryEntry *inv, enum img_kind kind,
		    int pid, bool must, struct arena *a, void **out)
{
	struct img *img = dr_img_open(dirfd, dir, inv, kind, pid, must);

	*out = NULL;
	if (!img)
		return -errno;
	img_use_arena(img, a);
	return img_read_one_from(img, out);
}

int dr_img_read_all(int dirfd, const char *dir, const InventoryEntry *inv, enum img_kind kind,
		    int pid, bool must, struct arena *a, void ***out, size_t *n)
{
	struct img *img = dr_img_open(dirfd, dir, inv, kind, pid, must);

	*out = NULL;
	*n = 0;
	if (!img)
		return -errno;
	img_use_arena(img, a);
	return img_read_all_from(img, NULL, out, n);
}

int dr_pages_verify(int fd, const char *dir, const InventoryEntry *inv, const char *name,
		    bool hash)
{
	const ImageSum *sum;
	int r;

	if (!inv)
		return 0;
	r = img_sum_find(inv, dir, name, &sum);
	if (r <= 0)
		return r;
	if (hash)
		return img_sum_check_fd(fd, dir, sum);
	return 0;	/* the size was checked with the directory */
}
