/* An arena for messages read from images: memory handed out by bumping a
 * pointer through chunks of 96 KiB, all given back at once. protobuf-c
 * makes about ten small mallocs for each fd_entry it unpacks (socket info,
 * options, addresses, strings) and protobuf_c_message_free_unpacked walks
 * every field descriptor of every message to free them again: for a
 * process with a thousand connections that was a fifth of a restore. In an
 * arena an entry costs a few pointer bumps, the chunks are populated in one
 * madvise each (a first-touch fault is ~10 us in a guest), and freeing is
 * one free() a chunk.
 *
 * The rule for whoever holds a message from an arena: it is never given to
 * img_free (nor protobuf_c_message_free_unpacked), and a field of it is
 * never freed nor realloc'd. A field replaced takes memory from the same
 * arena (arena_strdup, arena_calloc) and the old one is let go with
 * arena_release. Those three take NULL for "the message is on the heap"
 * (malloc, free), so code that holds either kind writes one line.
 *
 * Under AddressSanitizer each allocation is unpoisoned alone, with a
 * poisoned gap after it, and the chunks are malloc'd and freed: an
 * overflow past an allocation and any use after arena_free are reported
 * as for malloc'd memory. Not thread-safe: one thread allocates. */
#ifndef CRIU_LITE_ARENA_H
#define CRIU_LITE_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

struct arena;

struct arena *arena_new(void);
/* One whose big reads (arena_expect) go to huge pages: for the messages of
 * a process read in whole by a restore or a convert, whose heap nothing
 * warmed (images/heap.h). Filling 2 MiB here took ~0.15 ms in one huge page
 * the kernel had used lately, ~4.5 ms in one the guest had never touched
 * (the host backs it then), ~5.6 ms in small pages (~11 us each). A
 * thousand connections' entries, ~0.8 MiB on each of two threads, loaded
 * in 2.7 ms instead of 5.1 (restore, median of 12 paired runs; the wall
 * time 0.4-1.9 ms less); the 2 of those 12 given a cold huge page were
 * ~2 ms slower. (The two threads now share one: arena_expect_shared.) */
struct arena *arena_new_huge(void);
/* A new arena of a's kind (arena_new_huge's or not). */
struct arena *arena_new_like(const struct arena *a);
/* Every chunk, and the arena itself. NULL is fine. */
void arena_free(struct arena *a);
/* n bytes aligned for any type, uninitialised; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n);
/* An arena_new_huge one will take about `bytes` more: from here on it
 * bumps through one mapping of that much, in huge pages where the kernel
 * has them (MADV_HUGEPAGE). Nothing for a plain arena, below half a huge
 * page, or under AddressSanitizer (whose chunks stay malloc'd). */
void arena_expect(struct arena *a, size_t bytes);
/* An arena_new_huge `a` will take about `mine` more, and a worker's arena
 * about `theirs`. While both fit in one huge page, one mapping holds both
 * (one page to fill, and to find cold, rather than two: a cold one cost
 * 4.3-4.9 ms of a thousand connections' load), and the worker's arena,
 * returned, bumps through its end (then through chunks of its own; adopt
 * it back into a). Else as arena_expect(a, mine), and NULL: the worker
 * makes its own. */
struct arena *arena_expect_shared(struct arena *a, size_t mine, size_t theirs);
/* Every chunk of b now a's (b, filled by another thread, is freed). */
void arena_adopt(struct arena *a, struct arena *b);
/* The allocator protobuf_c_message_unpack takes; its free does nothing. */
ProtobufCAllocator *arena_pb(struct arena *a);

/* For fields of a message that lives in a, or on the heap when a is NULL. */
void *arena_calloc(struct arena *a, size_t n, size_t size);
char *arena_strdup(struct arena *a, const char *s);
void arena_release(struct arena *a, void *p);

/* The whole pages within [p, p + n) written to at once (MADV_POPULATE_WRITE,
 * ~0.5 us a page here, against a fault of ~10 us each as they are first
 * touched); a kernel without it (before 5.14) leaves them to fault in. For
 * any memory about to be written, not only an arena's. */
void mem_populate(void *p, size_t n);

#endif
