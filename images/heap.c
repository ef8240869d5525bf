/* The heap made ready in bulk (heap.h).
 *
 * A dump of a server with a thousand connections faulted in some 700
 * pages more than one with none: its records of each socket, the entries
 * of its files image, each thread's malloc arena. At ~11 us a fault in
 * this guest that was ~8 ms of CPU, most of it in the dump's downtime.
 * So, once the size of the job is known and before any thread:
 * - what is freed at the top of the heap stays there (M_TRIM_THRESHOLD),
 *   and blocks of up to M_MMAP_THRESHOLD come from the heap too, not from
 *   mappings of their own, each faulted in again;
 * - the top is grown by `bytes` and populated at once (mem_populate).
 *
 * Each thread keeps its own arena, as glibc gives it. Every thread once
 * allocated from the main heap alone (M_ARENA_MAX 1, so that none faulted
 * in an arena of its own): the dump's two threads reading a thousand
 * connections then spent a quarter of that time in malloc and in the
 * futex of its lock. A thread that allocates much beside the main one
 * makes its own arena ready instead (heap_warm_thread). */
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>

#include "images/arena.h"
#include "images/heap.h"

#define MMAP_FROM (8 << 20)

/* heap_warm ran: what a thread frees stays with it (M_TRIM_THRESHOLD) */
static bool warmed;

/* `bytes` of the calling thread's arena populated, then freed to stay */
static void populate_kept(size_t bytes)
{
	void *p = malloc(bytes);

	if (!p)
		return;
	mem_populate(p, bytes);
	free(p);
}

void heap_warm(size_t bytes)
{
	if (!bytes || bytes > (256u << 20))
		return;
	mallopt(M_MMAP_THRESHOLD, MMAP_FROM);
	mallopt(M_TRIM_THRESHOLD, (int)(bytes + 2 * MMAP_FROM));
	warmed = true;
	populate_kept(bytes);
}

/* (a thread's arena is one mapping of 64 MiB at most: well below it) */
#define THREAD_WARM_MAX (32u << 20)

void heap_warm_thread(size_t bytes)
{
	/* (without heap_warm, the free would give it all back at once) */
	if (warmed && bytes && bytes <= THREAD_WARM_MAX)
		populate_kept(bytes);
}
