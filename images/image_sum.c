/* Hashes of the files of a dump: computed while writing, listed in the
 * inventory, checked by the readers (image_sum.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "images/arena.h"
#include "images/image_sum.h"
#include "images/log.h"

#define HASH_BUF (1u << 20)

int img_hash_init(struct img_hash *h)
{
	h->size = 0;
	h->st = XXH3_createState();
	if (!h->st)
		return -ENOMEM;
	XXH3_64bits_reset(h->st);
	return 0;
}

void img_hash_update(struct img_hash *h, const void *p, size_t n)
{
	if (!h->st)
		return;
	XXH3_64bits_update(h->st, p, n);
	h->size += n;
}

uint64_t img_hash_digest(const struct img_hash *h)
{
	return h->st ? XXH3_64bits_digest(h->st) : 0;
}

void img_hash_fini(struct img_hash *h)
{
	if (h->st)
		XXH3_freeState(h->st);
	h->st = NULL;
}

void img_hash_reset(struct img_hash *h)
{
	if (h->st)
		XXH3_64bits_reset(h->st);
	h->size = 0;
}

int img_hash_fd_into(int fd, struct img_hash *h, void *buf, size_t len)
{
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = pread(fd, buf, len, (off_t)h->size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		img_hash_update(h, buf, (size_t)n);
	}
}

int img_hash_fd(int fd, uint64_t *hash, uint64_t *size)
{
	/* One buffer, kept (and one hash at a time through it): a fresh one
	 * for each image was pages first touched again each time (~15 us each
	 * in this guest), for the size of every image hashed. */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint8_t *buf;
	static size_t ready;
	struct img_hash h;
	struct stat st;
	int r;

	pthread_mutex_lock(&lock);
	if (!buf)
		buf = aligned_alloc(4096, HASH_BUF);
	/* as far as this image needs, once: pread touching the buffer page
	 * by page was a fault each (a 200 KiB image, 0.5 ms) */
	if (buf && !fstat(fd, &st) && (size_t)st.st_size > ready) {
		size_t want = (size_t)st.st_size < HASH_BUF ? (size_t)st.st_size : HASH_BUF;

		want = (want + 4095) & ~(size_t)4095;
		mem_populate(buf + ready, want - ready);
		ready = want;
	}
	r = buf ? img_hash_init(&h) : -ENOMEM;
	if (!r) {
		r = img_hash_fd_into(fd, &h, buf, HASH_BUF);
		if (!r) {
			*hash = img_hash_digest(&h);
			*size = h.size;
		}
		img_hash_fini(&h);
	}
	pthread_mutex_unlock(&lock);
	return r;
}

/* What the writers of this process noted, per directory (dev, ino). */
struct note {
	dev_t dev;
	ino_t ino;
	char name[64];
	uint64_t size, hash;
	int64_t entries;
	bool pending;		/* raw file whose hash is read back at inventory time */
	struct note *next;
};

static struct note *notes;
static pthread_mutex_t notes_mu = PTHREAD_MUTEX_INITIALIZER;

static int dir_id(int dirfd, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (fstat(dirfd, &st))
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

/* Unlinks the note of (dev, ino, name) from the list and returns it. */
static struct note *take(dev_t dev, ino_t ino, const char *name)
{
	for (struct note **pp = &notes; *pp; pp = &(*pp)->next) {
		struct note *n = *pp;

		if (n->dev == dev && n->ino == ino && !strcmp(n->name, name)) {
			*pp = n->next;
			return n;
		}
	}
	return NULL;
}

static void note(int dirfd, const char *name, uint64_t size, uint64_t hash, int64_t entries,
		 bool pending)
{
	struct note *n;
	dev_t dev;
	ino_t ino;

	if (dir_id(dirfd, &dev, &ino) || strlen(name) >= sizeof(n->name))
		return;		/* unlisted: readers will refuse the file, not trust it */
	pthread_mutex_lock(&notes_mu);
	n = take(dev, ino, name);
	if (!n)
		n = calloc(1, sizeof(*n));
	if (n) {
		*n = (struct note){ .dev = dev, .ino = ino, .size = size, .hash = hash,
				    .entries = entries, .pending = pending, .next = notes };
		snprintf(n->name, sizeof(n->name), "%s", name);
		notes = n;
	}
	pthread_mutex_unlock(&notes_mu);
}

void img_sum_note(int dirfd, const char *name, uint64_t size, uint64_t hash, int64_t entries)
{
	note(dirfd, name, size, hash, entries, false);
}

void img_sum_note_raw(int dirfd, const char *name)
{
	note(dirfd, name, 0, 0, -1, true);
}

void img_sum_forget(int dirfd, const char *name)
{
	dev_t dev;
	ino_t ino;

	if (dir_id(dirfd, &dev, &ino))
		return;
	pthread_mutex_lock(&notes_mu);
	free(take(dev, ino, name));
	pthread_mutex_unlock(&notes_mu);
}

/* The note's file as it is on disk now: a raw file's hash is read back;
 * a file gone since (a failed step removed it) is left out (0). */
static int settle(int dirfd, struct note *n)
{
	int fd = openat(dirfd, n->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	int r = 1;

	if (fd < 0)
		return errno == ENOENT ? 0 : pr_perror("cannot open %s to hash it", n->name);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		r = pr_perror("%s is not a regular file", n->name);
	else if (n->pending)
		r = img_hash_fd(fd, &n->hash, &n->size) ? pr_perror("cannot hash %s", n->name) : 1;
	else if ((uint64_t)st.st_size != n->size) {
		pr_err("%s changed after it was written (%lld bytes, %llu written)", n->name,
		       (long long)st.st_size, (unsigned long long)n->size);
		r = -EIO;
	}
	close(fd);
	return r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(ImageSum *const *)a)->name, (*(ImageSum *const *)b)->name);
}

