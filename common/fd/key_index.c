/* key_index.h: open addressing with linear probing; a slot holds its
 * position plus one, 0 being empty. */
#include <stdlib.h>

#include "common/fd/key_index.h"

struct key_slot {
	uint64_t key;
	int kind;
	uint32_t pos1;
};

static size_t hash(int kind, uint64_t key, size_t cap)
{
	uint64_t h = (key ^ ((uint64_t)(uint32_t)kind << 48)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (cap - 1);
}

/* The slot of (kind, key), or the empty one where it would go. */
static struct key_slot *find(const struct key_index *x, int kind, uint64_t key)
{
	size_t i = hash(kind, key, x->cap);

	while (x->s[i].pos1 && (x->s[i].kind != kind || x->s[i].key != key))
		i = (i + 1) & (x->cap - 1);
	return &x->s[i];
}

static bool grow(struct key_index *x)
{
	struct key_index n = { .cap = x->cap ? x->cap * 2 : 64 };

	n.s = calloc(n.cap, sizeof(*n.s));
	if (!n.s)
		return false;
	for (size_t i = 0; i < x->cap; i++)
		if (x->s[i].pos1)
			*find(&n, x->s[i].kind, x->s[i].key) = x->s[i];
	free(x->s);
	x->s = n.s;
	x->cap = n.cap;
	return true;
}

void key_index_put(struct key_index *x, int kind, uint64_t key, size_t pos)
{
	struct key_slot *s;

	if (x->broken)
		return;
	if (pos >= UINT32_MAX || ((x->n + 1) * 2 > x->cap && !grow(x))) {
		key_index_free(x);
		x->broken = true;
		return;
	}
	s = find(x, kind, key);
	if (s->pos1)
		return;
	*s = (struct key_slot){ key, kind, (uint32_t)pos + 1 };
	x->n++;
}

long key_index_get(const struct key_index *x, int kind, uint64_t key)
{
	const struct key_slot *s;

	if (x->broken)
		return -2;
	if (!x->cap)
		return -1;
	s = find(x, kind, key);
	return s->pos1 ? (long)s->pos1 - 1 : -1;
}

void key_index_free(struct key_index *x)
{
	free(x->s);
	x->s = NULL;
	x->cap = x->n = 0;
	x->broken = false;
}
