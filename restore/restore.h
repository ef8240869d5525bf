/* The `restore` verb, for the verb table: argv[0] is "restore"; returns the
 * exit status. Everything else of restore/ is private to it (rst.h). */
#ifndef CRIU_LITE_RESTORE_H
#define CRIU_LITE_RESTORE_H

#include <sys/types.h>

int cmd_restore(int argc, char **argv);

/* restore --replay for `criu-lite replay` (argv as restore takes it, without
 * -d): once the tree is stopped and attachable, then(root, arg) runs in
 * criu-lite, which stays the parent of the replay's init (so the replay
 * dies with it). Its return value is the exit status; the replay is ended
 * when it returns. */
int restore_replay(int argc, char **argv, int (*then)(pid_t root, void *arg), void *arg);

#endif
