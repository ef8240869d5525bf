/* Which cgroups a process is in, as mounted here: one walk over
 * /proc/PID/cgroup and /proc/self/mountinfo for the freezer (which cgroup
 * to freeze), the guardian (which cgroups to leave) and fault injection
 * (which cgroup to kill). */
#ifndef CRIU_LITE_COMMON_CGROUP_H
#define CRIU_LITE_COMMON_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One hierarchy pid belongs to, at its first mount here. */
struct cgroup_hier {
	bool v2;
	char ctrl[128];		/* v1: the controllers or name=X of /proc/PID/cgroup */
	char mnt[512];		/* where the hierarchy is mounted */
	char dir[1024];		/* pid's cgroup, a full path under mnt */
	bool at_root;		/* pid sits in the root of what the mount shows */
};

/* fn for each mounted hierarchy pid is in (one whose cgroup lies outside
 * what the mount shows is skipped); the first non-zero fn returns stops the
 * walk and is returned. -errno if /proc cannot be read. */
int cgroup_each(pid_t pid, int (*fn)(const struct cgroup_hier *h, void *arg), void *arg);

/* pid's cgroup in the v2 hierarchy (v2) or the v1 hierarchy that has
 * controller `v1_ctrl`; -ENOENT when not mounted. */
int cgroup_find(pid_t pid, bool v2, const char *v1_ctrl, struct cgroup_hier *out);

/* Writes pid into dir/cgroup.procs: 0 or -errno (EBUSY: a v2 cgroup with
 * controllers on for its children holds no process). */
int cgroup_move(const char *dir, pid_t pid);

#endif
