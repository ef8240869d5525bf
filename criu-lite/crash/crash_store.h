/* The crash store: one directory per crash under the store directory,
 * named by its ID (YYYYmmdd-HHMMSS-PID), holding crash.img (the record)
 * and the kernel's ELF core. A crash is written in a hidden temporary
 * directory (".tmp-OWNERPID-XXXXXX") and published by rename(2), so a
 * reader never lists a half-written crash; a temporary directory whose
 * owner died is swept away by the next writer. */
#ifndef CRIU_LITE_CRASH_STORE_H
#define CRIU_LITE_CRASH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "images/image.h"

#define CRASH_STORE_DEFAULT	"/var/lib/criu-lite/crashes"
#define CRASH_CORE_NAME		"core"
#define CRASH_ID_MAX		64

struct crash_store {
	int dirfd;
	char path[4096];
};

/* A crash being written. */
struct crash_tmp {
	int dirfd;
	char name[64];
};

struct crash_item {
	char id[CRASH_ID_MAX];
	CrashEntry *ce;		/* NULL when crash.img could not be read */
	uint64_t disk;		/* bytes the directory takes on disk */
};

/* Open (with `create`: make, and check that a file can be created in it) the
 * store at `path`. Logs one clear line and returns -errno on failure. */
int crash_store_open(const char *path, bool create, struct crash_store *s);
void crash_store_close(struct crash_store *s);

int crash_tmp_create(struct crash_store *s, struct crash_tmp *t);
/* Write crash.img into t, make everything durable, rename t to the crash's
 * ID (returned in id). On failure t is left for crash_tmp_discard. */
int crash_tmp_publish(struct crash_store *s, struct crash_tmp *t, const CrashEntry *ce, char *id,
		      size_t idlen);
void crash_tmp_discard(struct crash_store *s, struct crash_tmp *t);
/* Remove temporary directories whose writer is gone. */
void crash_store_sweep(struct crash_store *s);

/* Every published crash, oldest first. */
int crash_store_list(struct crash_store *s, struct crash_item **items, size_t *nr);
void crash_items_free(struct crash_item *items, size_t nr);
/* Resolve what the user typed: an exact ID, else a PID (its latest crash),
 * else a unique ID prefix. -ENOENT / -EEXIST (ambiguous), logged. */
int crash_store_find(struct crash_store *s, const char *what, char *id, size_t idlen);
/* Remove the oldest crashes until at most max_count remain and they take
 * at most max_size bytes (0: no limit). `keep` (just stored) stays. */
int crash_store_retain(struct crash_store *s, uint64_t max_size, uint64_t max_count,
		       const char *keep);
/* Remove one crash directory (its files, then itself). */
int crash_store_remove(struct crash_store *s, const char *name);

#endif
