#ifndef CRIU_LITE_FILES_AHEAD_H
#define CRIU_LITE_FILES_AHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sk_cache;
struct files_ahead;

/* Before a frozen process's threads and memory are dumped: its fds listed
 * and their links read now (many fds: on a second thread), and, for a
 * process with many sockets, its network namespace's socket tables, then
 * its connections, read on that thread meanwhile. NULL when nothing was
 * read (the walk then reads it all itself, and says what failed). */
struct files_ahead *files_ahead_start(pid_t pid);
/* The process no longer runs code criu-lite injected: the connections'
 * reads may start (they wait for it). */
void files_ahead_go(struct files_ahead *fa);
/* For the walk: the fds and links (now the caller's), and the socket
 * tables (*sk, *sk_loaded set) when they were read, with the connections
 * read ahead in them: takes its part of those reads, then waits for them.
 * < 0: reading the tables failed, as the walk's own reading would;
 * -EAGAIN: listing them failed, the walk lists them itself. */
int files_ahead_take(struct files_ahead *fa, int **fds, size_t *nr, char ***links,
		     struct sk_cache **sk, bool *sk_loaded);
/* Whatever was not taken (joins the thread first). */
void files_ahead_free(struct files_ahead *fa);

#endif