static int add_sum(InventoryEntry *inv, const struct note *n)
{
	ImageSum *s = malloc(sizeof(*s));

	if (!s)
		return -ENOMEM;
	image_sum__init(s);
	s->name = strdup(n->name);
	if (!s->name) {
		free(s);
		return -ENOMEM;
	}
	s->size = n->size;
	s->hash = n->hash;
	s->has_entries = n->entries >= 0;
	s->entries = n->entries >= 0 ? (uint32_t)n->entries : 0;
	inv->sums[inv->n_sums++] = s;
	return 0;
}

int img_sum_fill(int dirfd, InventoryEntry *inv)
{
	struct note *mine = NULL, **pp, *n;
	size_t cnt = 0;
	dev_t dev;
	ino_t ino;
	int r;

	inv->n_sums = 0;
	inv->sums = NULL;
	inv->has_sum_algo = 1;
	inv->sum_algo = IMG_SUM_XXH3;
	if ((r = dir_id(dirfd, &dev, &ino)))
		return pr_perror("cannot stat the dump directory");
	pthread_mutex_lock(&notes_mu);
	for (pp = &notes; (n = *pp);) {
		/* inventory.img is sealed instead (a test may write one as an image). */
		if (n->dev != dev || n->ino != ino || !strcmp(n->name, "inventory.img")) {
			pp = &n->next;
			continue;
		}
		*pp = n->next;
		n->next = mine;
		mine = n;
		cnt++;
	}
	pthread_mutex_unlock(&notes_mu);
	inv->sums = calloc(cnt + 1, sizeof(*inv->sums));
	r = inv->sums ? 0 : -ENOMEM;
	for (n = mine; n && !r; n = n->next) {
		r = settle(dirfd, n);
		r = r > 0 ? add_sum(inv, n) : r;
	}
	while ((n = mine)) {
		mine = n->next;
		free(n);
	}
	if (!r)
		qsort(inv->sums, inv->n_sums, sizeof(*inv->sums), by_name);
	else
		img_sum_fill_free(inv);
	return r;
}

void img_sum_fill_free(InventoryEntry *inv)
{
	for (size_t i = 0; i < inv->n_sums; i++) {
		free(inv->sums[i]->name);
		free(inv->sums[i]);
	}
	free(inv->sums);
	inv->sums = NULL;
	inv->n_sums = 0;
}

int img_sum_find(const InventoryEntry *inv, const char *dir, const char *name,
		 const ImageSum **out)
{
	*out = NULL;
	if (!inv->has_sum_algo)
		return 0;
	for (size_t i = 0; i < inv->n_sums; i++)
		if (!strcmp(inv->sums[i]->name, name)) {
			*out = inv->sums[i];
			return 1;
		}
	pr_err("%s: %s is not a file this dump wrote (not in inventory.img)", dir, name);
	return -EBADMSG;
}

static int check_contents(int dirfd, const char *dir, const ImageSum *s)
{
	int fd = openat(dirfd, s->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int r;

	if (fd < 0)
		return pr_perror("%s: cannot open %s", dir, s->name);
	r = img_sum_check_fd(fd, dir, s);
	close(fd);
	return r;
}

int img_sum_check_dir(int dirfd, const char *dir, const InventoryEntry *inv, unsigned hash)
{
	if (inv->has_sum_algo && inv->sum_algo != IMG_SUM_XXH3) {
		pr_err("%s: inventory.img: unknown checksum kind %u", dir, inv->sum_algo);
		return -EBADMSG;
	}
	for (size_t i = 0; i < inv->n_sums; i++) {
		const ImageSum *s = inv->sums[i];
		struct stat st;

		if (!*s->name || strchr(s->name, '/') || !strcmp(s->name, "..")) {
			pr_err("%s: inventory.img lists a bad file name '%s'", dir, s->name);
			return -EBADMSG;
		}
		if (fstatat(dirfd, s->name, &st, AT_SYMLINK_NOFOLLOW))
			return pr_perror("%s: %s", dir, s->name);
		if (!S_ISREG(st.st_mode)) {
			pr_err("%s: %s is not a regular file", dir, s->name);
			return -EBADMSG;
		}
		if ((uint64_t)st.st_size != s->size) {
			pr_err("%s: %s is %lld bytes, the dump wrote %llu (cut short or grown)", dir,
			       s->name, (long long)st.st_size, (unsigned long long)s->size);
			return -EBADMSG;
		}
	}
	for (size_t i = 0; i < inv->n_sums; i++) {
		const ImageSum *s = inv->sums[i];
		int r;

		if (!(hash & (s->has_entries ? IMG_SUM_IMAGES : IMG_SUM_RAW)))
			continue;
		if ((r = check_contents(dirfd, dir, s)) < 0)
			return r;
	}
	return 0;
}

int img_sum_check_fd(int fd, const char *dir, const ImageSum *s)
{
	uint64_t hash, size;
	int r = img_hash_fd(fd, &hash, &size);

	return img_sum_verdict(dir, s, r, hash, size);
}

int img_sum_verdict(const char *dir, const ImageSum *s, int err, uint64_t hash, uint64_t size)
{
	if (err < 0) {
		errno = -err;
		return pr_perror("%s: cannot read %s", dir, s->name);
	}
	if (size != s->size) {
		pr_err("%s: %s is %llu bytes, the dump wrote %llu (cut short or grown)", dir,
		       s->name, (unsigned long long)size, (unsigned long long)s->size);
		return -EBADMSG;
	}
	if (hash != s->hash) {
		pr_err("%s: %s does not match its checksum in inventory.img (corrupt)", dir,
		       s->name);
		return -EBADMSG;
	}
	return 0;
}
