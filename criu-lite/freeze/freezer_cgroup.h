/* The cgroup freezer, v2 (cgroup.freeze / cgroup.events) and v1
 * (freezer.state), for seize.c. A cgroup dir is a full path in the mounted
 * hierarchy, e.g. /sys/fs/cgroup/unified/job or /sys/fs/cgroup/freezer/job. */
#ifndef CRIU_LITE_FREEZER_CGROUP_H
#define CRIU_LITE_FREEZER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* 2 for a v2 cgroup dir, 1 for a v1 freezer cgroup dir, -errno otherwise. */
int fcg_kind(const char *dir);
/* Dir of pid's cgroup in the v2 (v2 = true) or v1 freezer hierarchy;
 * -ENOENT when that hierarchy is not mounted or pid sits in its root. */
int fcg_of_pid(pid_t pid, bool v2, char *dir, size_t len);
/* Every process in dir and the cgroups below it (malloc'ed array). */
int fcg_procs(const char *dir, pid_t **pids, int *nr);
/* Freeze and wait (bounded) until the kernel says frozen. *was_frozen tells
 * whether someone else had frozen it already. */
int fcg_freeze(const char *dir, int v2, int *was_frozen);
/* What fcg_freeze would say in *was_frozen, asked before it runs. */
int fcg_frozen_before(const char *dir, int v2);
int fcg_thaw(const char *dir, int v2);

#endif
