/* The files stage of a dump: every open fd of a frozen process into
 * files-PID.img. What each kind of file holds is dumped by its kind
 * (common/fd/fd.h), beside the code that restores it. */
#ifndef CRIU_LITE_FILES_H
#define CRIU_LITE_FILES_H

#include <sys/types.h>

#include "common/fd/fd.h"

/* files.c: every fd of a frozen process into files-PID.img, in fd order.
 * tree: what the dump of the whole tree shares (descriptions, deleted files
 * saved, fd tables), every process of it still frozen; NULL for a process
 * on its own. */
int files_dump(int dirfd, pid_t pid, struct fd_dump_tree *tree);
/* The same, each regular file open for writing noted in fc (fcopy.h; NULL:
 * none), with what was read ahead of it (files_ahead.h; NULL: none). */
struct fcopy_set;
struct files_ahead;
int files_dump_ahead(int dirfd, pid_t pid, struct fd_dump_tree *tree, struct fcopy_set *fc,
		     struct files_ahead *fa);

#endif
