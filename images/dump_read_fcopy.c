/* fcopy.img of a criu-lite dump (criu-lite/files/fcopy.c writes it): the
 * files the tree could write, each with its identity at the dump and the
 * raw copy of its bytes, if one was taken. Held to the same rules as every
 * image: listed in inventory.img with its sum, and each copy it names a
 * plain fcopy-N.data file of the dump that inventory.img lists at the size
 * the entry says (its bytes are hashed with the pages files). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/dump_read_backend.h"
#include "images/image_sum.h"
#include "images/log.h"

static int check_entry(const struct dump_read *d, const FcopyEntry *e)
{
	const ImageSum *sum;
	int r;

	if (!e->copy)
		return 0;
	if (!img_is_fcopy_data(e->copy)) {
		pr_err("%s: fcopy.img names a bad copy '%s' for %s", d->dir, e->copy, e->path);
		return -EBADMSG;
	}
	r = img_sum_find(d->inv, d->dir, e->copy, &sum);
	if (r < 0)
		return r;
	if (r > 0 && sum->size != e->size) {
		pr_err("%s: %s holds %llu bytes, fcopy.img says %s had %llu", d->dir, e->copy,
		       (unsigned long long)sum->size, e->path, (unsigned long long)e->size);
		return -EBADMSG;
	}
	return 0;
}

int dr_fcopy_load(struct dump_read *d, FcopyEntry ***out, size_t *n)
{
	int r;

	*out = NULL;
	*n = 0;
	if (d->fmt != &dr_format_native || d->dirfd < 0)
		return 0;
	r = dr_img_read_all(d->dirfd, d->dir, d->inv, IMG_FCOPY, 0, false, NULL, (void ***)out, n);
	if (r == -ENOENT)
		return 0;	/* none noted, or a dump older than copies */
	for (size_t i = 0; !r && i < *n; i++)
		r = check_entry(d, (*out)[i]);
	if (r) {
		img_free_all((void **)*out, *n);
		*out = NULL;
		*n = 0;
	}
	return r;
}

int dr_fcopy_open(const struct dump_read *d, const FcopyEntry *e)
{
	int fd = openat(d->dirfd, e->copy, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;

	if (fd < 0)
		return pr_perror("%s: cannot open %s", d->dir, e->copy);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
		pr_err("%s: %s is not the %llu bytes of %s fcopy.img lists", d->dir, e->copy,
		       (unsigned long long)e->size, e->path);
		close(fd);
		return -EBADMSG;
	}
	return fd;
}
