#ifndef CRIU_LITE_FILES_FD_LIST_H
#define CRIU_LITE_FILES_FD_LIST_H

#include <stddef.h>
#include <sys/types.h>

/* The fds of frozen process pid, ascending, and each one's link (NULL
 * where readlink failed: the walk reads it again and says why). */
int fd_list_read(pid_t pid, int **fds, size_t *nr, char ***links);
void fd_list_free(char **links, size_t nr);

#endif
