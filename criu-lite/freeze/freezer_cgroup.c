/* cgroup freezer access: find a process's cgroup, list what a cgroup holds,
 * freeze and thaw (v2 and v1). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "criu-lite/freeze/freezer_cgroup.h"
#include "common/cgroup.h"
#include "common/procfs.h"
#include "images/clock.h"
#include "images/log.h"

/* Freezing waits for every task to reach a freezable point; a task stuck in
 * an uninterruptible sleep (NFS, a vfork parent) never gets there. */
#define FREEZE_TIMEOUT_MS 10000

static int read_attr(const char *dir, const char *name, char *buf, size_t len)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return procfs_read_small(path, buf, len);
}

static int write_attr(const char *dir, const char *name, const char *val)
{
	char path[1024];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("cannot open %s", path);
	if (write(fd, val, strlen(val)) < 0)
		r = pr_perror("cannot write '%s' to %s", val, path);
	close(fd);
	return r;
}

int fcg_kind(const char *dir)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/cgroup.freeze", dir);
	if (!access(path, W_OK))
		return 2;
	snprintf(path, sizeof(path), "%s/freezer.state", dir);
	if (!access(path, W_OK))
		return 1;
	return -EINVAL;
}

int fcg_of_pid(pid_t pid, bool v2, char *dir, size_t len)
{
	struct cgroup_hier h;
	int r = cgroup_find(pid, v2, "freezer", &h);

	if (r)
		return r;
	if (h.at_root)
		return -ENOENT;		/* the root cgroup cannot be frozen */
	if (snprintf(dir, len, "%s", h.dir) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int add_pid(pid_t **pids, int *nr, int *cap, pid_t pid)
{
	if (*nr == *cap) {
		int ncap = *cap ? *cap * 2 : 32;
		pid_t *n = realloc(*pids, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		*pids = n;
		*cap = ncap;
	}
	(*pids)[(*nr)++] = pid;
	return 0;
}

static int list_procs(const char *dir, pid_t **pids, int *nr, int *cap, int depth)
{
	char path[1024];
	struct dirent *de;
	int r = 0, pid;
	FILE *f;
	DIR *d;

	if (depth > 64)
		return -ELOOP;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return pr_perror("cannot open %s", path);
	while (!r && fscanf(f, "%d", &pid) == 1)
		r = add_pid(pids, nr, cap, pid);
	fclose(f);
	d = opendir(dir);
	if (!d)
		return r ? r : pr_perror("cannot open %s", dir);
	while (!r && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		r = list_procs(path, pids, nr, cap, depth + 1);
	}
	closedir(d);
	return r;
}

int fcg_procs(const char *dir, pid_t **pids, int *nr)
{
	int cap = 0, r;

	*pids = NULL;
	*nr = 0;
	r = list_procs(dir, pids, nr, &cap, 0);
	if (r) {
		free(*pids);
		*pids = NULL;
		*nr = 0;
	}
	return r;
}

static bool is_frozen(const char *dir, int v2)
{
	char buf[512];

	if (read_attr(dir, v2 ? "cgroup.events" : "freezer.state", buf, sizeof(buf)))
		return false;
	return v2 ? !!strstr(buf, "frozen 1") : !strncmp(buf, "FROZEN", 6);
}

/* v2 notifies cgroup.events changes as POLLPRI; v1 has no notification,
 * and may need FROZEN written again to make progress. */
static void wait_a_little(const char *dir, int v2)
{
	char path[1024];
	struct pollfd pfd;

	if (!v2) {
		usleep(1000);
		write_attr(dir, "freezer.state", "FROZEN");
		return;
	}
	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	pfd.fd = open(path, O_RDONLY | O_CLOEXEC);
	pfd.events = POLLPRI;
	if (pfd.fd < 0) {
		usleep(1000);
		return;
	}
	poll(&pfd, 1, 10);
	close(pfd.fd);
}

int fcg_frozen_before(const char *dir, int v2)
{
	char buf[64];

	if (v2)
		return !read_attr(dir, "cgroup.freeze", buf, sizeof(buf)) && buf[0] == '1';
	return is_frozen(dir, v2);
}

int fcg_freeze(const char *dir, int v2, int *was_frozen)
{
	long deadline = mono_ms() + FREEZE_TIMEOUT_MS;
	int r;

	*was_frozen = fcg_frozen_before(dir, v2);
	r = write_attr(dir, v2 ? "cgroup.freeze" : "freezer.state", v2 ? "1" : "FROZEN");
	if (r)
		return r;
	while (!is_frozen(dir, v2)) {
		if (mono_ms() > deadline) {
			pr_err("cgroup %s did not freeze within %d ms (a task in uninterruptible sleep?)",
			       dir, FREEZE_TIMEOUT_MS);
			if (!*was_frozen)
				fcg_thaw(dir, v2);
			return -ETIMEDOUT;
		}
		wait_a_little(dir, v2);
	}
	pr_debug("cgroup %s frozen (v%d)", dir, v2 ? 2 : 1);
	return 0;
}

int fcg_thaw(const char *dir, int v2)
{
	return write_attr(dir, v2 ? "cgroup.freeze" : "freezer.state", v2 ? "0" : "THAWED");
}
