/* Bump allocation through malloc'd chunks (see arena.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "images/arena.h"

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif

#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_GAP	16	/* poisoned after each allocation: overflows are caught */
#else
#define ASAN_POISON_MEMORY_REGION(p, n)		((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n)	((void)(p), (void)(n))
#define ARENA_GAP	0
#endif

#define ARENA_ALIGN	16u		/* malloc's: any type fits */
/* Chunks stay under glibc's mmap threshold (128 KiB): they come from the
 * heap, where a process that freed messages before (the dump, once it has
 * written its images) finds pages already faulted in; fresh ones are
 * populated at once. An allocation over a quarter of this gets a chunk of
 * its own. */
#define ARENA_CHUNK	(96u << 10)
#define ARENA_PAGE	4096u
#define ARENA_HUGE	(2u << 20)

struct chunk {
	struct chunk *next;
	size_t size;		/* bytes after the header */
	size_t mapped;		/* a mapping of its own (arena_expect): its length */
	size_t pad;		/* the data after the header stays 16-aligned */
};

struct arena {
	ProtobufCAllocator pb;
	/* Every chunk, oldest first: freed in that order, glibc merges each
	 * with the one before and gives the top of the heap back once, not
	 * once a chunk (a brk call each: 13 ms for 20 chunks here). */
	struct chunk *first, **last;
	unsigned char *cur, *end;	/* what is left of the chunk being bumped */
	bool huge;		/* arena_expect maps huge pages (arena_new_huge) */
};

_Static_assert(sizeof(struct chunk) % ARENA_ALIGN == 0, "chunk data must stay aligned");

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

/* One madvise populates what would fault in page by page as protobuf-c
 * writes it. A kernel without MADV_POPULATE_WRITE (before 5.14) says
 * EINVAL: the pages then fault in as before. */
void mem_populate(void *p, size_t n)
{
	uintptr_t s = round_up((uintptr_t)p, ARENA_PAGE);
	uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(ARENA_PAGE - 1);

	if (e > s)
		(void)madvise((void *)s, e - s, MADV_POPULATE_WRITE);
}

static unsigned char *chunk_new(struct arena *a, size_t size)
{
	struct chunk *c;

	if (size > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->mapped = 0;
	*a->last = c;
	a->last = &c->next;
	ASAN_POISON_MEMORY_REGION(c + 1, size);
	mem_populate(c + 1, size);
	return (unsigned char *)(c + 1);
}

static void *pb_alloc(void *data, size_t n)
{
	return arena_alloc(data, n);
}

/* protobuf-c frees its scratch (and a half-unpacked message on a decoding
 * error) through here: the arena takes it back with everything else. */
static void pb_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

struct arena *arena_new(void)
{
	struct arena *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->pb = (ProtobufCAllocator){ .alloc = pb_alloc, .free = pb_free, .allocator_data = a };
	a->last = &a->first;
	return a;
}

struct arena *arena_new_huge(void)
{
	struct arena *a = arena_new();

	if (a)
		a->huge = true;
	return a;
}

struct arena *arena_new_like(const struct arena *a)
{
	return a && a->huge ? arena_new_huge() : arena_new();
}

void arena_free(struct arena *a)
{
	if (!a)
		return;
	for (struct chunk *c = a->first, *next; c; c = next) {
		next = c->next;
		ASAN_UNPOISON_MEMORY_REGION(c + 1, c->size);
		if (c->mapped)
			munmap(c, c->mapped);
		else
			free(c);
	}
	free(a);
}

#ifndef ARENA_ASAN
/* A mapping aligned to a huge page: mapped a huge page longer, the
 * excess unmapped at both ends. */
static void *map_huge(size_t len)
{
	unsigned char *m = mmap(NULL, len + ARENA_HUGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t s;

	if (m == MAP_FAILED)
		return NULL;
	s = round_up((uintptr_t)m, ARENA_HUGE);
	if (s > (uintptr_t)m)
		munmap(m, s - (uintptr_t)m);
	if ((uintptr_t)m + ARENA_HUGE > s)
		munmap((void *)(s + len), (uintptr_t)m + ARENA_HUGE - s);
	return (void *)s;
}

void arena_expect(struct arena *a, size_t bytes)
{
	struct chunk *c;
	size_t len;

	if (!a->huge || bytes < ARENA_HUGE / 4 || bytes > SIZE_MAX / 2)
		return;
	len = round_up(bytes + sizeof(*c), ARENA_HUGE);
	if (!(c = map_huge(len)))
		return;
	(void)madvise(c, len, MADV_HUGEPAGE);
	mem_populate(c, round_up(bytes + sizeof(*c), ARENA_PAGE));
	c->next = NULL;
	c->size = len - sizeof(*c);
	c->mapped = len;
	*a->last = c;
	a->last = &c->next;
	a->cur = (unsigned char *)(c + 1);
	a->end = a->cur + c->size;
}
#else
/* Under AddressSanitizer every chunk stays malloc'd (arena.h). */
void arena_expect(struct arena *a, size_t bytes)
{
	(void)a;
	(void)bytes;
}
#endif

struct arena *arena_expect_shared(struct arena *a, size_t mine, size_t theirs)
{
	size_t lent = round_up(theirs, ARENA_ALIGN), room = ARENA_HUGE - sizeof(struct chunk);
	struct arena *b;

	if (!a->huge || mine > room || lent > room - mine) {
		arena_expect(a, mine);
		return NULL;
	}
	arena_expect(a, mine + lent);
	if ((size_t)(a->end - a->cur) < mine + lent || !(b = arena_new_like(a)))
		return NULL;
	/* a keeps the front; b owns no chunk, and goes with a's */
	a->end -= lent;
	b->cur = a->end;
	b->end = b->cur + lent;
	return b;
}

void arena_adopt(struct arena *a, struct arena *b)
{
	if (b->first) {
		*a->last = b->first;
		a->last = b->last;
	}
	free(b);
}

void *arena_alloc(struct arena *a, size_t n)
{
	size_t need;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	need = round_up(n ? n : 1, ARENA_ALIGN) + ARENA_GAP;
	if ((size_t)(a->end - a->cur) < need) {
		/* A large one gets its own chunk, and the current chunk
		 * keeps serving the small ones. */
		if (need > ARENA_CHUNK / 4) {
			p = chunk_new(a, need);
			if (p)
				ASAN_UNPOISON_MEMORY_REGION(p, n);
			return p;
		}
		p = chunk_new(a, ARENA_CHUNK);
		if (!p)
			return NULL;
		a->cur = p;
		a->end = a->cur + ARENA_CHUNK;
	}
	p = a->cur;
	a->cur += need;
	ASAN_UNPOISON_MEMORY_REGION(p, n);
	return p;
}

ProtobufCAllocator *arena_pb(struct arena *a)
{
	return &a->pb;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
	void *p;

	if (!a)
		return calloc(n, size);
	if (size && n > SIZE_MAX / size)
		return NULL;
	p = arena_alloc(a, n * size);
	return p ? memset(p, 0, n * size) : NULL;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (!a)
		return strdup(s);
	p = arena_alloc(a, n);
	return p ? memcpy(p, s, n) : NULL;
}

void arena_release(struct arena *a, void *p)
{
	if (!a)
		free(p);
}
