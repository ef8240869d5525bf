/* The mounts criu-lite sees (/proc/self/mountinfo), for the kernel probes
 * (where cgroups are mounted) and the cgroups of a process (cgroup.c). */
#ifndef CRIU_LITE_MOUNTINFO_H
#define CRIU_LITE_MOUNTINFO_H

#include <stdbool.h>

struct mountinfo {
	char root[512];		/* what of its filesystem the mount shows */
	char point[512];	/* where it is mounted */
	char fstype[64];
	char super[512];	/* the superblock's options (a v1 cgroup's controllers) */
};

/* fn for each mount, in order; fn returns true to stop. -errno when
 * mountinfo cannot be read, else 0. */
int mountinfo_each(bool (*fn)(const struct mountinfo *m, void *arg), void *arg);

#endif
