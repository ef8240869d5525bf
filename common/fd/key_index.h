/* An index from (kind, 64-bit key) to positions in an array that only
 * grows: restore looks its objects up by inode for every fd it makes, and
 * a thousand sockets scanned a thousand-long array each (twice). Open
 * addressing, doubled at half full; the first position put for a key is
 * the one kept (as a scan from the start finds it). */
#ifndef CRIU_LITE_COMMON_FD_KEY_INDEX_H
#define CRIU_LITE_COMMON_FD_KEY_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct key_slot;
struct key_index {
	struct key_slot *s;
	size_t cap, n;
	bool broken;		/* out of memory once: callers scan instead */
};

void key_index_put(struct key_index *x, int kind, uint64_t key, size_t pos);
/* The position put for (kind, key), -1 if none, -2 if the index is broken. */
long key_index_get(const struct key_index *x, int kind, uint64_t key);
void key_index_free(struct key_index *x);

#endif
