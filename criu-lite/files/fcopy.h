/* The files a dumped tree could write (open for writing, mapped MAP_SHARED),
 * copied into the dump while it is frozen, so that a replay gets them as of
 * the dump (issue 14): fcopy.img lists them, fcopy-N.data holds each one's
 * bytes. The dump notes candidates as it walks fds and maps, copies them
 * all at once before the thaw, and writes fcopy.img after it. */
#ifndef CRIU_LITE_FCOPY_H
#define CRIU_LITE_FCOPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "images/image.h"

/* The default --file-copy-limit: see fcopy.c. */
#define FCOPY_LIMIT_DEFAULT (64ull << 20)

struct fcopy_item {
	pid_t pid;
	char src[48];		/* under /proc/PID/: "fd/N" or "map_files/A-B" */
	char *path;		/* as the dump records it */
	uint64_t dev, ino;
	bool mapped_shared;
	bool dropped;		/* not a regular file after all (a device) */
	FcopyEntry e;		/* filled by fcopy_take */
};

struct fcopy_set {
	uint64_t limit;		/* bytes all copies may take, 0: none */
	uint64_t copied;	/* bytes copied */
	uint64_t took_ns;	/* time the copies took (frozen) */
	struct fcopy_item *v;
	size_t n, cap;
};

/* An fd just dumped: noted if it is a regular file opened for writing. */
int fcopy_note_fd(struct fcopy_set *s, pid_t pid, const FdEntry *e);
/* pid's MAP_SHARED mappings of regular files (its maps), frozen. */
int fcopy_note_maps(struct fcopy_set *s, pid_t pid);
/* Frozen: every noted file copied into dirfd while the budget lasts; one
 * line per file left out. 0, or -errno (logged) when a copy could not be
 * written (a full disk: the dump fails rather than lack it). */
int fcopy_take(struct fcopy_set *s, int dirfd);
/* fcopy.img, once the tree runs again (none when nothing was noted). */
int fcopy_write(const struct fcopy_set *s, int dirfd);
void fcopy_set_free(struct fcopy_set *s);

#endif
