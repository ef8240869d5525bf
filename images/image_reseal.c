/* Rewrite inventory.img with the sums of the files as they are now: for
 * tools and tests that edit a dump on purpose (to hold the reader's other
 * rules to a damaged image, a checksum must not refuse it first). Never
 * called by dump, restore, convert or show. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "images/image.h"
#include "images/image_reseal.h"
#include "images/image_sum.h"
#include "images/log.h"

/* Frames of an image as they lie: u32 length, then that many bytes. A last
 * frame cut short still counts: the reader says what is wrong with it. */
static int64_t count_entries(int fd, uint64_t size)
{
	uint64_t pos = sizeof(uint32_t);
	int64_t n = 0;
	uint32_t len;

	while (pos + sizeof(len) <= size) {
		if (pread(fd, &len, sizeof(len), (off_t)pos) != sizeof(len))
			return -errno;
		pos += sizeof(len) + (uint64_t)len;
		n++;
	}
	return n;
}

/* A raw file of a dump: pages, or a file's copy (fcopy-N.data). */
static bool is_raw(const char *name)
{
	size_t n = strlen(name);

	return (!strncmp(name, "pages-", 6) && n > 10 && !strcmp(name + n - 4, ".img")) ||
	       img_is_fcopy_data(name);
}

static int note_file(int dirfd, const char *name)
{
	int fd, pid, r;
	uint64_t hash, size;
	int64_t entries = -1;
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
		return 0;
	if (img_kind_from_name(name, &pid) < 0 && !is_raw(name))
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	r = img_hash_fd(fd, &hash, &size);
	if (!r && !is_raw(name))
		entries = count_entries(fd, size);
	close(fd);
	if (r < 0 || (entries < 0 && !is_raw(name)))
		return r < 0 ? r : (int)entries;
	img_sum_note(dirfd, name, size, hash, entries);
	return 0;
}

int img_reseal(int dirfd)
{
	InventoryEntry *inv = NULL;
	struct dirent *de;
	DIR *d;
	int r, fd = dup(dirfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	r = img_read_one(dirfd, IMG_INVENTORY, 0, true, (void **)&inv);
	while (!r && (de = readdir(d)))
		if (strcmp(de->d_name, "inventory.img"))
			r = note_file(dirfd, de->d_name);
	closedir(d);
	if (!r)
		r = img_write_inventory(dirfd, inv);
	img_free(inv);
	return r;
}
