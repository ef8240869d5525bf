/* A process's cgroups as mounted here: see cgroup.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cgroup.h"
#include "common/procfs.h"

#define MAX_HIERS 32

/* Every item of the comma list `want` is an item of `have`. */
static bool items_in(const char *want, const char *have)
{
	size_t hl = strlen(have);

	while (*want) {
		size_t wl = strcspn(want, ",");
		bool found = false;

		for (const char *p = have; !found && p < have + hl; p += strcspn(p, ",") + 1)
			found = strcspn(p, ",") == wl && !strncmp(p, want, wl);
		if (!found)
			return false;
		want += wl + (want[wl] == ',');
	}
	return true;
}

/* The first mount of h's hierarchy: h->mnt, and the cgroup it shows as
 * its root in `root`. */
static int mount_of(struct cgroup_hier *h, char *root, size_t rlen)
{
	char line[2048];
	int r = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (r && fgets(line, sizeof(line), f)) {
		char mroot[512], mpoint[512], fstype[64], super[512];
		char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %511s %511s", mroot, mpoint) != 2 ||
		    sscanf(dash + 3, "%63s %*s %511s", fstype, super) != 2)
			continue;
		if (h->v2 ? strcmp(fstype, "cgroup2") :
			    strcmp(fstype, "cgroup") || !items_in(h->ctrl, super))
			continue;
		snprintf(h->mnt, sizeof(h->mnt), "%s", mpoint);
		snprintf(root, rlen, "%s", mroot);
		r = 0;
	}
	fclose(f);
	return r;
}

/* h->dir from the path /proc/PID/cgroup gives; -ENOENT if the mount does
 * not show it. */
static int place(struct cgroup_hier *h, const char *rel)
{
	char root[512];
	size_t rl;
	int r = mount_of(h, root, sizeof(root));

	if (r)
		return r;
	rl = strcmp(root, "/") ? strlen(root) : 0;
	if (strncmp(rel, root, rl) || (rel[rl] && rel[rl] != '/'))
		return -ENOENT;
	h->at_root = !rel[rl] || !strcmp(rel + rl, "/");
	if (snprintf(h->dir, sizeof(h->dir), "%s%s", h->mnt, h->at_root ? "" : rel + rl) >=
	    (int)sizeof(h->dir))
		return -ENAMETOOLONG;
	return 0;
}

int cgroup_each(pid_t pid, int (*fn)(const struct cgroup_hier *h, void *arg), void *arg)
{
	char line[1400];
	struct cgroup_hier h;
	int r = 0;
	FILE *f = procfs_fopen(pid, "cgroup", PROCFS_QUIET);

	if (!f)
		return -errno;
	while (!r && fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *rel;

		if (!ctrl || !(rel = strchr(++ctrl, ':')))
			continue;
		*rel++ = '\0';
		rel[strcspn(rel, "\n")] = '\0';
		h = (struct cgroup_hier){ .v2 = !strncmp(line, "0:", 2) && !*ctrl };
		snprintf(h.ctrl, sizeof(h.ctrl), "%s", ctrl);
		if (!place(&h, rel))
			r = fn(&h, arg);
	}
	fclose(f);
	return r;
}

struct find {
	bool v2;
	const char *ctrl;
	struct cgroup_hier *out;
};

static int match(const struct cgroup_hier *h, void *arg)
{
	struct find *w = arg;

	if (h->v2 != w->v2 || (!w->v2 && !items_in(w->ctrl, h->ctrl)))
		return 0;
	*w->out = *h;
	return 1;
}

int cgroup_find(pid_t pid, bool v2, const char *v1_ctrl, struct cgroup_hier *out)
{
	struct find w = { v2, v1_ctrl, out };
	int r = cgroup_each(pid, match, &w);

	return r == 1 ? 0 : r ? r : -ENOENT;
}

int cgroup_move(const char *dir, pid_t pid)
{
	char path[1100], num[24];
	int fd, r = 0, len;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(num, sizeof(num), "%d", (int)pid);
	if (write(fd, num, len) != len)
		r = -errno;
	close(fd);
	return r;
}
