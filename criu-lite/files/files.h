/* The files stage of a dump: every open fd of a frozen process into
 * files-PID.img. What each kind of file holds is dumped by its kind
 * (common/fd/fd.h), beside the code that restores it. */
#ifndef CRIU_LITE_FILES_H
#define CRIU_LITE_FILES_H

#include <sys/types.h>

/* files.c: every fd of a frozen process into files-PID.img, in fd order. */
int files_dump(int dirfd, pid_t pid);
/* The same for a process of a frozen tree of `nr_tree` processes (tree[]): an
 * fd may refer to what another process of the tree holds (epoll). */
int files_dump_in_tree(int dirfd, pid_t pid, const pid_t *tree, size_t nr_tree);

#endif
