/* Each process's entries as its files image got them, kept until the end
 * of the dump (struct fd_dump_tree): dump_check_restorable asks restore's
 * checks of them (criu-lite/dump/restorable.c) without reading the image
 * back. Reading and unpacking a thousand connections' entries again was
 * 2-3 ms of a --kill's downtime, for the very messages just packed. A
 * process whose image was written again afterwards (track_forget_fd) has
 * its entries dropped: the check reads that image. */
#include <errno.h>
#include <stdlib.h>

#include "common/fd/fd.h"
#include "images/image.h"

struct fd_dump_entries {
	pid_t pid;
	FdEntry **e;
	size_t n, cap;
	bool whole;		/* every entry of its image is here */
};

static struct fd_dump_entries *find(const struct fd_dump_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr_entries; i++)
		if (t->entries[i].pid == pid)
			return &t->entries[i];
	return NULL;
}

static void drop(struct fd_dump_entries *k)
{
	for (size_t i = 0; i < k->n; i++)
		img_free(k->e[i]);
	free(k->e);
	k->e = NULL;
	k->n = k->cap = 0;
	k->whole = false;
}

static struct fd_dump_entries *start(struct fd_dump_tree *t, pid_t pid)
{
	struct fd_dump_entries *k = find(t, pid), *v;

	if (k)
		return k;
	if (!(v = realloc(t->entries, (t->nr_entries + 1) * sizeof(*v))))
		return NULL;
	t->entries = v;
	k = &v[t->nr_entries++];
	*k = (struct fd_dump_entries){ .pid = pid, .whole = true };
	return k;
}

static bool grow(struct fd_dump_entries *k)
{
	size_t cap = k->cap ? 2 * k->cap : 64;
	FdEntry **v = realloc(k->e, cap * sizeof(*v));

	if (v) {
		k->e = v;
		k->cap = cap;
	}
	return v != NULL;
}

void fd_dump_tree_keep(struct fd_dump_tree *t, pid_t pid, FdEntry *e)
{
	struct fd_dump_entries *k = start(t, pid);

	/* (no room: that process's image is read back instead) */
	if (k && k->whole && k->n == k->cap && !grow(k))
		drop(k);
	if (!k || !k->whole) {
		img_free(e);
		return;
	}
	k->e[k->n++] = e;
}

FdEntry *const *fd_dump_tree_entries(const struct fd_dump_tree *t, pid_t pid, size_t *n)
{
	const struct fd_dump_entries *k = find(t, pid);

	*n = k && k->whole ? k->n : 0;
	return k && k->whole ? k->e : NULL;
}

void fd_dump_tree_drop_entries(struct fd_dump_tree *t, pid_t pid)
{
	struct fd_dump_entries *k = find(t, pid);

	if (k)
		drop(k);
}

void fd_dump_entries_free(struct fd_dump_tree *t)
{
	for (size_t i = 0; i < t->nr_entries; i++)
		drop(&t->entries[i]);
	free(t->entries);
	t->entries = NULL;
	t->nr_entries = 0;
}
