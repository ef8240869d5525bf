/* The tree being seized as /proc shows it: processes, their threads and
 * parent links (seize.c's bookkeeping; private to seize*.c). */
#ifndef CRIU_LITE_SEIZE_SCAN_H
#define CRIU_LITE_SEIZE_SCAN_H

#include <stdbool.h>
#include <sys/types.h>

#include "criu-lite/freeze/seize.h"

struct proc_stat {
	char state;
	pid_t ppid, pgid, sid;
	unsigned int flags;	/* the task's PF_* flags */
};

/* /proc/PID/task/TID/stat, or /proc/PID/stat with tid 0. */
int ptree_read_stat(pid_t pid, pid_t tid, struct proc_stat *ps);
struct dump_proc *ptree_find(struct dump_tree *tree, pid_t pid);
bool ptree_gone(const struct dump_tree *tree, pid_t pid);
int ptree_add_proc(struct dump_tree *tree, pid_t pid, const struct proc_stat *ps);
/* Index of the new thread, or -ENOMEM. */
int ptree_add_thread(struct dump_proc *p, pid_t tid, char state);
void ptree_drop_thread(struct dump_proc *p, int i);
/* Append pid to a growing array (*v, *nr used, *cap allocated). */
int ptree_pid_push(pid_t **v, int *nr, int *cap, pid_t pid);
/* Add every live descendant not in the tree yet; how many were added. */
int ptree_collect_children(struct dump_tree *tree);
/* Forget what earlier scans read (each seize starts afresh). */
void ptree_cache_free(void);

#endif
