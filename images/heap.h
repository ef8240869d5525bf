/* The heap made ready, in bulk, for a run that will allocate much. */
#ifndef CRIU_LITE_IMAGES_HEAP_H
#define CRIU_LITE_IMAGES_HEAP_H

#include <stddef.h>

/* Some `bytes` at the top of the heap populated at once and kept for the
 * mallocs to come: a page first touched here costs ~11 us (a fault),
 * populated in bulk ~0.6 us. Call before any thread starts. */
void heap_warm(size_t bytes);
/* The same for the calling thread's own arena, for a thread that will
 * allocate much; only after heap_warm (which keeps what is freed), else
 * nothing. */
void heap_warm_thread(size_t bytes);

#endif
