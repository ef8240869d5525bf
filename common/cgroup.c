/* A process's cgroups as mounted here: see cgroup.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cgroup.h"
#include "common/mountinfo.h"
#include "common/procfs.h"

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

/* The cgroup mounts, read once for a whole walk of /proc/PID/cgroup. */
struct cg_mounts {
	struct mountinfo *m;
	size_t n, cap;
	int err;
};

static bool keep_cgroup_mount(const struct mountinfo *m, void *arg)
{
	struct cg_mounts *c = arg;

	if (strcmp(m->fstype, "cgroup2") && strcmp(m->fstype, "cgroup"))
		return false;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct mountinfo *v = realloc(c->m, cap * sizeof(*v));

		if (!v) {
			c->err = -ENOMEM;
			return true;
		}
		c->m = v;
		c->cap = cap;
	}
	c->m[c->n++] = *m;
	return false;
}

/* The first mount of h's hierarchy: h->mnt, and the cgroup it shows as
 * its root in `root`. */
static int mount_of(struct cgroup_hier *h, const struct cg_mounts *c, char *root, size_t rlen)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct mountinfo *m = &c->m[i];

		if (h->v2 ? strcmp(m->fstype, "cgroup2") :
			    strcmp(m->fstype, "cgroup") || !items_in(h->ctrl, m->super))
			continue;
		snprintf(h->mnt, sizeof(h->mnt), "%s", m->point);
		snprintf(root, rlen, "%s", m->root);
		return 0;
	}
	return -ENOENT;
}

/* h->dir from the path /proc/PID/cgroup gives; -ENOENT if the mount does
 * not show it. */
static int place(struct cgroup_hier *h, const struct cg_mounts *c, const char *rel)
{
	char root[512];
	size_t rl;
	int r = mount_of(h, c, root, sizeof(root));

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
	struct cg_mounts mounts = { 0 };
	char line[1400];
	struct cgroup_hier h;
	int r = 0;
	FILE *f = procfs_fopen(pid, "cgroup", PROCFS_QUIET);

	if (!f)
		return -errno;
	r = mountinfo_each(keep_cgroup_mount, &mounts);
	if (!r)
		r = mounts.err;
	while (!r && fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *rel;

		if (!ctrl || !(rel = strchr(++ctrl, ':')))
			continue;
		*rel++ = '\0';
		rel[strcspn(rel, "\n")] = '\0';
		h = (struct cgroup_hier){ .v2 = !strncmp(line, "0:", 2) && !*ctrl };
		snprintf(h.ctrl, sizeof(h.ctrl), "%s", ctrl);
		if (!place(&h, &mounts, rel))
			r = fn(&h, arg);
	}
	fclose(f);
	free(mounts.m);
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
